"""Signing in through HMPPS Auth (issue 13.1): the authorisation-code flow with PKCE against the fake HMPPS
Auth over HTTP, roles from the token's authorities, the region from nDelius teams, and a clear refusal for each
way it can go wrong."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from app.extensions import db
from app.models import Facilitator, User
from app.models.user import AUTHORITY_PREFIX
from tests.conftest import Browser
from tests.fakes.staff import register_staff


@pytest.fixture
def north(world):  # type: ignore[no-untyped-def]
    region = world.region("NW", "North West")
    return {"region": region, "manager": world.user(region, "treatment_manager", "tm.nw")}


def _auth(app) -> str:  # type: ignore[no-untyped-def]
    return app.config["HMPPS_AUTH_URL"]


def _switch(app, **switches) -> None:  # type: ignore[no-untyped-def]
    requests.post(_auth(app) + "/__control", json=switches, timeout=5).raise_for_status()


def _staff(app, username, **kwargs) -> None:  # type: ignore[no-untyped-def]
    kwargs.setdefault("name", username.title())
    kwargs.setdefault("region_name", "North West")
    register_staff(app.config["HMPPS_AUTH_URL"], app.config["NDELIUS_URL"], username=username, **kwargs)


def _approve(browser, username):  # type: ignore[no-untyped-def]
    """Start a sign-in and approve it at the fake: the URL HMPPS Auth sends the browser back to."""
    start = browser.get("/login/hmpps-auth")
    return Browser.approve_at_auth(start.headers["Location"], username).headers["Location"]


def test_the_sign_in_page_leads_to_hmpps_auth_with_pkce_and_state(browser, north, app):  # type: ignore[no-untyped-def]
    page = browser.get("/login")
    assert page.status_code == 200
    assert b"Sign in with your HMPPS Auth account" in page.data and b'href="/login/hmpps-auth"' in page.data
    assert b"password" not in page.data.lower()
    start = browser.get("/login/hmpps-auth")
    assert start.status_code == 302
    where = urlsplit(start.headers["Location"])
    assert f"{where.scheme}://{where.netloc}{where.path}" == _auth(app) + "/oauth/authorize"
    query = {k: v[0] for k, v in parse_qs(where.query).items()}
    assert query["response_type"] == "code" and query["client_id"] == "programme-delivery-ui"
    assert query["redirect_uri"] == "http://localhost/login/callback"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) >= 43
    assert len(query["state"]) >= 20


def test_the_fake_sign_in_page_lists_its_users(browser, north, app):  # type: ignore[no-untyped-def]
    start = browser.get("/login/hmpps-auth")
    page = requests.get(start.headers["Location"], timeout=5)
    assert page.status_code == 200
    assert "Sign in as tm.nw" in page.text and "ACCREDITED_PROGRAMMES_MANAGE_AND_DELIVER_TREATMENT_MANAGER" in page.text


def test_signing_in_lands_on_the_groups_page_as_that_person(browser, north):  # type: ignore[no-untyped-def]
    response = browser.sign_in("tm.nw")
    assert response.headers["Location"] == "/"
    page = browser.get("/groups")
    assert page.status_code == 200 and b"Sign out" in page.data


def test_someone_new_gets_a_row_with_the_role_from_hmpps_auth_and_the_region_from_ndelius(app, world):  # type: ignore[no-untyped-def]
    world.region("NW", "North West")
    london = world.region("LDN", "London")
    _staff(app, "new.person", name="Nia Newcomer", role="lead", region_code="LDN")
    Browser(app, app.test_client()).sign_in("new.person")
    user = db.session.scalar(select(User).filter_by(username="new.person"))
    assert (user.name, user.role, user.region_id) == ("Nia Newcomer", "lead", london.id)


def test_hmpps_auth_decides_the_role_at_each_sign_in(app, north):  # type: ignore[no-untyped-def]
    _staff(app, "tm.nw", role=None, region_code="NW", authorities=[
        "ROLE_SOMETHING_ELSE", AUTHORITY_PREFIX + "FACILITATOR", AUTHORITY_PREFIX + "LEAD"])
    Browser(app, app.test_client()).sign_in("tm.nw")
    db.session.refresh(north["manager"])
    assert north["manager"].role == "lead"  # the strongest of the two it holds


def test_the_region_is_the_first_team_in_a_region_that_uses_the_service(app, world):  # type: ignore[no-untyped-def]
    world.region("NW", "North West")
    london = world.region("LDN", "London")
    _staff(app, "two.teams", role="facilitator", region_code=None, teams=[
        {"code": "XX1", "description": "Elsewhere", "region": {"code": "ZZ", "description": "Not here"}},
        {"code": "LDNT1", "description": "London team", "region": {"code": "LDN", "description": "London"}}])
    Browser(app, app.test_client()).sign_in("two.teams")
    assert db.session.scalar(select(User.region_id).filter_by(username="two.teams")) == london.id


def test_a_facilitator_is_linked_by_their_ndelius_staff_code(app, world):  # type: ignore[no-untyped-def]
    region = world.region("NW", "North West")
    facilitator = world.facilitator(region, "Fay Cilitator")
    _staff(app, "fay", role="facilitator", region_code="NW", staff_code=facilitator.staff_code)
    Browser(app, app.test_client()).sign_in("fay")
    assert db.session.scalar(select(User.facilitator_id).filter_by(username="fay")) == facilitator.id


def test_a_facilitator_has_hmpps_auths_name_in_the_header_and_on_the_calendar(app, world):  # type: ignore[no-untyped-def]
    """Issue 15.9: the header said "Ray Wood" (HMPPS Auth) and the calendar "Chris Thompson (you)" (the
    facilitator row): signing in gives the facilitator row HMPPS Auth's name, so every page says the same."""
    region = world.region("NW", "North West")
    facilitator = world.facilitator(region, "Chris Thompson")
    _staff(app, "ray", name="Ray Wood", role="facilitator", region_code="NW", staff_code=facilitator.staff_code)
    browser = Browser(app, app.test_client())
    browser.sign_in("ray")
    page = browser.get("/calendar").get_data(as_text=True)
    assert "Ray Wood</li>" in page.replace("\n", "").replace("  ", "")  # the header
    assert f'value="facilitator-{facilitator.id}" selected>Ray Wood (you)</option>' in page
    assert "Chris Thompson" not in page
    assert "Ray Wood" in browser.get("/facilitators").get_data(as_text=True)
    assert db.session.get(Facilitator, facilitator.id).name == "Ray Wood"


def test_a_facilitator_lands_on_my_sessions_and_everyone_else_on_groups(app, world):  # type: ignore[no-untyped-def]
    region = world.region("NW", "North West")
    world.user(region, "facilitator", "fac.nw", facilitator=world.facilitator(region, "Fran Lead"))
    world.user(region, "lead", "lead.nw")
    facilitator, lead = Browser(app, app.test_client()), Browser(app, app.test_client())
    assert facilitator.sign_in("fac.nw").headers["Location"] == "/"
    assert facilitator.get("/").headers["Location"] == "/sessions"
    lead.sign_in("lead.nw")
    assert lead.get("/").headers["Location"] == "/groups"


def test_where_you_were_going_is_where_you_land(browser, north):  # type: ignore[no-untyped-def]
    sent = browser.get("/referrals")
    assert sent.headers["Location"] == "/login?next=/referrals"
    start = browser.get("/login/hmpps-auth?next=/referrals")
    back = Browser.approve_at_auth(start.headers["Location"], "tm.nw").headers["Location"]
    assert browser.follow(back).headers["Location"] == "/referrals"
    start = browser.get("/login/hmpps-auth?next=//evil.example/x")
    back = Browser.approve_at_auth(start.headers["Location"], "tm.nw").headers["Location"]
    assert browser.follow(back).headers["Location"] == "/"


# refusals ---------------------------------------------------------------------------------------------------


def _refused(response, status, words):  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.data[:500]
    assert words.encode() in response.data
    assert b"You are not signed in" in response.data


def _not_signed_in(browser) -> None:  # type: ignore[no-untyped-def]
    assert browser.get("/groups").status_code == 302


def test_a_wrong_state_is_refused(browser, north):  # type: ignore[no-untyped-def]
    back = _approve(browser, "tm.nw")
    forged = back.replace("state=", "state=forged")
    _refused(browser.follow(forged), 400, "started in another tab or has already been used")
    _not_signed_in(browser)


def test_a_callback_in_another_browser_is_refused(app, north):  # type: ignore[no-untyped-def]
    back = _approve(Browser(app, app.test_client()), "tm.nw")
    _refused(Browser(app, app.test_client()).follow(back), 400, "started in another tab or has already been used")


def test_a_replayed_code_is_refused(browser, north):  # type: ignore[no-untyped-def]
    first = _approve(browser, "tm.nw")
    assert browser.follow(first).status_code == 302
    start = browser.get("/login/hmpps-auth")  # a new sign-in, carrying the old code
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    old_code = parse_qs(urlsplit(first).query)["code"][0]
    _refused(browser.follow(f"/login/callback?code={old_code}&state={state}"), 400,
             "already been used or has expired")


def test_an_expired_token_is_refused(browser, north, app):  # type: ignore[no-untyped-def]
    _switch(app, token_expires_in=-60)
    _refused(browser.follow(_approve(browser, "tm.nw")), 401, "had expired")
    _not_signed_in(browser)


def test_a_tampered_token_is_refused(browser, north, app):  # type: ignore[no-untyped-def]
    _switch(app, tamper_next=1)
    _refused(browser.follow(_approve(browser, "tm.nw")), 401, "could not be verified")
    _not_signed_in(browser)


def test_a_refused_client_is_a_clear_service_problem(app, north):  # type: ignore[no-untyped-def]
    from app import create_app

    wrong = create_app({**{k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "RQ_QUEUE")},
                        "TESTING": True, "HMPPS_AUTH_CLIENT_SECRET": "not-the-secret"})
    person = Browser(wrong, wrong.test_client())
    _refused(person.follow(_approve(person, "tm.nw")), 502, "refused Programme Delivery")
    unknown = create_app({**{k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "RQ_QUEUE")},
                          "TESTING": True, "HMPPS_AUTH_CLIENT_ID": "nobody-knows-me"})
    start = unknown.test_client().get("/login/hmpps-auth")
    page = requests.get(start.headers["Location"], timeout=5)
    assert page.status_code == 400 and "not registered with HMPPS Auth" in page.text


def test_hmpps_auth_saying_no_is_refused(browser, north):  # type: ignore[no-untyped-def]
    start = browser.get("/login/hmpps-auth")
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    _refused(browser.follow(f"/login/callback?error=access_denied&state={state}"), 403, "did not sign you in")


def test_no_programme_delivery_role_is_refused(browser, north, app):  # type: ignore[no-untyped-def]
    _staff(app, "tm.nw", role=None, region_code="NW", authorities=["ROLE_PROBATION"])
    _refused(browser.follow(_approve(browser, "tm.nw")), 403, "no Programme Delivery role")
    _not_signed_in(browser)


def test_teams_in_no_region_of_ours_are_refused(browser, north, app):  # type: ignore[no-untyped-def]
    _staff(app, "tm.nw", role="treatment_manager", region_code="ZZ")
    _refused(browser.follow(_approve(browser, "tm.nw")), 403, "not in a region that uses Programme Delivery")


def test_without_ndelius_a_known_person_keeps_their_region_and_a_new_one_is_refused(app, north, monkeypatch):  # type: ignore[no-untyped-def]
    _staff(app, "new.person", role="lead", region_code="NW")
    monkeypatch.setitem(app.config, "NDELIUS_URL", "http://127.0.0.1:9")  # nothing listens there
    Browser(app, app.test_client()).sign_in("tm.nw")
    person = Browser(app, app.test_client())
    _refused(person.follow(_approve(person, "new.person")), 503, "nDelius could not be reached")


def test_an_account_disabled_here_cannot_sign_in(browser, north):  # type: ignore[no-untyped-def]
    north["manager"].active = False
    db.session.commit()
    _refused(browser.follow(_approve(browser, "tm.nw")), 403, "has been disabled")


def test_an_account_disabled_at_hmpps_auth_cannot_sign_in(browser, north, app):  # type: ignore[no-untyped-def]
    _staff(app, "tm.nw", role="treatment_manager", region_code="NW", enabled=False)
    start = browser.get("/login/hmpps-auth")
    refused = Browser.approve_at_auth(start.headers["Location"], "tm.nw")
    assert refused.status_code == 403 and "The account tm.nw is disabled" in refused.text


# signing out --------------------------------------------------------------------------------------------------


def test_signing_out_ends_hmpps_auths_session_too(app, north):  # type: ignore[no-untyped-def]
    """A browser (cookies kept) signed in at the fake goes straight through its next authorise; after our
    sign-out has sent it to HMPPS Auth's sign-out, it is asked who it is again."""
    person, at_auth = Browser(app, app.test_client()), requests.Session()
    start = person.get("/login/hmpps-auth")
    back = at_auth.post(start.headers["Location"], data={"username": "tm.nw"}, allow_redirects=False)
    assert person.follow(back.headers["Location"]).status_code == 302
    again = at_auth.get(person.get("/login/hmpps-auth").headers["Location"], allow_redirects=False)
    assert again.status_code == 302 and "/login/callback?code=" in again.headers["Location"]  # single sign-on
    person.get("/groups")
    out = person.post("/logout")
    assert out.status_code == 302
    sign_out = urlsplit(out.headers["Location"])
    assert f"{sign_out.scheme}://{sign_out.netloc}{sign_out.path}" == _auth(app) + "/sign-out"
    assert parse_qs(sign_out.query) == {"client_id": ["programme-delivery-ui"],
                                        "redirect_uri": ["http://localhost/login"]}
    returned = at_auth.get(out.headers["Location"], allow_redirects=False)
    assert returned.status_code == 302 and returned.headers["Location"] == "http://localhost/login"
    assert b"You have signed out" in person.follow(returned.headers["Location"]).data
    asked = at_auth.get(person.get("/login/hmpps-auth").headers["Location"], allow_redirects=False)
    assert asked.status_code == 200 and "Sign in as tm.nw" in asked.text


def test_a_signed_out_htmx_request_gets_401_so_the_page_can_tell(browser, north):  # type: ignore[no-untyped-def]
    response = browser.get("/groups", htmx=True)
    assert response.status_code == 401 and response.headers["HX-Redirect"] == "/login"
    browser.sign_in("tm.nw")
    browser.post("/logout")
    after = browser.post("/keep-alive", htmx=True)
    assert after.status_code in (400, 401)  # the old CSRF token went with the session, or the session is gone


def test_after_signing_in_again_the_new_csrf_token_works(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    old = browser.csrf_token
    browser.post("/logout")
    browser.sign_in("tm.nw")
    assert browser.csrf_token != old
    assert browser.post("/keep-alive", htmx=True).status_code == 204


def test_pressing_sign_in_again_and_again_keeps_the_session_small(browser, north):  # type: ignore[no-untyped-def]
    starts = [browser.get("/login/hmpps-auth").headers["Location"] for _ in range(10)]
    assert len(browser.client.get_cookie("session").value) < 1500
    first = Browser.approve_at_auth(starts[0], "tm.nw").headers["Location"]
    _refused(browser.follow(first), 400, "started in another tab")
    last = Browser.approve_at_auth(starts[-1], "tm.nw").headers["Location"]
    assert browser.follow(last).status_code == 302


def test_the_sign_out_form_may_lead_to_hmpps_auth(browser, north, app):  # type: ignore[no-untyped-def]
    """A browser follows a form's redirect only to an origin CSP form-action allows: HMPPS Auth's sign-out."""
    csp = browser.get("/login").headers["Content-Security-Policy"]
    assert f"form-action 'self' {_auth(app)};" in csp
