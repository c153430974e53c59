"""The server's side of the register offline (issue 17): which registers My sessions keeps on the device, the
copies rendered for it (banner, nothing of a restricted person), the service worker's scope, the token asked
for before sending changes that waited, a waiting change never saved as someone else, and a sign-out that keeps
waiting changes when asked. (The browser side: tests/browser/test_offline_register.py.)"""
from __future__ import annotations

import re
from datetime import datetime

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Attendance, Session

FIRST_GROUP_SESSION = datetime(2026, 4, 13, 10)
COPY = {"X-Offline-Copy": "1"}


@pytest.fixture
def team(world):  # type: ignore[no-untyped-def]
    region = world.region("NW", "North West")
    lead = world.facilitator(region, "Fran Lead")
    manager = world.user(region, "treatment_manager", "tm.nw")
    people = tuple(world.referral(region, name, crn=crn) for name, crn in (("Alex Able", "A111111"),
                                                                          ("Billie Brown", "B222222")))
    group = world.started(world.group(manager, "BC1", lead=lead, members=people), manager)
    facilitator = world.user(region, "facilitator", "fac.lead", facilitator=lead)
    world.user(region, "lead", "lead.nw")
    return {"group": group, "facilitator": facilitator, "manager": manager}


def _session(group, starts_at=FIRST_GROUP_SESSION) -> Session:  # type: ignore[no-untyped-def]
    return db.session.scalar(select(Session).where(Session.group_id == group.id, Session.starts_at == starts_at))


def test_my_sessions_keeps_today_and_the_next_7_days_registers_for_offline_use(browser, team):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 4, 13, 8, 30))
    browser.sign_in("fac.lead")
    page = browser.get("/sessions").data.decode()
    kept = re.findall(r'href="(/sessions/\d+)" data-offline-keep', page)
    group = team["group"]
    assert kept == [f"/sessions/{_session(group).id}", f"/sessions/{_session(group, datetime(2026, 4, 20, 10)).id}"]
    assert f'href="/sessions/{_session(group, datetime(2026, 4, 27, 10)).id}"' in page  # listed, not kept
    assert "kept on this device" in page and "Offline copy" not in page


def test_a_lead_keeps_no_register(browser, team):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 4, 13, 8, 30))
    browser.sign_in("lead.nw")
    assert "data-offline-keep" not in browser.get("/sessions").data.decode()


def test_a_copy_is_marked_and_says_when_it_was_made(browser, team):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 4, 13, 9, 12))
    browser.sign_in("fac.lead")
    session = _session(team["group"])
    live = browser.get(f"/sessions/{session.id}")
    assert "X-Offline-Copy" not in live.headers and "Offline copy" not in live.data.decode()
    copy = browser.get(f"/sessions/{session.id}", headers=COPY)
    assert copy.status_code == 200 and copy.headers["X-Offline-Copy"] == "1"
    assert "X-Offline-Copy" in copy.headers["Vary"] and copy.headers["Cache-Control"] == "no-store"
    text = re.sub(r"<[^>]+>", "", copy.data.decode())
    assert "Offline copy from 09:12 — your changes will be sent when you are back online" in text
    listing = browser.get("/sessions", headers=COPY)
    assert listing.headers["X-Offline-Copy"] == "1"
    assert "Offline copy from 09:12 — registers marked “Kept for offline use” open without a connection" in \
        re.sub(r"<[^>]+>", "", listing.data.decode())


def test_a_copy_holds_nothing_of_a_person_the_user_may_not_see(app, browser, team, case_ndelius, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setitem(app.config, "LAO_CHECKS", True)
    case_ndelius.cases.add({"crn": "B222222", "forename": "Billie", "surname": "Brown", "dateOfBirth": "1980-01-01",
                            "excluded": ["fac.lead"]})
    clock.freeze(FIRST_GROUP_SESSION.replace(hour=11))
    browser.sign_in("fac.lead")
    copy = browser.get(f"/sessions/{_session(team['group']).id}", headers=COPY)
    assert copy.headers["X-Offline-Copy"] == "1"
    body = copy.data.decode()
    assert "Alex Able" in body and "A111111" in body
    assert "Billie" not in body and "B222222" not in body
    assert body.count("data-restricted") == 1


def test_the_service_worker_is_public_code_whose_scope_may_be_the_register(app):  # type: ignore[no-untyped-def]
    response = app.test_client().get("/sessions/offline-worker.js")
    assert response.status_code == 200
    assert response.headers["Service-Worker-Allowed"] == "/sessions"
    assert response.mimetype in ("text/javascript", "application/javascript")
    assert b"addEventListener('fetch'" in response.data


def test_the_token_says_who_is_signed_in_and_gives_a_token_of_their_session(browser, team):  # type: ignore[no-untyped-def]
    anonymous = browser.get("/sessions/offline-token")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    browser.sign_in("fac.lead")
    response = browser.get("/sessions/offline-token", htmx=True)
    assert response.status_code == 204 and response.data == b""
    assert response.headers["X-Signed-In-As"] == str(team["facilitator"].id)
    assert response.headers["X-CSRF-Token"]


def _tap(browser, session, attendee, queued_by):  # type: ignore[no-untyped-def]
    return browser.post(f"/sessions/{session.id}/attendees/{attendee.id}",
                        {"version": "", "current_outcome": "", "outcome": "ATTC"}, htmx=True,
                        headers={"Idempotency-Key": f"k-{queued_by}", "X-Queued-By": queued_by})


def test_a_change_that_waited_on_the_device_is_never_saved_as_someone_else(browser, team):  # type: ignore[no-untyped-def]
    clock.freeze(FIRST_GROUP_SESSION.replace(hour=11))
    session = _session(team["group"])
    alex = next(a for a in session.attendees if a.referral.person_name == "Alex Able")
    browser.sign_in("tm.nw")  # on the facilitator's tablet, after them
    refused = _tap(browser, session, alex, str(team["facilitator"].id))
    assert refused.status_code == 403 and refused.headers["X-Queued-By"] == "someone else"
    assert db.session.scalars(select(Attendance)).all() == []
    notes = browser.post(f"/sessions/{session.id}/notes", {"session_notes": "x", "seen_notes": ""}, htmx=True,
                         headers={"X-Queued-By": str(team["facilitator"].id)})
    assert notes.status_code == 403 and _session(team["group"]).notes is None
    assert _tap(browser, session, alex, str(team["manager"].id)).status_code == 200
    assert [a.outcome for a in db.session.scalars(select(Attendance))] == ["ATTC"]


@pytest.mark.parametrize(("form", "cleared"), [({}, '"storage"'), ({"keep_waiting_changes": "y"}, '"cache"')])
def test_signing_out_clears_the_device_unless_changes_must_be_kept(browser, team, form, cleared):  # type: ignore[no-untyped-def]
    browser.sign_in("fac.lead")
    response = browser.post("/logout", form)
    assert response.status_code == 302 and response.headers["Clear-Site-Data"] == cleared
    assert browser.get("/sessions").status_code == 302  # signed out either way
