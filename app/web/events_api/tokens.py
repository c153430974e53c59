"""Who is calling our detailUrl endpoints: an HMPPS Auth client-credentials bearer token and its roles.

One small interface, ``bearer_roles(token) -> set of roles | None`` (None: not a valid token). When the
service's HMPPS Auth token verification (JWKS) is present as ``app.web.auth.tokens.verify_bearer`` it is used;
until then the tokens listed in ``DETAIL_API_TOKENS`` ("token=ROLE_A|ROLE_B,...") are accepted.
"""
from __future__ import annotations

import hmac
import importlib
from collections.abc import Callable

from flask import current_app


def _hmpps_auth_verifier() -> Callable[[str], object] | None:
    try:
        module = importlib.import_module("app.web.auth.tokens")
    except ModuleNotFoundError:
        return None
    return getattr(module, "verify_bearer", None)


def _configured_roles(token: str) -> set[str] | None:
    for entry in (current_app.config.get("DETAIL_API_TOKENS") or "").split(","):
        known, _, roles = entry.strip().partition("=")
        if known and hmac.compare_digest(known.encode(), token.encode()):
            return {r for r in roles.split("|") if r}
    return None


def bearer_roles(token: str) -> set[str] | None:
    verify = _hmpps_auth_verifier()
    if verify is not None:
        principal = verify(token)
        if principal is None:
            return _configured_roles(token)
        roles = principal.get("roles") if isinstance(principal, dict) else getattr(principal, "roles", None)
        return set(roles or ())
    return _configured_roles(token)
