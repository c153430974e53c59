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
from tests.web.test_calendar import session_of

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("SCREENSHOTS_DIR")


@pytest.fixture
def worker_env() -> dict[str, str]:
    return {"RESCHEDULE_STEP_DELAY": "0.15"}  # slow enough to see the progress bar move


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


@pytest.fixture
def group(world):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 5, 20, 9, 0))
    region = world.region("NW", "North West")
    manager = world.user(region, "treatment_manager", "tm.nw")
    people = (world.referral(region, "Sam Person"), world.referral(region, "Alex Person"))
    group = world.started(world.group(manager, "BC1", lead=world.facilitator(region, "Fran Lead"), members=people),
                          manager)
    ids = {"group": group.id, "session": session_of(group, 3, 3).id}
    db.session.commit()  # SQLite: no transaction (and so no write lock) stays open while the browser works
    return ids


def _centre(box):  # type: ignore[no-untyped-def]
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_dragging_a_session_with_a_finger_postpones_it_and_the_calendar_redraws(  # type: ignore[no-untyped-def]
        touch_page, rq_worker, group):
    page = touch_page
    page.goto("/login")
    page.get_by_label("Username").fill("tm.nw")
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Sign in").click()
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
