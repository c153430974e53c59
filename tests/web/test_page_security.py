"""Every page a signed-in person can reach carries the security headers and no inline script or style."""
from __future__ import annotations

import re

from app.web.permissions import MATRIX
from tests.conftest import Browser
from tests.web.regions import build_region, fill

INLINE_HANDLER = re.compile(rb"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(rb"<[^>]+\sstyle\s*=", re.IGNORECASE)
SCRIPT_TAG = re.compile(rb"<script\b([^>]*)>", re.IGNORECASE)


def _check(url, response, problems):  # type: ignore[no-untyped-def]
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    nonce = re.search(r"'nonce-([^']+)'", csp)
    if not nonce or "unsafe-inline" in csp or "unsafe-eval" in csp or "frame-ancestors 'none'" not in csp:
        problems.append(f"{url}: CSP {csp!r}")
    for name, value in (("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-store"),
                        ("Referrer-Policy", "strict-origin-when-cross-origin")):
        if headers.get(name) != value:
            problems.append(f"{url}: {name}={headers.get(name)!r}")
    body = response.data
    for attrs in SCRIPT_TAG.findall(body):
        if nonce and f'nonce="{nonce.group(1)}"'.encode() not in attrs:
            problems.append(f"{url}: script without the nonce {attrs[:80]!r}")
        if b"src=" not in attrs:
            problems.append(f"{url}: inline script")
    if STYLE_ATTRIBUTE.search(body):
        problems.append(f"{url}: style attribute {STYLE_ATTRIBUTE.search(body).group(0)[:80]!r}")
    if INLINE_HANDLER.search(body):
        problems.append(f"{url}: inline event handler")


def test_every_page_has_security_headers_and_no_inline_code(app, world):  # type: ignore[no-untyped-def]
    users, ids = build_region(world, "NW", "North")
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    problems, pages = [], 0
    anonymous = Browser(app, app.test_client())
    _check("/login", anonymous.get("/login"), problems)
    for role in users:
        person = Browser(app, app.test_client())
        person.sign_in(f"{role}.nw")
        for endpoint, allowed in sorted(MATRIX.items()):
            rule = rules[endpoint]
            if role not in allowed or "GET" not in rule.methods:
                continue
            url = fill(rule, ids)
            for htmx in (False, True):
                response = person.get(url, htmx=htmx)
                if response.status_code == 200 and response.mimetype == "text/html":
                    pages += 1
                    _check(url, response, problems)
    assert problems == []
    assert pages > 5


def test_hsts_is_sent_when_cookies_are_secure(app, world):  # type: ignore[no-untyped-def]
    app.config["SESSION_COOKIE_SECURE"] = True
    try:
        response = app.test_client().get("/login")
    finally:
        app.config["SESSION_COOKIE_SECURE"] = False
    assert "max-age=" in response.headers["Strict-Transport-Security"]
