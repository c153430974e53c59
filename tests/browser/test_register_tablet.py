"""The register on a 10-inch tablet (1024×768, touch) in headless Chromium: a facilitator records a whole
register by tapping, and two people editing one row see a conflict instead of overwriting each other."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Attendance, AttendanceHistory, Session
from tests.browser.live_server import close_context, new_context, sign_in

pytestmark = pytest.mark.browser

SESSION_START = datetime(2026, 4, 13, 10)


@pytest.fixture
def register(world):  # type: ignore[no-untyped-def]
    region = world.region("NW", "North West")
    lead = world.facilitator(region, "Fran Lead")
    manager = world.user(region, "treatment_manager", "tm.nw")
    world.user(region, "facilitator", "fac.lead", facilitator=lead)
    names = ("Alex Able", "Billie Brown", "Charlie Cole", "Dee Dunn", "Eli East", "Flo Fox")
    people = tuple(world.referral(region, name) for name in names)
    group = world.started(world.group(manager, "BC1", lead=lead, members=people), manager)
    clock.freeze(datetime(2026, 4, 13, 10, 20))
    session_id = db.session.scalar(select(Session.id).where(Session.group_id == group.id,
                                                           Session.starts_at == SESSION_START))
    db.session.commit()  # SQLite: the test's own session must hold no transaction while the server writes
    return session_id


def _read(query):  # type: ignore[no-untyped-def]
    """What is stored now, read in a transaction that ends at once (so the server is never blocked)."""
    db.session.expire_all()
    try:
        return db.session.execute(query).all()
    finally:
        db.session.rollback()


def _sign_in(page, username: str) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, username)


def _wait_recorded(page, text: str) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function("t => document.querySelector('#register-count').textContent.includes(t)", arg=text)


def test_a_facilitator_records_a_whole_register_by_tapping(live_server, touch_page, register, tmp_path):  # type: ignore[no-untyped-def]
    page = touch_page
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _sign_in(page, "fac.lead")
    page.goto("/sessions")
    page.get_by_role("link", name="Introduction to Building Choices").tap()
    page.wait_for_selector("#register-count")
    assert "0 of 6" in page.inner_text("#register-count")
    rows = page.locator("li.app-register-row")
    ids = [rows.nth(i).get_attribute("id") for i in range(rows.count())]
    plan = {0: "ATTC", 1: "ATTC", 2: "AFTC", 3: "UAAB", 4: "ATTC"}
    for index, outcome in plan.items():
        page.locator(f"#{ids[index]} button[value={outcome}]").tap()
    # The last person: an acceptable absence, chosen from the reasons (two taps).
    page.locator(f"#{ids[5]} summary").tap()
    page.locator(f"#{ids[5]} button[value=AAFC]").tap()
    _wait_recorded(page, "6 of 6")
    # A second tap on one row while its first is still saving is kept, not lost or refused as a conflict.
    page.locator(f"#{ids[0]} button[value=AFTC]").tap()
    page.locator(f"#{ids[0]} button[value=ATTC]").tap()
    page.wait_for_selector(f"#{ids[0]} summary:has-text('3 changes')")
    with page.expect_response(lambda r: "/attendees/" in r.url and r.request.method == "POST") as saved:
        page.locator(f"#{ids[1]} input[name=arrived_at]").fill("10:05")
    assert saved.value.status == 200
    page.screenshot(path=str(tmp_path / "register-recorded.png"), full_page=True)
    assert not errors
    assert page.locator(".app-register-conflict").count() == 0
    outcomes = dict(_read(select(Attendance.attendee_id, Attendance.outcome)))
    by_row = [int(i.split("-")[1]) for i in ids]
    assert [outcomes[a] for a in by_row] == ["ATTC", "ATTC", "AFTC", "UAAB", "ATTC", "AAFC"]
    first_history = [o for (o,) in _read(select(AttendanceHistory.outcome).where(
        AttendanceHistory.attendee_id == by_row[0]).order_by(AttendanceHistory.version))]
    assert first_history == ["ATTC", "AFTC", "ATTC"]
    [(arrived,)] = _read(select(Attendance.arrived_at).where(Attendance.attendee_id == by_row[1]))
    assert arrived is not None and arrived.strftime("%H:%M") == "10:05"


def test_two_people_editing_one_row_see_both_versions_and_choose(live_server, touch_page, register):  # type: ignore[no-untyped-def]
    tablet = touch_page
    laptop_context = new_context(tablet.context.browser, viewport={"width": 1280, "height": 800}, base_url=live_server)
    laptop = laptop_context.new_page()
    _sign_in(tablet, "fac.lead")
    _sign_in(laptop, "tm.nw")
    tablet.goto(f"/sessions/{register}")
    laptop.goto(f"/sessions/{register}")
    row = tablet.locator("li.app-register-row").first.get_attribute("id")
    laptop.locator(f"#{row} button[value=UAAB]").click()
    laptop.wait_for_selector(f"#{row} button[value=UAAB][aria-pressed=true]")
    tablet.locator(f"#{row} textarea[name=notes]").fill("Arrived late, stayed to the end")
    tablet.locator(f"#{row} button[value=ATTC]").tap()
    conflict = tablet.locator(f"#{row} .app-register-conflict")
    conflict.wait_for()
    text = conflict.inner_text()
    assert "someone else changed" in text and "Attended" in text and "Did not attend" in text
    assert "Arrived late, stayed to the end" in text
    assert _read(select(Attendance.outcome)) == [("UAAB",)]  # nothing overwritten
    with tablet.expect_response(lambda r: "/attendees/" in r.url and r.request.method == "POST") as saved:
        tablet.locator(f"#{row} button:has-text('Use my change')").tap()
    assert saved.value.status == 200
    tablet.wait_for_selector(f"#{row} button[value=ATTC][aria-pressed=true]")
    assert _read(select(Attendance.outcome, Attendance.notes, Attendance.version)) == [
        ("ATTC", "Arrived late, stayed to the end", 2)]
    close_context(laptop_context)


def test_a_tap_after_being_signed_out_is_kept_and_sent_after_signing_in_again(live_server, touch_page, register):  # type: ignore[no-untyped-def]
    page = touch_page
    _sign_in(page, "fac.lead")
    page.goto(f"/sessions/{register}")
    row = page.locator("li.app-register-row").first.get_attribute("id")
    other_tab = page.context.new_page()  # the same person signs out in another tab
    other_tab.goto("/sessions")
    other_tab.locator(".app-header__sign-out").click()
    other_tab.wait_for_url("**/login")
    page.locator(f"#{row} textarea[name=notes]").fill("Typed before the tap")
    page.locator(f"#{row} button[value=ATTC]").tap()
    status = page.locator("#offline-status", has_text="You have been signed out. 1 change waiting to be sent is kept "
                                                       "on this device: sign in again to send it.")
    status.wait_for()
    page.locator(f"#{row} .app-offline-waiting", has_text="Waiting to send: Attended").wait_for()
    assert page.locator(f"#{row} textarea[name=notes]").input_value() == "Typed before the tap"
    assert _read(select(Attendance.id)) == []
    # Signed in again elsewhere: the register asks for a new CSRF token and sends the change by itself
    _sign_in(other_tab, "fac.lead")
    page.wait_for_selector(f"#{row} .app-register-row__saved")
    status.wait_for(state="hidden")
    assert page.locator(f"#{row} textarea[name=notes]").input_value() == "Typed before the tap"
    assert _read(select(Attendance.outcome, Attendance.notes)) == [("ATTC", "Typed before the tap")]
