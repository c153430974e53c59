"""Endpoints other services call (e.g. a domain event's `detailUrl`) with an HMPPS Auth client-credentials token:

    from app.web.auth.bearer import bearer_roles

    @bp.route("/api/things/<int:id>")
    @bearer_roles("ROLE_ACCREDITED_PROGRAMMES_MANAGE_AND_DELIVER_API")
    def thing(id): ...            # flask.g.bearer_claims holds the verified claims

No token, a bad signature or an expired token: 401 with `WWW-Authenticate: Bearer error="invalid_token"`; a
valid token without any of the roles: 403. HMPPS Auth out of reach (its keys unknown): 503. Such endpoints are
exempt from CSRF (no cookie is involved) and belong in the authorisation matrix's PUBLIC set."""
from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, g, jsonify, request

from app.extensions import csrf
from app.integrations.hmpps_auth import AuthUnavailable, TokenError, has_any_authority, token_verifier

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("app.security")


def bearer_claims() -> dict[str, Any]:
    """The verified claims of the request's bearer token; TokenError when there is none or it is not valid."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise TokenError("No bearer token.")
    return token_verifier().verify(header.removeprefix("Bearer ").strip())


def refusal(*authorities: str) -> Response | None:
    """The answer refusing this request's bearer token, or None when it is valid and carries one of
    `authorities` (its claims are then in flask.g.bearer_claims)."""
    try:
        claims = bearer_claims()
    except TokenError as exc:
        response = jsonify({"status": 401, "userMessage": str(exc)})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    except AuthUnavailable:
        response = jsonify({"status": 503, "userMessage": "HMPPS Auth could not be reached"})
        response.status_code = 503
        return response
    if not has_any_authority(claims, *authorities):
        log.warning("authorisation denied", extra={"event": "authz_denied", "client_id": claims.get("sub"),
                                                   "path": request.path, "method": request.method})
        response = jsonify({"status": 403, "userMessage": "The token has none of the roles this needs"})
        response.status_code = 403
        return response
    g.bearer_claims = claims
    return None


def bearer_roles(*authorities: str) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            refused = refusal(*authorities)
            return refused if refused is not None else view(*args, **kwargs)

        wrapped.bearer_roles = authorities  # type: ignore[attr-defined]
        return csrf.exempt(wrapped)

    return decorator
