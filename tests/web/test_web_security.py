"""RELIABILITY §C: CSRF, referrer check, no state change on GET, session cookie, size limit, error pages,
audit trail protection, security logging."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from app.extensions import db
from app.web.permissions import MATRIX
from tests.conftest import Browser
from tests.web.regions import build_region, fill


def _fingerprint():  # type: ignore[no-untyped-def]
    return tuple(db.session.execute(select(func.count()).select_from(t)).scalar()
                 for t in db.metadata.sorted_tables)


@pytest.fixture
def signed_in(app, world):  # type: ignore[no-untyped-def]
    _users, ids = build_region(world, "NW", "North")
    person = Browser(app, app.test_client())
    person.sign_in("treatment_manager.nw")
    return person, ids


def test_every_unsafe_route_refuses_a_post_without_a_csrf_token(app, signed_in):  # type: ignore[no-untyped-def]
    person, ids = signed_in
    before = _fingerprint()
    problems = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods:
            continue
        url = fill(rule, ids)
        for htmx in (False, True):
            response = person.post(url, {"outcome": "ATTC"}, htmx=htmx, csrf=False)
            # the register answers a refused tap with its row, saying the page expired (nothing saved)
            if response.status_code != 400 or not (b"CSRF" in response.data or b"expired" in response.data):
                problems.append(f"{url} htmx={htmx}: {response.status_code}")
    assert problems == []
    assert _fingerprint() == before


def test_the_csrf_header_is_accepted_for_htmx_requests(app, signed_in):  # type: ignore[no-untyped-def]
    person, ids = signed_in
    refused = []
    for endpoint, allowed in MATRIX.items():
        rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
        if "POST" in rule.methods and "treatment_manager" in allowed:
            response = person.post(fill(rule, ids), {}, htmx=True)
            if b"CSRF" in response.data:
                refused.append(endpoint)
    assert refused == []


def _sign_in_over_https(client, username):  # type: ignore[no-untyped-def]
    start = client.get("/login/hmpps-auth", base_url="https://pd.example")
    back = Browser.approve_at_auth(start.headers["Location"], username).headers["Location"]
    assert back.startswith("https://pd.example/login/callback?")
    response = client.get(back.removeprefix("https://pd.example"), base_url="https://pd.example")
    assert response.status_code == 302
    return response


def test_over_https_a_foreign_referer_is_refused(app, world):  # type: ignore[no-untyped-def]
    import re

    region = world.region()
    world.user(region, "treatment_manager", "tm.nw")
    client = app.test_client()
    _sign_in_over_https(client, "tm.nw")
    page = client.get("/groups", base_url="https://pd.example")
    form = {"csrf_token": re.search(rb'name="csrf-token" content="([^"]+)"', page.data).group(1).decode()}
    foreign = client.post("/keep-alive", data=form, base_url="https://pd.example",
                          headers={"Referer": "https://evil.example/x"})
    assert foreign.status_code == 400
    missing = client.post("/keep-alive", data=form, base_url="https://pd.example")
    assert missing.status_code == 400
    same = client.post("/keep-alive", data=form, base_url="https://pd.example",
                       headers={"Referer": "https://pd.example/groups"})
    assert same.status_code == 204


def test_no_get_changes_anything(app, signed_in):  # type: ignore[no-untyped-def]
    person, ids = signed_in
    before = _fingerprint()
    for endpoint, allowed in MATRIX.items():
        rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
        if "GET" in rule.methods and "treatment_manager" in allowed:
            person.get(fill(rule, ids))
            person.get(fill(rule, ids), htmx=True)
    assert _fingerprint() == before


def test_the_secure_session_cookie_is_host_only_and_renewed_at_sign_in(app, world):  # type: ignore[no-untyped-def]
    from app import create_app

    region = world.region()
    world.user(region, "treatment_manager", "tm.nw")
    secure = create_app({**{k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "RQ_QUEUE")},
                         "TESTING": True, "SESSION_COOKIE_SECURE": True, "SESSION_COOKIE_NAME": "__Host-session"})
    client = secure.test_client()
    client.get("/login", base_url="https://pd.example")
    before = client.get_cookie("__Host-session", domain="pd.example")
    response = _sign_in_over_https(client, "tm.nw")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-session=")
    for attribute in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert attribute in cookie
    assert "Domain=" not in cookie
    after = client.get_cookie("__Host-session", domain="pd.example")
    assert before is None or before.value != after.value
    assert "max-age=31536000" in response.headers["Strict-Transport-Security"]


def test_sign_out_clears_browser_storage(browser, world):  # type: ignore[no-untyped-def]
    world.user(world.region(), "lead", "lead.nw")
    browser.sign_in("lead.nw")
    assert browser.post("/logout").headers["Clear-Site-Data"] == '"storage"'


def test_no_url_carries_a_crn_or_a_name(app):  # type: ignore[no-untyped-def]
    for rule in app.url_map.iter_rules():
        assert "crn" not in rule.rule.lower() and "name" not in rule.arguments


def test_a_huge_request_is_refused(browser, world):  # type: ignore[no-untyped-def]
    world.user(world.region(), "treatment_manager", "tm.nw")
    browser.sign_in("tm.nw")
    response = browser.post("/groups/new", {"code": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 413


def test_an_unexpected_error_shows_a_plain_page_and_logs_the_request_id(app, caplog):  # type: ignore[no-untyped-def]
    from app import create_app

    broken = create_app({k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "RQ_QUEUE")})
    broken.add_url_rule("/__boom", "boom", lambda: 1 / 0)
    with caplog.at_level(logging.ERROR):
        response = broken.test_client().get("/__boom")
    assert response.status_code == 500
    assert b"Traceback" not in response.data and b"ZeroDivisionError" not in response.data
    assert b"Sorry, there is a problem with the service" in response.data
    assert response.headers["X-Request-Id"].encode() in response.data
    assert any("ZeroDivisionError" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_refused_requests_are_logged_as_security_events(browser, world, caplog):  # type: ignore[no-untyped-def]
    world.user(world.region(), "facilitator", "fac.nw")
    browser.sign_in("fac.nw")
    with caplog.at_level(logging.WARNING, logger="app.security"):
        assert browser.get("/groups/new").status_code == 403
    assert any(getattr(r, "event", None) == "authz_denied" for r in caplog.records)


def test_the_application_cannot_rewrite_the_audit_trail_on_postgresql(app, world):  # type: ignore[no-untyped-def]
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the trigger exists on PostgreSQL only")
    world.group(world.user(world.region(), "treatment_manager"))
    with pytest.raises(DBAPIError):
        db.session.execute(text("UPDATE audit_event SET action = 'nothing'"))
    db.session.rollback()
    with pytest.raises(DBAPIError):
        db.session.execute(text("DELETE FROM audit_event"))
    db.session.rollback()
