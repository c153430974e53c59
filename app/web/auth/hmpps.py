"""The OAuth2 authorisation-code flow with PKCE against HMPPS Auth, through Authlib's Flask client.

Authlib keeps each sign-in's `state`, PKCE verifier and redirect URI in the session until the callback, checks
the `state` that comes back, and exchanges the code at ``{HMPPS_AUTH_URL}/oauth/token`` (HTTP Basic with the
client id and secret). We then verify the access token (signature and expiry, app.integrations.hmpps_auth),
check it was issued to us, and read the person's name from ``/api/user/me``. Any refusal is a SignInRefused."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import requests
from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app, session

from app.integrations.hmpps_auth import (
    AUTHORIZE_PATH,
    SIGN_OUT_PATH,
    TOKEN_PATH,
    USER_ME_PATH,
    AuthUnavailable,
    TokenExpired,
    TokenInvalid,
    token_verifier,
)
from app.services.sign_in import refuse

CLIENT = "hmpps_auth"
TIMEOUT = (3.05, 10)
OAUTH_ERRORS = {"invalid_grant": "code", "invalid_client": "client", "unauthorized_client": "client",
                "access_denied": "denied"}


def init_app(app: Flask) -> None:
    oauth = OAuth(app)
    config = app.config
    oauth.register(
        CLIENT,
        client_id=config["HMPPS_AUTH_CLIENT_ID"],
        client_secret=config["HMPPS_AUTH_CLIENT_SECRET"],
        authorize_url=config["HMPPS_AUTH_EXTERNAL_URL"].rstrip("/") + AUTHORIZE_PATH,
        access_token_url=config["HMPPS_AUTH_URL"].rstrip("/") + TOKEN_PATH,
        client_kwargs={"code_challenge_method": "S256", "token_endpoint_auth_method": "client_secret_basic",
                       "default_timeout": TIMEOUT},
    )


def _client() -> Any:
    return current_app.extensions["authlib.integrations.flask_client"].create_client(CLIENT)


def authorize_redirect(redirect_uri: str) -> Any:
    """The redirect to HMPPS Auth's sign-in, with a fresh `state` and PKCE challenge kept in the session. Only the
    two newest unfinished sign-ins are kept (two tabs), so pressing Sign in again and again cannot grow the
    session cookie past what a browser keeps."""
    pending = sorted((k for k in session if k.startswith(f"_state_{CLIENT}_")),
                     key=lambda k: session[k].get("exp", 0) if isinstance(session[k], dict) else 0)
    for key in pending[:-1]:
        session.pop(key)
    return _client().authorize_redirect(redirect_uri)


def finish() -> tuple[dict[str, Any], str | None]:
    """At the callback: the verified claims of the access token and the person's name."""
    client = _client()
    try:
        token = client.authorize_access_token()
    except MismatchingStateError as exc:
        raise refuse("state") from exc
    except OAuthError as exc:
        raise refuse(OAUTH_ERRORS.get(exc.error, "client"), f"{exc.error}: {exc.description}") from exc
    except requests.RequestException as exc:
        raise refuse("unreachable", type(exc).__name__) from exc
    try:
        claims = token_verifier().verify(str(token.get("access_token") or ""))
    except TokenExpired as exc:
        raise refuse("expired") from exc
    except TokenInvalid as exc:
        raise refuse("invalid", str(exc)) from exc
    except AuthUnavailable as exc:
        raise refuse("unreachable", str(exc)) from exc
    if claims.get("client_id") != current_app.config["HMPPS_AUTH_CLIENT_ID"] or not claims.get("user_name"):
        raise refuse("invalid", "the token was not issued to this service for a person")
    try:
        me = requests.get(current_app.config["HMPPS_AUTH_URL"].rstrip("/") + USER_ME_PATH, timeout=TIMEOUT,
                          headers={"Authorization": f"Bearer {token['access_token']}", "Accept": "application/json"})
    except requests.RequestException as exc:
        raise refuse("unreachable", type(exc).__name__) from exc
    if me.status_code == 401:
        raise refuse("invalid", "/api/user/me refused the token")
    if me.status_code != 200:
        raise refuse("unreachable", f"/api/user/me answered {me.status_code}")
    profile = me.json()
    if profile.get("active") is False:
        raise refuse("inactive")
    return claims, profile.get("name")


def sign_out_url(return_to: str) -> str:
    """HMPPS Auth's sign-out, which ends its own session and sends the browser back to `return_to`."""
    query = urlencode({"client_id": current_app.config["HMPPS_AUTH_CLIENT_ID"], "redirect_uri": return_to})
    return current_app.config["HMPPS_AUTH_EXTERNAL_URL"].rstrip("/") + SIGN_OUT_PATH + "?" + query
