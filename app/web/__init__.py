"""Blueprints: one package per feature (`app/web/<feature>/routes.py` defining `bp`). A route parses,
authorises, calls one service, renders.

A feature joins the service navigation by defining `NAV = [(order, label, endpoint, roles), ...]` in its
routes module."""
from __future__ import annotations

import functools
import importlib
import pkgutil

from flask import Flask, render_template
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import ClientDisconnected, HTTPException

_nav: list[tuple[int, str, str, tuple[str, ...]]] = []


def register_blueprints(app: Flask) -> None:
    package = importlib.import_module(__name__)
    _nav.clear()
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if not info.ispkg:
            continue
        try:
            routes = importlib.import_module(f"{__name__}.{info.name}.routes")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{info.name}.routes":
                continue
            raise
        app.register_blueprint(routes.bp)
        _nav.extend(getattr(routes, "NAV", []))
    _nav.sort()
    _nav_items.cache_clear()
    app.context_processor(navigation)
    _remember_fixed_urls(app)
    _remember_csrf_tokens(app)

    @app.errorhandler(400)
    def bad_request(error: HTTPException) -> ResponseReturnValue:
        return render_template("errors/400.html", reason=error.description), 400

    @app.errorhandler(404)
    def not_found(_e: Exception) -> ResponseReturnValue:
        return render_template("errors/404.html"), 404

    @app.errorhandler(403)
    def forbidden(_e: Exception) -> ResponseReturnValue:
        return render_template("errors/403.html"), 403

    from flask_wtf.csrf import CSRFError

    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError) -> ResponseReturnValue:
        return render_template("errors/csrf.html", reason=error.description), 400

    @app.errorhandler(413)
    def too_large(_e: Exception) -> ResponseReturnValue:
        _drain_request_body()
        return render_template("errors/413.html"), 413

    @app.errorhandler(500)
    def server_error(_e: Exception) -> ResponseReturnValue:
        return render_template("errors/500.html"), 500


DRAIN_AT_MOST = 16 * 1024 * 1024


def _drain_request_body() -> None:
    """Read (and drop) what is left of a refused body before answering, up to 16 MB: a server that closes the
    connection with unread data in it resets it, and the browser shows "connection reset" instead of our page."""
    from flask import request
    from werkzeug.wsgi import LimitedStream

    # A form parser that stopped half-way leaves its stream (which knows how much is left); a body refused by its
    # Content-Length alone has not been touched.
    stream = request.__dict__.get("stream")
    if stream is None:
        stream = LimitedStream(request.environ["wsgi.input"], request.content_length or 0)
    left = DRAIN_AT_MOST
    try:
        while left > 0:
            chunk = stream.read(min(left, 64 * 1024))
            if not chunk:
                break
            left -= len(chunk)
    except (OSError, ClientDisconnected):  # the client went away: nothing to answer
        return


URLS_KEPT = 8192


def _remember_fixed_urls(app: Flask) -> None:
    """Templates build the same URLs again and again (static files, the navigation, links to groups and
    sessions): each is built once per process (per script root, endpoint and values) instead of on every
    request, up to URLS_KEPT of them. A URL with an option (_external, _anchor...), a value that is not a plain
    string or number, or a relative endpoint is built as before."""
    from collections import OrderedDict

    from flask import request

    build = app.jinja_env.globals["url_for"]
    known: OrderedDict[tuple[object, ...], str] = OrderedDict()

    def url_for(endpoint: str, **values: object) -> str:
        if endpoint.startswith(".") or any(name.startswith("_") or type(value) not in (int, str)
                                           for name, value in values.items()):
            return build(endpoint, **values)  # type: ignore[operator]
        key = (request.script_root, endpoint, *sorted(values.items()))
        found = known.get(key)
        if found is None:
            found = known[key] = build(endpoint, **values)  # type: ignore[operator]
            if len(known) > URLS_KEPT:
                known.popitem(last=False)
        return found

    app.jinja_env.globals["url_for"] = url_for
    app.extensions["fixed_urls"] = url_for


CSRF_TOKENS_KEPT = 4096


def _remember_csrf_tokens(app: Flask) -> None:
    """Every page puts the CSRF token in its layout, and Flask-WTF signs it afresh for each request (HMAC and a
    timestamp: about 0.3 ms, a tenth of a small page). Tokens here have no time limit (WTF_CSRF_TIME_LIMIT is
    None: a token lives as long as its session), so the signed form of a session's token is kept per process,
    keyed by that session's own secret token, and reused."""
    from collections import OrderedDict

    from flask import g, session
    from flask_wtf.csrf import generate_csrf

    if app.config.get("WTF_CSRF_TIME_LIMIT") is not None:
        app.extensions["csrf_token"] = generate_csrf
        return  # signed tokens expire: each page signs its own
    signed: OrderedDict[tuple[str, str], str] = OrderedDict()

    def csrf_token() -> str:
        if "csrf_token" in g:
            return str(g.csrf_token)
        raw = session.get("csrf_token")
        key = (str(app.secret_key), raw) if isinstance(raw, str) else None
        token = signed.get(key) if key else None
        if token is None:
            token = generate_csrf()
            key = (str(app.secret_key), session["csrf_token"])
            signed[key] = token
            while len(signed) > CSRF_TOKENS_KEPT:
                signed.popitem(last=False)
        g.csrf_token = token  # what generate_csrf() gives for the rest of the request
        return token

    app.jinja_env.globals["csrf_token"] = app.extensions["csrf_token"] = csrf_token
    app.context_processor(lambda: {"csrf_token": csrf_token})  # after Flask-WTF's own, so this one is used


def navigation() -> dict:
    """The service navigation for the signed-in user's role (worked out once per role and path per process)."""
    from flask import request
    from flask_login import current_user

    user = current_user._get_current_object()
    if not user.is_authenticated:
        return {}
    return {"nav_items": _nav_items(user.role, request.script_root, request.path)}


@functools.lru_cache(maxsize=4096)
def _nav_items(role: str, script_root: str, path: str) -> list[tuple[str, str, bool]]:
    from flask import current_app

    url_for = current_app.extensions["fixed_urls"]
    items = []
    for _order, label, endpoint, roles in _nav:
        if role in roles:
            url = url_for(endpoint)
            items.append((label, url, path == url or path.startswith(url + "/")))
    return items
