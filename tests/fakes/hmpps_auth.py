"""A fake HMPPS Auth (HMPPS.md §8) over real HTTP: the OAuth2 authorisation-code flow with PKCE, client
credentials, RS256-signed JWTs and a sign-in page listing its users.

Run it:      python -m tests.fakes.hmpps_auth --port 9092
Import it:   fake = start_fake_hmpps_auth(); ...; fake.stop()

Endpoints (the paths of the real service under its base URL):
  GET  /oauth/authorize      ?response_type=code&client_id&redirect_uri&state&code_challenge
                             &code_challenge_method=S256 (PKCE is required): the sign-in page listing the users,
                             or straight back with a code when this browser is already signed in here
  POST /oauth/authorize      the same query, form ``username``: signs in as that user, 302 to
                             ``redirect_uri?code=…&state=…``
  POST /oauth/token          grant_type=authorization_code (code, redirect_uri, code_verifier) or
                             client_credentials; the client by HTTP Basic (or client_id/client_secret in the form)
  GET  /.well-known/jwks.json  the public key
  GET  /api/user/me          Bearer user token: {"username", "name", "active", "authSource", "userId", "uuid"}
  GET  /sign-out             ?client_id&redirect_uri: ends this browser's session here, 302 to redirect_uri
  GET  /health               {"status": "UP"}
Control (no auth):
  POST /__users {"users": [{"username", "name", "authorities", "auth_source"?, "enabled"?}]}  (add or replace)
  POST /__clients {"clients": [{"client_id", "client_secret", "grant_types", "authorities"?}]}
  POST /__control {switch: value}   POST /__reset (users, sessions, codes, switches; clients kept)   GET /__state

Access tokens carry ``sub``, ``user_name`` (user tokens), ``auth_source`` (``delius``; ``none`` for clients),
``authorities``, ``client_id``, ``scope``, ``iss`` (``{base}/issuer``), ``iat``, ``exp`` and ``jti``.
Refusals, as the real service answers them: an unknown client or a wrong secret is 401 ``invalid_client``; an
unknown, expired, already-used or PKCE-mismatched code is 400 ``invalid_grant`` (a replayed code also revokes
what was issued with it, so /api/user/me answers 401 for those tokens); a bad authorise request (unknown client,
no redirect_uri, no PKCE) is a 400 page, never a redirect.

Switches: token_expires_in (s, user tokens; negative issues tokens already expired), client_token_expires_in (s),
code_expires_in (s), tamper_next (the next N tokens get a payload changed after signing: a bad signature).
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import html
import json
import secrets
import signal
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

SIGN_IN_CLIENT = ("programme-delivery-ui", "local-ui-secret")
SYSTEM_CLIENT = ("programme-delivery", "local-secret")
SYSTEM_AUTHORITIES = ["ROLE_ACCREDITED_PROGRAMMES_MANAGE_AND_DELIVER_API"]
SESSION_COOKIE = "fake_hmpps_auth_session"
DEFAULTS: dict[str, Any] = {"token_expires_in": 1200, "client_token_expires_in": 1200, "code_expires_in": 600,
                            "tamper_next": 0}


class Reply:
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None,
                 content_type: str = "application/json") -> None:
        self.status, self.body, self.headers, self.content_type = status, body, dict(headers or {}), content_type


def _oauth_error(status: int, error: str, description: str) -> Reply:
    return Reply(status, {"error": error, "error_description": description})


class FakeHmppsAuth:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.lock = threading.RLock()
        self.key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8), "use": "sig", "alg": "RS256"})
        self.users: dict[str, dict[str, Any]] = {}
        self.clients: dict[str, dict[str, Any]] = {}
        self.add_client(*SIGN_IN_CLIENT, grant_types=["authorization_code"])
        self.add_client(*SYSTEM_CLIENT, grant_types=["client_credentials"], authorities=SYSTEM_AUTHORITIES)
        self.codes: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, str] = {}  # this fake's own browser sessions: cookie value -> username
        self.revoked: set[str] = set()  # jti
        self.switches: dict[str, Any] = copy.deepcopy(DEFAULTS)
        self.calls: list[dict[str, Any]] = []
        self.server = ThreadingHTTPServer((host, port), _Handler)
        self.server.daemon_threads = True
        self.server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-hmpps-auth", daemon=True)

    # lifecycle and control ------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeHmppsAuth:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_user(self, username: str, name: str, authorities: list[str], *, auth_source: str = "delius",
                 enabled: bool = True) -> None:
        with self.lock:
            self.users[username.lower()] = {"username": username.lower(), "name": name,
                                            "authorities": list(authorities), "auth_source": auth_source,
                                            "enabled": bool(enabled), "user_id": str(uuid.uuid4())}

    def add_client(self, client_id: str, client_secret: str, *, grant_types: list[str],
                   authorities: list[str] | None = None) -> None:
        with self.lock:
            self.clients[client_id] = {"secret": client_secret, "grant_types": list(grant_types),
                                       "authorities": list(authorities or [])}

    def set(self, **switches: Any) -> None:
        with self.lock:
            for name, value in switches.items():
                if name not in DEFAULTS:
                    raise ValueError(f"unknown switch {name!r}; known: {', '.join(sorted(DEFAULTS))}")
                self.switches[name] = int(value)

    def reset(self) -> None:
        with self.lock:
            self.users.clear()
            self.codes.clear()
            self.sessions.clear()
            self.revoked.clear()
            self.calls.clear()
            self.switches = copy.deepcopy(DEFAULTS)

    def state(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy({"users": self.users, "clients": sorted(self.clients), "switches": self.switches,
                                  "signed_in": sorted(self.sessions.values()), "calls": self.calls})

    def issue(self, claims: dict[str, Any], expires_in: int) -> str:
        """A signed access token with these claims (the standard ones added); tampered if the switch says so."""
        now = int(time.time())
        body = {"iss": f"{self.url}/issuer", "iat": now, "exp": now + expires_in, "jti": secrets.token_hex(12),
                **claims}
        token = jwt.encode({"alg": "RS256", "kid": self.key.kid, "typ": "JWT"}, body, self.key)
        with self.lock:
            tamper = self.switches["tamper_next"] > 0
            if tamper:
                self.switches["tamper_next"] -= 1
        if tamper:  # same signature over a different payload: what a forged token looks like
            header, _, signature = token.split(".")
            forged = {**body, "authorities": [*body.get("authorities", []),
                                              "ROLE_ACCREDITED_PROGRAMMES_MANAGE_AND_DELIVER_ADMIN"]}
            payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
            token = f"{header}.{payload}.{signature}"
        return token

    # HTTP ---------------------------------------------------------------------------------------------------
    def _dispatch(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        path = split.path.rstrip("/") or "/"
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length > 0 else b""
        method = handler.command
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        if not path.startswith("/__"):
            with self.lock:
                self.calls.append({"method": method, "path": path, "at": time.time()})
                del self.calls[:-1000]
        try:
            reply = self._route(method, path, query, form, raw, handler.headers)
        except Exception as exc:  # noqa: BLE001 - a bug in the fake must be an answer, not a dropped connection
            reply = _oauth_error(500, "server_error", f"fake HMPPS Auth error: {type(exc).__name__}: {exc}")
        _send(handler, reply)

    def _route(self, method: str, path: str, query: dict[str, str], form: dict[str, str], raw: bytes,
               headers: Any) -> Reply:
        if path == "/oauth/authorize" and method in ("GET", "POST"):
            return self._authorize(method, query, form, headers)
        if (method, path) == ("POST", "/oauth/token"):
            return self._token(form, headers)
        if (method, path) == ("GET", "/.well-known/jwks.json"):
            return Reply(200, KeySet([self.key]).as_dict(private=False))
        if (method, path) == ("GET", "/api/user/me"):
            return self._user_me(headers)
        if (method, path) == ("GET", "/sign-out"):
            return self._sign_out(query, headers)
        if (method, path) == ("GET", "/health"):
            return Reply(200, {"status": "UP"})
        if path.startswith("/__"):
            return self._control(method, path, raw)
        return _oauth_error(404, "not_found", f"No endpoint {method} {path}")

    def _control(self, method: str, path: str, raw: bytes) -> Reply:
        try:
            body = json.loads(raw) if raw else {}
            if (method, path) == ("POST", "/__users"):
                for user in body.get("users", []):
                    self.add_user(user["username"], user.get("name") or user["username"], user["authorities"],
                                  auth_source=user.get("auth_source", "delius"), enabled=user.get("enabled", True))
                return Reply(200, {"users": len(self.users)})
            if (method, path) == ("POST", "/__clients"):
                for client in body.get("clients", []):
                    self.add_client(client["client_id"], client["client_secret"],
                                    grant_types=client["grant_types"], authorities=client.get("authorities"))
                return Reply(200, {"clients": sorted(self.clients)})
            if (method, path) == ("POST", "/__control"):
                self.set(**body)
                return Reply(200, {"switches": self.switches})
            if (method, path) == ("POST", "/__reset"):
                self.reset()
                return Reply(200, {"reset": True})
            if (method, path) == ("GET", "/__state"):
                return Reply(200, self.state())
        except (ValueError, TypeError, KeyError) as exc:
            return _oauth_error(400, "invalid_request", str(exc))
        return _oauth_error(404, "not_found", f"No control endpoint {method} {path}")

    # authorise: the sign-in page ------------------------------------------------------------------------------
    def _authorize(self, method: str, query: dict[str, str], form: dict[str, str], headers: Any) -> Reply:
        client = self.clients.get(query.get("client_id", ""))
        redirect_uri = query.get("redirect_uri", "")
        if client is None or "authorization_code" not in client["grant_types"]:
            return _page(400, "Unknown client", "<p>This service is not registered with HMPPS Auth.</p>")
        if not redirect_uri.startswith(("http://", "https://")):
            return _page(400, "Bad request", "<p>The redirect_uri is missing or not an absolute URL.</p>")
        if query.get("response_type") != "code":
            return _back(redirect_uri, error="unsupported_response_type", state=query.get("state"))
        if not query.get("code_challenge") or query.get("code_challenge_method") != "S256":
            return _page(400, "Bad request", "<p>PKCE is required: code_challenge with code_challenge_method=S256.</p>")
        cookie = _cookie(headers, SESSION_COOKIE)
        if method == "GET":
            with self.lock:
                signed_in = self.sessions.get(cookie or "")
            if signed_in and self.users.get(signed_in, {}).get("enabled"):
                return self._approve(signed_in, query, None)
            return self._sign_in_page(query)
        username = form.get("username", "").strip().lower()
        user = self.users.get(username)
        if user is None:
            return self._sign_in_page(query, status=400, problem=f"There is no user called {username!r} here.")
        if not user["enabled"]:
            return self._sign_in_page(query, status=403, problem=f"The account {username} is disabled.")
        session_id = secrets.token_urlsafe(16)
        with self.lock:
            self.sessions[session_id] = username
        return self._approve(username, query, session_id)

    def _approve(self, username: str, query: dict[str, str], session_id: str | None) -> Reply:
        code = secrets.token_urlsafe(18)
        with self.lock:
            self.codes[code] = {"client_id": query["client_id"], "redirect_uri": query["redirect_uri"],
                                "challenge": query["code_challenge"], "username": username, "used": False,
                                "expires_at": time.time() + self.switches["code_expires_in"], "jtis": []}
        reply = _back(query["redirect_uri"], code=code, state=query.get("state"))
        if session_id:
            reply.headers["Set-Cookie"] = f"{SESSION_COOKIE}={session_id}; Path=/; HttpOnly; SameSite=Lax"
        return reply

    def _sign_in_page(self, query: dict[str, str], *, status: int = 200, problem: str | None = None) -> Reply:
        action = "/oauth/authorize?" + urlencode(query)
        rows = []
        for user in sorted(self.users.values(), key=lambda u: u["username"]):
            roles = ", ".join(a.removeprefix("ROLE_") for a in user["authorities"]) or "no roles"
            state = "" if user["enabled"] else " (disabled)"
            rows.append(
                f"<tr><td>{html.escape(user['username'])}</td><td>{html.escape(user['name'])}{state}</td>"
                f"<td>{html.escape(roles)}</td><td><button type=\"submit\" name=\"username\" "
                f"value=\"{html.escape(user['username'])}\">Sign in as {html.escape(user['username'])}</button></td></tr>")
        error = f'<p class="error" role="alert">{html.escape(problem)}</p>' if problem else ""
        body = (f"<p>A stand-in for HMPPS Auth on this machine: no passwords. Choose who to sign in as.</p>{error}"
                f'<form method="post" action="{html.escape(action)}"><table><caption>Users</caption>'
                "<thead><tr><th scope=\"col\">Username</th><th scope=\"col\">Name</th><th scope=\"col\">Roles</th>"
                f"<th scope=\"col\"><span class=\"hidden\">Action</span></th></tr></thead><tbody>{''.join(rows)}"
                "</tbody></table></form>")
        return _page(status, "Sign in to HMPPS Auth", body)

    # tokens ---------------------------------------------------------------------------------------------------
    def _client(self, form: dict[str, str], headers: Any) -> tuple[str, dict[str, Any]] | None:
        credentials = _basic(headers.get("Authorization")) or (form.get("client_id", ""), form.get("client_secret"))
        client = self.clients.get(credentials[0])
        if client is None or not secrets.compare_digest(str(credentials[1] or ""), client["secret"]):
            return None
        return credentials[0], client

    def _token(self, form: dict[str, str], headers: Any) -> Reply:
        found = self._client(form, headers)
        if found is None:
            return _oauth_error(401, "invalid_client", "Bad client credentials")
        client_id, client = found
        grant = form.get("grant_type")
        if grant not in client["grant_types"]:
            return _oauth_error(400, "unauthorized_client", f"Grant type {grant!r} is not allowed for this client")
        if grant == "client_credentials":
            lifetime = self.switches["client_token_expires_in"]
            token = self.issue({"sub": client_id, "client_id": client_id, "auth_source": "none",
                                "authorities": client["authorities"], "scope": ["read", "write"]}, lifetime)
            return Reply(200, {"access_token": token, "token_type": "bearer", "expires_in": lifetime,
                               "scope": "read write", "sub": client_id, "auth_source": "none"})
        return self._exchange(client_id, form)

    def _exchange(self, client_id: str, form: dict[str, str]) -> Reply:
        with self.lock:
            grant = self.codes.get(form.get("code", ""))
            if grant is None or grant["client_id"] != client_id:
                return _oauth_error(400, "invalid_grant", "Invalid authorization code")
            if grant["used"]:  # a replayed code: refuse, and withdraw what the first use was given
                self.revoked.update(grant["jtis"])
                return _oauth_error(400, "invalid_grant", "Authorization code has already been used")
            grant["used"] = True
        if time.time() > grant["expires_at"]:
            return _oauth_error(400, "invalid_grant", "Authorization code has expired")
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return _oauth_error(400, "invalid_grant", "Redirect URI mismatch")
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if not verifier or not secrets.compare_digest(challenge, grant["challenge"]):
            return _oauth_error(400, "invalid_grant", "PKCE verification failed")
        user = self.users.get(grant["username"])
        if user is None or not user["enabled"]:
            return _oauth_error(400, "invalid_grant", "User account is disabled")
        lifetime = self.switches["token_expires_in"]
        token = self.issue({"sub": user["username"], "user_name": user["username"], "name": user["name"],
                            "auth_source": user["auth_source"], "authorities": user["authorities"],
                            "client_id": client_id, "scope": ["read"], "user_id": user["user_id"]}, lifetime)
        with self.lock:
            grant["jtis"].append(_unverified_claims(token).get("jti"))
        return Reply(200, {"access_token": token, "token_type": "bearer", "expires_in": lifetime, "scope": "read",
                           "sub": user["username"], "auth_source": user["auth_source"]})

    def _user_me(self, headers: Any) -> Reply:
        value = headers.get("Authorization") or ""
        try:
            token = jwt.decode(value.removeprefix("Bearer ").strip(), KeySet([self.key]), algorithms=["RS256"])
            jwt.JWTClaimsRegistry(exp={"essential": True}).validate(token.claims)
        except Exception:  # noqa: BLE001 - any bad token is a 401, as in the real service
            return Reply(401, {"error": "invalid_token", "error_description": "Access token is not valid"},
                         {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        claims = token.claims
        user = self.users.get(str(claims.get("user_name", "")))
        if user is None or claims.get("jti") in self.revoked:
            return Reply(401, {"error": "invalid_token", "error_description": "Access token has been revoked"},
                         {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return Reply(200, {"username": user["username"].upper(), "active": user["enabled"], "name": user["name"],
                           "authSource": user["auth_source"], "userId": user["user_id"], "uuid": user["user_id"]})

    def _sign_out(self, query: dict[str, str], headers: Any) -> Reply:
        cookie = _cookie(headers, SESSION_COOKIE)
        with self.lock:
            self.sessions.pop(cookie or "", None)
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") not in self.clients or not redirect_uri.startswith(("http://", "https://")):
            return _page(200, "You have signed out", "<p>You have signed out of HMPPS Auth.</p>",
                         {"Set-Cookie": f"{SESSION_COOKIE}=; Path=/; Max-Age=0"})
        return Reply(302, None, {"Location": redirect_uri, "Set-Cookie": f"{SESSION_COOKIE}=; Path=/; Max-Age=0"})


# helpers ----------------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeHmppsAuth/1.0"
    protocol_version = "HTTP/1.1"  # keep-alive: ~800 sign-ins a test run share a few connections
    disable_nagle_algorithm = True  # headers and body go out at once (else a kept-alive answer waits ~40 ms)

    def _handle(self) -> None:
        self.server.fake._dispatch(self)  # type: ignore[attr-defined]

    do_GET = do_POST = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
    if reply.body is None:
        payload = b""
    elif reply.content_type == "application/json":
        payload = json.dumps(reply.body).encode()
    else:
        payload = str(reply.body).encode()
    try:
        handler.send_response(reply.status)
        if payload:
            handler.send_header("Content-Type", reply.content_type)
        handler.send_header("Content-Length", str(len(payload)))
        handler.send_header("Cache-Control", "no-store")
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass


_STYLE = ("body{font-family:arial,sans-serif;margin:2rem;color:#0b0c0c}table{border-collapse:collapse}"
          "th,td{border-bottom:1px solid #b1b4b6;padding:.5rem 1rem .5rem 0;text-align:left}"
          "button{font-size:1rem;padding:.4rem .8rem;background:#00703c;color:#fff;border:0;cursor:pointer}"
          ".error{color:#d4351c;font-weight:bold}.hidden{position:absolute;left:-9999px}"
          "header{background:#0b0c0c;color:#fff;padding:1rem;margin:-2rem -2rem 2rem}")


def _page(status: int, title: str, body: str, headers: dict[str, str] | None = None) -> Reply:
    document = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} – HMPPS '
                f"Auth (fake)</title><style>{_STYLE}</style></head><body><header>HMPPS Auth (fake, local)</header>"
                f"<main><h1>{html.escape(title)}</h1>{body}</main></body></html>")
    return Reply(status, document, headers, content_type="text/html; charset=utf-8")


def _back(redirect_uri: str, **params: str | None) -> Reply:
    joiner = "&" if "?" in redirect_uri else "?"
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return Reply(302, None, {"Location": f"{redirect_uri}{joiner}{query}"})


def _cookie(headers: Any, name: str) -> str | None:
    for part in (headers.get("Cookie") or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    from urllib.parse import unquote

    return unquote(user), unquote(password)


def _unverified_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def start_fake_hmpps_auth(port: int = 0, host: str = "127.0.0.1") -> FakeHmppsAuth:
    """Start the fake on a background thread (``port=0`` picks a free port); ``.stop()`` ends it."""
    return FakeHmppsAuth(host, port).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake HMPPS Auth")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9092)
    args = parser.parse_args(argv)
    fake = start_fake_hmpps_auth(args.port, args.host)
    print(f"fake HMPPS Auth listening on {fake.url}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(1):
            pass
    except KeyboardInterrupt:
        pass
    fake.stop()


if __name__ == "__main__":
    main()
