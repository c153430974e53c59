"""Journey in headless Chromium at tablet size with a touch screen: a treatment manager drags a session to the
next week on the month calendar, sees what would move, confirms, watches the progress bar, and the calendar
redraws itself with the new dates (the job runs in a real RQ worker process)."""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Operation, Session
from tests.browser.conftest import touch_drag
from tests.browser.live_server import sign_in
from tests.web.test_calendar import session_of

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("SCREENSHOTS_DIR")


@pytest.fixture
def worker_env() -> dict[str, str]:
    return {"RESCHEDULE_STEP_DELAY": "0.15"}  # slow enough to see the progress bar move


def _shot(page, name: str, full_page: bool = True) -> None:  # type: ignore[no-untyped-def]
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=full_page)


@pytest.fixture
def group(world):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 5, 20, 9, 0))
    region = world.region("NW", "North West")
    manager = world.user(region, "treatment_manager", "tm.nw")
    people = (world.referral(region, "Sam Person"), world.referral(region, "Alex Person"))
    group = world.started(world.group(manager, "BC1", lead=world.facilitator(region, "Fran Lead"), members=people),
                          manager)
    ids = {"group": group.id, "session": session_of(group, 3, 3).id, "5.4": session_of(group, 5, 4).id,
           "5.5": session_of(group, 5, 5).id}
    db.session.commit()  # SQLite: no transaction (and so no write lock) stays open while the browser works
    return ids


def _centre(box):  # type: ignore[no-untyped-def]
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_dragging_a_session_with_a_finger_postpones_it_and_the_calendar_redraws(  # type: ignore[no-untyped-def]
        touch_page, rq_worker, group):
    page = touch_page
    sign_in(page, "tm.nw")
    page.wait_for_url("**/groups")
    page.goto(f"/calendar?view=month&date=2026-06-01&scope=group-{group['group']}")
    session = page.locator(f"#session-{group['session']}")
    assert session.locator("xpath=ancestor::div[@data-drop-date][1]").get_attribute("data-drop-date") == "2026-06-01"
    _shot(page, "calendar-month")

    handle = session.locator(".app-session__handle")
    session.evaluate("el => el.closest('[data-drop-date]').scrollIntoView({block: 'start'})")  # this week and the next
    target = page.locator('[data-drop-date="2026-06-08"]')
    start, end = _centre(handle.bounding_box()), _centre(target.bounding_box())
    touch_drag(page, start, end)

    dialog = page.locator("#calendar-dialog")
    heading = dialog.locator("#calendar-dialog-title")
    heading.filter(has_text="Postpone Managing my feelings, part 1 to Mon 8 Jun 2026").wait_for()
    assert dialog.is_visible()
    assert "move 20 later sessions; programme now ends 7 Dec 2026" in heading.inner_text()
    assert dialog.locator("tbody tr").count() == 21
    _shot(page, "calendar-drag-preview")

    dialog.get_by_role("button", name="Confirm and move the sessions").click()
    dialog.locator("progress.app-progress").wait_for()
    dialog.get_by_text("Done", exact=True).wait_for(timeout=30_000)
    moved = page.locator(f'[data-drop-date="2026-06-08"] #session-{group["session"]}')
    moved.wait_for(timeout=10_000)  # the calendar redrew itself behind the dialog
    _shot(page, "calendar-drag-done")
    dialog.get_by_role("button", name="Close").click()
    assert not dialog.is_visible()
    assert page.locator(f'[data-drop-date="2026-06-01"] #session-{group["session"]}').count() == 0

    db.session.expire_all()
    assert db.session.get(Session, group["session"]).starts_at == datetime(2026, 6, 8, 10)
    operation = db.session.scalars(select(Operation).where(Operation.kind == "cascade")).one()
    assert operation.status == "succeeded" and operation.done == 21
    db.session.commit()


def test_dragging_onto_a_bank_holiday_asks_for_a_confirmation_next_to_the_button(  # type: ignore[no-untyped-def]
        touch_page, rq_worker, group):
    """5.4 (Mon 7 Sep) dragged a week earlier onto the Summer bank holiday: only that session moves (an earlier
    move's default), and the dialog refuses until "Yes, move it anyway" is ticked, with the message by the box."""
    page = touch_page
    sign_in(page, "tm.nw")
    page.wait_for_url("**/groups")
    page.goto(f"/calendar?view=month&date=2026-09-01&scope=group-{group['group']}")
    session = page.locator(f"#session-{group['5.4']}")
    session.evaluate("el => el.closest('[data-drop-date]').scrollIntoView({block: 'center'})")
    target = page.locator('[data-drop-date="2026-08-31"]')
    touch_drag(page, _centre(session.locator(".app-session__handle").bounding_box()),
               _centre(target.bounding_box()))

    dialog = page.locator("#calendar-dialog")
    dialog.locator("#calendar-dialog-title").filter(
        has_text="Move only Relationship skills, part 2 to Mon 31 Aug 2026").wait_for()
    assert dialog.get_by_label("Move only this session").is_checked()
    assert dialog.get_by_text("a bank holiday (Summer bank holiday)").is_visible()
    dialog.get_by_role("button", name="Confirm and move the session").click()
    error = dialog.locator("#confirm-error")
    error.wait_for()
    assert "Confirm that you want to move it anyway" in error.inner_text()
    for width, height, size in ((1024, 768, "tablet"), (1366, 900, "laptop")):
        page.set_viewport_size({"width": width, "height": height})
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width  # nothing overflows
        assert dialog.evaluate("el => el.scrollWidth <= el.clientWidth")
        dialog.locator("#confirm").scroll_into_view_if_needed()
        _shot(page, f"calendar-drag-confirm-{size}", full_page=False)
    page.set_viewport_size({"width": 1024, "height": 768})
    assert _read_cascades() == 0

    dialog.get_by_label("Yes, move it anyway").check()
    dialog.get_by_role("button", name="Confirm and move the session").click()
    dialog.get_by_text("Done", exact=True).wait_for(timeout=30_000)
    db.session.expire_all()
    assert db.session.get(Session, group["5.4"]).starts_at == datetime(2026, 8, 31, 10)
    assert db.session.get(Session, group["5.5"]).starts_at == datetime(2026, 9, 14, 10)  # 5.5 stays
    db.session.commit()


def _read_cascades() -> int:
    db.session.expire_all()
    count = len(db.session.scalars(select(Operation.id).where(Operation.kind == "cascade")).all())
    db.session.commit()
    return count


def test_the_postpone_page_shows_the_broken_rule_and_refuses_until_confirmed(  # type: ignore[no-untyped-def]
        touch_page, group):
    """The keyboard alternative (no dialog): the same preview, confirmation and message next to the box."""
    page = touch_page
    sign_in(page, "tm.nw")
    page.wait_for_url("**/groups")
    page.goto(f"/calendar/sessions/{group['5.4']}/postpone?date=2026-08-31&start=10:00")
    preview = page.locator("#postpone-preview")
    preview.get_by_text("a bank holiday (Summer bank holiday)").wait_for()
    preview.get_by_role("button", name="Confirm and move the session").click()
    page.locator("#confirm-error").wait_for()
    assert "Confirm that you want to move it anyway" in page.locator("#confirm-error").inner_text()
    for width, height, size in ((1024, 768, "tablet"), (1366, 900, "laptop")):
        page.set_viewport_size({"width": width, "height": height})
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width
        _shot(page, f"postpone-page-confirm-{size}")
    assert _read_cascades() == 0
