"""Journey in headless Chromium: a treatment manager allocates someone from the waiting list, removes them
after they completed part of the programme, and re-joins them to another group at the point they reached."""
from __future__ import annotations

import os
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import Attendee, Group, Referral, ReferralProgress, Session, User
from app.scheduling import Slot
from app.services import attendance, membership
from tests.browser.live_server import chromium_page, live_server, sign_in  # noqa: F401

pytestmark = pytest.mark.browser
TUESDAY = Slot(1, time(10))
SHOTS = os.environ.get("SCREENSHOTS_DIR")


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def _start_on(next_tuesday: date, next_index: int) -> date:
    """The start date of a Tuesday group whose session on `next_tuesday` is template number `next_index`."""
    return next_tuesday - timedelta(days=21 + 7 * (next_index - 1))


@pytest.fixture
def region(world):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 3, 1, 9))
    north = world.region("NW", "North West")
    manager = world.user(north, "treatment_manager", "tm.nw")
    jordan = world.referral(north, "Jordan Smith", "N123456")
    jordan.created_at = datetime(2026, 2, 20, 9, tzinfo=UTC)
    first = world.group(manager, "BC-A", start=date(2026, 3, 3), slots=(TUESDAY,))
    # on Monday 11 May 2026 B's next session is 3.3 (Jordan's point), C's is 3.4 (one too far)
    world.started(world.group(manager, "BC-B", start=_start_on(date(2026, 5, 12), 6), slots=(TUESDAY,)), manager)
    world.started(world.group(manager, "BC-C", start=_start_on(date(2026, 5, 12), 7), slots=(TUESDAY,)), manager)
    db.session.commit()
    ids = {"manager": manager.id, "jordan": jordan.id, "first": first.id}
    db.session.commit()  # SQLite: no transaction (and so no write lock) may stay open while the browser works
    return ids


def _sign_in(page) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, "tm.nw")
    page.wait_for_url("**/groups")


def test_allocate_remove_and_rejoin_another_group_at_the_same_point(chromium_page, region, world):  # type: ignore[no-untyped-def]  # noqa: F811
    page, jordan_id, first_id = chromium_page, region["jordan"], region["first"]
    _sign_in(page)

    # 1. From the waiting list, find a group for Jordan and allocate them to BC-A (not started yet)
    page.get_by_role("link", name="Waiting list").click()
    page.get_by_label("Name or CRN").fill("N123456")
    page.get_by_role("button", name="Apply filters").click()
    page.get_by_text("1 person waiting matching your filters").wait_for()
    _shot(page, "01-waiting-list")
    page.get_by_role("link", name="Find a group for Jordan Smith").click()
    page.get_by_text("They have not been in a group before, so they start from the beginning.").wait_for()
    _shot(page, "02-find-a-group-new")
    page.get_by_role("button", name="Allocate Jordan Smith to group BC-A").click()
    page.get_by_text("Jordan Smith allocated to group BC-A").wait_for()
    assert page.get_by_role("heading", name="Members (1 of 12)").is_visible()

    # BC-A starts; Jordan completes 1.1 to 3.2 (recorded by the facilitators), then on 22 April …
    db.session.rollback()
    manager = db.session.get(User, region["manager"])
    world.started(db.session.get(Group, first_id), manager)
    clock.freeze(datetime(2026, 4, 22, 12))
    for attendee in db.session.scalars(select(Attendee).join(Session).where(
            Session.group_id == first_id, Attendee.referral_id == jordan_id, Session.starts_at < clock.now_local())):
        attendance.record(manager, attendee, outcome="ATTC", seen_version=None)
    db.session.commit()

    # 2. … they are removed from BC-A and go back on the waiting list
    page.goto(f"/groups/{first_id}")
    page.get_by_role("link", name="Remove Jordan Smith from the group").click()
    page.get_by_role("button", name="Remove from group").click()
    page.get_by_text("There is a problem").wait_for()
    assert page.locator(".govuk-error-message", has_text="Choose their new status").is_visible()
    page.get_by_label("Awaiting allocation").check()
    page.get_by_label("Why are they leaving the group?").fill("Moved to a new address across the city")
    _shot(page, "03-remove")
    page.get_by_role("button", name="Remove from group").click()
    page.get_by_text("Jordan Smith removed from group BC-A (Awaiting allocation)").wait_for()
    assert page.get_by_role("heading", name="Members (0 of 12)").is_visible()
    assert membership.active_membership(db.session.get(Referral, jordan_id)) is None
    db.session.commit()

    # 3. Nineteen days later: the waiting list says they can still rejoin, Find a group offers BC-B only
    clock.freeze(datetime(2026, 5, 11, 12))
    page.get_by_role("link", name="Waiting list").click()
    row = page.locator("#waiting-list tr", has_text="Jordan Smith")
    assert "Can rejoin until 15 Jul" in row.inner_text() and "19" in row.inner_text()
    row.get_by_role("link", name="Find a group for Jordan Smith").click()
    position = page.locator("#position")
    assert "left group BC-A 19 days ago" in position.inner_text()
    assert "They resume at 3.3 Managing my feelings, part 1" in position.inner_text()
    groups = page.locator("#fitting-groups tbody tr")
    assert groups.count() == 1 and "BC-B" in groups.first.inner_text()
    assert "At their point" in groups.first.inner_text()
    page.get_by_text("Other groups").click()
    assert "Group BC-C is at 3.4 Managing my feelings, part 2" in page.locator("#other-groups").inner_text()
    _shot(page, "04-find-a-group-bus-stop")
    _axe_clean(page)
    page.get_by_role("button", name="Allocate Jordan Smith to group BC-B").click()
    page.get_by_text("Jordan Smith allocated to group BC-B. They will attend its next 21 sessions.").wait_for()
    _shot(page, "05-group-b")

    # every completed session is kept; only BC-B's future sessions were added
    assert db.session.get(ReferralProgress, jordan_id).sessions_completed == 6
    group_b = membership.active_membership(db.session.get(Referral, jordan_id)).group
    assert group_b.code == "BC-B"
    added = db.session.scalars(select(Session.starts_at).join(Attendee).where(
        Session.group_id == group_b.id, Attendee.referral_id == jordan_id)).all()
    assert len(added) == 21 and min(added) == datetime(2026, 5, 12, 10)
    assert db.session.scalar(select(func.count(Attendee.id)).join(Session).where(
        Session.group_id == first_id, Attendee.referral_id == jordan_id, Attendee.removed_at.is_(None))) == 6
    db.session.commit()


def _axe_clean(page) -> None:  # type: ignore[no-untyped-def]
    """No serious or critical accessibility failures on the page (axe-core)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [v["id"] for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert bad == []
