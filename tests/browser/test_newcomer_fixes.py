"""Issue 15.9, what a newcomer hit, in headless Chromium: the progress grid scrolls inside its own box (the page
no longer scrolls sideways) with the names kept in view, and a finger drags a session from anywhere on its card
(the handle is only the visible cue)."""
from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Attendee, Session
from app.services import attendance
from tests.browser.conftest import touch_drag
from tests.browser.live_server import sign_in

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("SCREENSHOTS_DIR")


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def _centre(box):  # type: ignore[no-untyped-def]
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


@pytest.fixture
def region(world):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 5, 20, 9, 0))
    north = world.region("NW", "North West")
    manager = world.user(north, "treatment_manager", "tm.nw")
    world.user(north, "lead", "lead.nw")
    people = tuple(world.referral(north, f"Person With A Long Name {n}") for n in range(4))
    group = world.started(world.group(manager, "BC1", start=date(2026, 3, 9),
                                      lead=world.facilitator(north, "Fran Lead"), members=people), manager)
    for attendee in db.session.scalars(select(Attendee).join(Session).where(
            Session.group_id == group.id, Session.starts_at < clock.now_local())):
        attendance.record(manager, attendee, outcome="ATTC")
    upcoming = db.session.scalars(select(Session).where(
        Session.group_id == group.id, Session.starts_at > datetime(2026, 6, 1)).order_by(Session.starts_at)).first()
    ids = {"group": group.id, "session": upcoming.id, "day": upcoming.starts_at.date()}
    db.session.commit()
    return ids


def test_the_progress_grid_scrolls_in_its_own_box_with_the_names_in_view(touch_page, region):  # type: ignore[no-untyped-def]
    page = touch_page
    sign_in(page, "lead.nw")
    page.goto(f"/progress/groups/{region['group']}")
    box = page.locator(".app-progress-grid-scroll")
    for width in (1024, 1366):
        page.set_viewport_size({"width": width, "height": 768})
        assert page.evaluate("() => document.documentElement.scrollWidth") == width  # the page does not scroll
        assert box.evaluate("el => el.scrollWidth > el.clientWidth + 200")  # the grid does, inside its box
        box.evaluate("el => { el.scrollLeft = 500 }")
        name = page.locator(".app-progress-grid__person").first
        left_of_box = box.evaluate("el => el.getBoundingClientRect().left")
        assert abs(name.bounding_box()["x"] - left_of_box) < 2  # the names stay in view (sticky)
        assert name.is_visible()
        _shot(page, f"progress-grid-scrolled-{width}")
        box.evaluate("el => { el.scrollLeft = 0 }")


def test_a_finger_drags_a_session_from_anywhere_on_its_card(touch_page, region):  # type: ignore[no-untyped-def]
    page = touch_page
    sign_in(page, "tm.nw")
    day = region["day"]
    page.goto(f"/calendar?view=week&date={day.isoformat()}&scope=group-{region['group']}")
    session = page.locator(f"#session-{region['session']}")
    session.evaluate("el => el.scrollIntoView({block: 'center'})")
    assert session.locator(".app-session__handle").is_visible()  # the visible cue is still there
    name = session.locator(".app-session__time")  # well away from the handle
    start = _centre(name.bounding_box())
    handle = session.locator(".app-session__handle").bounding_box()
    assert not (handle["x"] <= start[0] <= handle["x"] + handle["width"]
                and handle["y"] <= start[1] <= handle["y"] + handle["height"])
    target = day + timedelta(days=1)
    touch_drag(page, start, _centre(page.locator(f'[data-drop-date="{target.isoformat()}"]').bounding_box()))
    dialog = page.locator("#calendar-dialog")
    dialog.locator("#calendar-dialog-title").filter(has_text=f"to {target:%a} {target.day} {target:%b %Y}").wait_for()
    assert dialog.is_visible()
    _shot(page, "calendar-drag-from-card")
