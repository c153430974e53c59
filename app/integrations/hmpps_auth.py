"""HMPPS Auth (HMPPS.md §8): verifying its access tokens (RS256 JWTs, checked against its JWKS) and the
service's own client-credentials token for calling other HMPPS APIs.

    claims = token_verifier().verify(raw_token)        # raises TokenExpired / TokenInvalid
    has_any_authority(claims, "ROLE_X", "ROLE_Y")

Everything is under the auth *base* URL (``HMPPS_AUTH_URL``): ``/oauth/token``, ``/.well-known/jwks.json``,
``/api/user/me``. Token lifetimes are real (UTC) time, not the service clock.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from flask import current_app
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import KeySet

JWKS_PATH = "/.well-known/jwks.json"
TOKEN_PATH = "/oauth/token"
AUTHORIZE_PATH = "/oauth/authorize"
USER_ME_PATH = "/api/user/me"
SIGN_OUT_PATH = "/sign-out"
JWKS_REFRESH_SECONDS = 60  # a token signed with a key we do not know refetches the keys at most this often
LEEWAY_SECONDS = 5


class TokenError(Exception):
    """A token we must not accept; ``str()`` says why in words a person can act on."""


class TokenExpired(TokenError):
    pass


class TokenInvalid(TokenError):
    pass


class AuthUnavailable(Exception):
    """HMPPS Auth could not be reached or answered with an error."""


class TokenVerifier:
    """Checks the signature (RS256, a key from the JWKS) and the expiry of HMPPS Auth access tokens."""

    def __init__(self, base_url: str, *, timeout: tuple[float, float] = (3.05, 10),
                 clock: Callable[[], float] = time.time) -> None:
        self.jwks_url = base_url.rstrip("/") + JWKS_PATH
        self.timeout, self.clock = timeout, clock
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()
        self._http = requests.Session()

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or TokenExpired / TokenInvalid. AuthUnavailable if the keys cannot be fetched."""
        if not token or token.count(".") != 2:
            raise TokenInvalid("The token is not a signed HMPPS Auth token.")
        try:
            decoded = jwt.decode(token, self._key_set(), algorithms=["RS256"])
        except (ValueError, JoseError) as exc:
            if "kid" in str(exc).lower() and self._refresh_allowed():  # a new signing key: fetch the keys again
                try:
                    decoded = jwt.decode(token, self._key_set(refresh=True), algorithms=["RS256"])
                except (ValueError, JoseError) as again:
                    raise TokenInvalid("The token's signature does not verify.") from again
            else:
                raise TokenInvalid("The token's signature does not verify.") from exc
        try:
            jwt.JWTClaimsRegistry(now=int(self.clock()), leeway=LEEWAY_SECONDS,
                                  exp={"essential": True}).validate(decoded.claims)
        except ExpiredTokenError as exc:
            raise TokenExpired("The token has expired.") from exc
        except JoseError as exc:
            raise TokenInvalid(f"The token's claims are not valid ({exc.error}).") from exc
        return dict(decoded.claims)

    def _refresh_allowed(self) -> bool:
        return self.clock() - self._fetched_at > JWKS_REFRESH_SECONDS

    def _key_set(self, refresh: bool = False) -> KeySet:
        with self._lock:
            if self._keys is None or refresh:
                try:
                    response = self._http.get(self.jwks_url, timeout=self.timeout)
                    response.raise_for_status()
                    self._keys = KeySet.import_key_set(response.json())
                except (requests.RequestException, ValueError, JoseError) as exc:
                    raise AuthUnavailable(f"GET {self.jwks_url}: {type(exc).__name__}") from exc
                self._fetched_at = self.clock()
            return self._keys


def has_any_authority(claims: dict[str, Any], *authorities: str) -> bool:
    return bool(set(claims.get("authorities") or []) & set(authorities))


class ServiceToken:
    """The service's own client-credentials token (e.g. for nDelius), fetched from ``{HMPPS_AUTH_URL}/oauth/token``
    with Authlib and fetched again shortly before it expires, or when an API says it is no longer valid."""

    def __init__(self, base_url: str, client_id: str, client_secret: str, *,
                 timeout: tuple[float, float] = (3.05, 10)) -> None:
        self.token_url = base_url.rstrip("/") + TOKEN_PATH
        self.session = OAuth2Session(client_id, client_secret, token_endpoint=self.token_url,
                                     grant_type="client_credentials", token_endpoint_auth_method="client_secret_basic",
                                     leeway=60)
        self.timeout = timeout
        self._lock = threading.Lock()

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        """GET with the bearer token; a 401 fetches a new token and tries once more."""
        for attempt in range(2):
            with self._lock:
                try:
                    if attempt or not self.session.token:
                        self.session.fetch_token(self.token_url, grant_type="client_credentials",
                                                 timeout=self.timeout)
                    else:
                        self.session.ensure_active_token(self.session.token)
                except (requests.RequestException, ValueError) as exc:
                    raise AuthUnavailable(f"POST {self.token_url}: {type(exc).__name__}: {exc}") from exc
                except AuthlibBaseError as exc:  # e.g. invalid_client: HMPPS Auth refused us
                    raise AuthUnavailable(f"POST {self.token_url}: refused ({exc})") from exc
            response = self.session.get(url, timeout=self.timeout, **kwargs)
            if response.status_code != 401:
                return response
        return response


def token_verifier() -> TokenVerifier:
    """One verifier (and its cached keys) per app and auth URL."""
    url = current_app.config["HMPPS_AUTH_URL"]
    cache = current_app.extensions.setdefault("hmpps_auth_verifiers", {})
    if url not in cache:
        cache[url] = TokenVerifier(url)
    return cache[url]


def service_token() -> ServiceToken:
    """The service's client-credentials token for nDelius reads, one per app, auth URL and client."""
    config = current_app.config
    key = (config["HMPPS_AUTH_URL"], config["NDELIUS_CLIENT_ID"], config["NDELIUS_CLIENT_SECRET"])
    cache = current_app.extensions.setdefault("hmpps_auth_service_tokens", {})
    if key not in cache:
        cache[key] = ServiceToken(*key)
    return cache[key]
