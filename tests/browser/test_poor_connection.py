"""The register on a tablet with a poor connection: a tap that cannot reach the server is kept on the device, the
row says it is waiting to be sent, and it is sent again (with the same idempotency key) when the connection is
back, so the mark is neither lost nor recorded twice. Runs on both databases: what is checked is what the
database keeps. (Whole offline sessions, closed pages and restarts: test_offline_register.py.)"""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import Attendance, AttendanceHistory, ProcessedRequest, Session
from tests.browser.live_server import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.both_databases]
WAITING = "Waiting to send"


@pytest.fixture
def register(world):  # type: ignore[no-untyped-def]
    """Monday 13 April 2026, 10:20: Fran's session with three people has started."""
    region = world.region("NW", "North West")
    lead = world.facilitator(region, "Fran Lead")
    manager = world.user(region, "treatment_manager", "tm.nw")
    world.user(region, "facilitator", "fac.nw", facilitator=lead)
    people = tuple(world.referral(region, name) for name in ("Alex Able", "Billie Brown", "Charlie Cole"))
    group = world.started(world.group(manager, "BC1", lead=lead, members=people), manager)
    clock.freeze(datetime(2026, 4, 13, 10, 20))
    session_id = db.session.scalar(select(Session.id).where(Session.group_id == group.id,
                                                           Session.starts_at == datetime(2026, 4, 13, 10)))
    db.session.commit()  # SQLite: the test holds no transaction while the server writes
    return session_id


def _read(query):  # type: ignore[no-untyped-def]
    db.session.expire_all()
    try:
        return db.session.execute(query).all()
    finally:
        db.session.rollback()


def _stored(attendee_id: int) -> tuple[list, int, int]:
    """The attendance (outcome, version), how many history rows and how many claimed idempotency keys."""
    current = _read(select(Attendance.outcome, Attendance.version).where(Attendance.attendee_id == attendee_id))
    [(history,)] = _read(select(func.count()).select_from(AttendanceHistory)
                         .where(AttendanceHistory.attendee_id == attendee_id))
    [(keys,)] = _read(select(func.count()).select_from(ProcessedRequest).where(
        ProcessedRequest.scope == "attendance", ProcessedRequest.object_id == attendee_id))
    return [tuple(r) for r in current], history, keys


def _open_register(page, session_id: int):  # type: ignore[no-untyped-def]
    sign_in(page, "fac.nw")
    page.goto(f"/sessions/{session_id}")
    rows = page.locator("li.app-register-row")
    return [int(rows.nth(i).get_attribute("data-attendee")) for i in range(rows.count())]


def test_a_tap_made_offline_is_saved_once_when_the_connection_returns(  # type: ignore[no-untyped-def]
        live_server, touch_page, register):
    page = touch_page
    alex, billie, _ = _open_register(page, register)
    page.context.set_offline(True)
    page.locator(f"#attendee-{alex} button[value=ATTC]").tap()
    page.locator(f"#attendee-{billie} button[value=UAAB]").tap()
    page.locator(f"#attendee-{alex} .app-offline-waiting", has_text=f"{WAITING}: Attended").wait_for()
    page.locator(f"#attendee-{billie} .app-offline-waiting", has_text=f"{WAITING}: Did not attend").wait_for()
    assert page.locator(f"#attendee-{billie} button[value=UAAB]").get_attribute("aria-pressed") == "true"
    assert "Waiting to send: Did not attend for Billie Brown" in page.locator("#register-announce").text_content()
    page.locator("#offline-status", has_text="You are offline. 2 changes waiting to be sent").wait_for()
    # Still offline when the timer sends them again: they fail again and stay waiting, the rows keep saying so
    with page.expect_event("requestfailed", lambda r: f"/attendees/{alex}" in r.url, timeout=10_000):
        pass
    assert page.locator(".app-offline-waiting", has_text=WAITING).count() == 2
    assert _stored(alex) == ([], 0, 0) and _stored(billie) == ([], 0, 0)
    assert "0 of 3" in page.inner_text("#register-count")

    page.context.set_offline(False)  # the browser fires "online": the waiting saves go at once
    page.locator(f"#attendee-{alex} .app-register-row__saved").wait_for()
    page.locator(f"#attendee-{billie} .app-register-row__saved").wait_for()
    page.locator("#register-count", has_text="2 of 3").wait_for()
    assert page.locator(f"#attendee-{billie} button[value=UAAB]").get_attribute("aria-pressed") == "true"
    assert page.locator(".app-offline-waiting").count() == 0
    assert _stored(alex) == ([("ATTC", 1)], 1, 1)
    assert _stored(billie) == ([("UAAB", 1)], 1, 1)


def test_a_save_whose_answer_was_lost_is_sent_again_with_its_key_and_applied_once(  # type: ignore[no-untyped-def]
        live_server, touch_page, register):
    """The worst case for duplicates: the server saved the tap but the answer never reached the tablet."""
    page = touch_page
    alex, billie, _ = _open_register(page, register)
    keys: list[str] = []
    held: list = []  # type: ignore[type-arg]

    def answer_lost_once(route) -> None:  # type: ignore[no-untyped-def]
        keys.append(route.request.headers.get("idempotency-key", ""))
        if len(keys) == 1:
            route.fetch()  # it reaches the server and is saved …
            route.abort("connectionreset")  # … but the connection drops before the answer arrives
        elif len(keys) == 2:
            held.append(route)  # the resend is held on its way until the test has looked at the rows
        else:
            route.continue_()

    page.route(f"**/attendees/{alex}", answer_lost_once)
    with page.expect_event("requestfailed", lambda r: f"/attendees/{alex}" in r.url):
        page.locator(f"#attendee-{alex} button[value=AFTC]").tap()
    page.locator(f"#attendee-{alex} .app-offline-waiting", has_text=f"{WAITING}: Attended but failed").wait_for()
    assert _stored(alex) == ([("AFTC", 1)], 1, 1)  # saved on the server, not yet known to the tablet
    # A tap on the same row meanwhile waits for the waiting one, then is saved after it (nothing lost); a tap
    # on another row waits its turn too (changes are sent in the order they were made)
    page.locator(f"#attendee-{alex} button[value=ATTC]").tap()
    page.locator(f"#attendee-{billie} button[value=ATTC]").tap()
    # The next send (this tap's, or the timer's if it comes first) sends the lost one again, with the same key;
    # it is held on its way here, so what the rows show meanwhile is looked at whatever the machine's speed
    page.locator(f"#attendee-{alex} .app-offline-waiting", has_text=f"{WAITING}: Attended").wait_for()
    page.locator(f"#attendee-{billie} .app-offline-waiting", has_text=f"{WAITING}: Attended").wait_for()
    for _ in range(300):  # until the resend has reached the route (the timer's comes within 2 s at the latest)
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1 and keys == [keys[0], keys[0]]
    held[0].continue_()

    # The server recognises the key: nothing is applied twice, and the waiting ones follow in order
    page.locator(f"#attendee-{billie} .app-register-row__saved").wait_for(timeout=15_000)
    page.locator(f"#attendee-{alex}:not(.app-register-row--waiting) button[value=ATTC][aria-pressed=true]").wait_for()
    assert len(keys) == 3 and keys[0] == keys[1] and keys[2] != keys[0] and all(keys)
    assert page.locator(f"#attendee-{alex} .app-register-conflict").count() == 0
    history = [o for (o,) in _read(select(AttendanceHistory.outcome).where(
        AttendanceHistory.attendee_id == alex).order_by(AttendanceHistory.version))]
    assert history == ["AFTC", "ATTC"]
    assert _stored(alex) == ([("ATTC", 2)], 2, 2)
    assert _stored(billie) == ([("ATTC", 1)], 1, 1)
