"""Journeys in headless Chromium for changing a group and its sessions (issue 15): a treatment manager edits a
started group (a refusal that names the member, then a new location), at tablet (1024×768, touch) and laptop
(1366×900) sizes, with a screenshot of each new page (SCREENSHOTS_DIR keeps them: SCREENSHOTS_DIR=docs/screenshots/
group-changes writes its tablet/ and laptop/ folders), an axe-core check and no sideways scrolling."""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Group
from tests.browser.journey_kit import axe_violations
from tests.browser.live_server import (  # noqa: F401
    CHROMIUM,
    CHROMIUM_ARGS,
    close_context,
    live_server,
    new_context,
    sign_in,
)

pytestmark = pytest.mark.browser
SIZES: dict[str, dict[str, Any]] = {
    "tablet": {"viewport": {"width": 1024, "height": 768}, "has_touch": True},
    "laptop": {"viewport": {"width": 1366, "height": 900}, "has_touch": False},
}


@pytest.fixture(params=list(SIZES))
def page(request, live_server, tmp_path):  # type: ignore[no-untyped-def]  # noqa: F811
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = new_context(browser, base_url=live_server, **SIZES[request.param])
        page = context.new_page()
        page.set_default_timeout(20_000)
        shots = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path) / request.param
        shots.mkdir(parents=True, exist_ok=True)
        page.shot = lambda name: page.screenshot(path=str(shots / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]
        page.problems = []  # type: ignore[attr-defined]
        width = SIZES[request.param]["viewport"]["width"]
        page.check = lambda name: (page.shot(name), page.problems.extend(axe_violations(page)),  # type: ignore[attr-defined]
                                   page.problems.extend(_sideways(page, name, width)))
        try:
            yield page
        finally:
            close_context(context)
            browser.close()


def _sideways(page, name: str, width: int) -> list[str]:  # type: ignore[no-untyped-def]
    """The page must not scroll sideways at this width (the whole document no wider than the window)."""
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    return [] if scroll_width <= width else [f"{name}: the page is {scroll_width}px wide in a {width}px window"]


@pytest.fixture
def started(world):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 3, 1, 9))
    region = world.region("NW", "North West")
    manager = world.user(region, "treatment_manager", "tm.nw", name="Terry Manager")
    world.user(region, "treatment_manager", "tm2.nw", name="Tess Other")
    people = (world.referral(region, "Alex Able"), world.referral(region, "Billie Brown"))
    group = world.started(world.group(manager, "BC1", members=people), manager)
    clock.freeze(datetime(2026, 5, 20, 9))
    ids = {"group_id": group.id}
    db.session.commit()  # the live server writes: hold no transaction open
    return ids


def test_a_treatment_manager_edits_a_started_group(page, started):  # type: ignore[no-untyped-def]
    group_id = started["group_id"]
    sign_in(page, "tm.nw")
    page.goto(f"/groups/{group_id}")
    page.get_by_role("link", name="Change details of group BC1").click()
    page.get_by_role("heading", name="Change the group's details").wait_for()
    page.check("01-edit-group")
    page.get_by_label("Female").check()
    page.get_by_role("button", name="Save changes").click()
    summary = page.locator(".govuk-error-summary")
    summary.wait_for()
    assert ("The group cannot become a female group: Alex Able and Billie Brown are male." in summary.inner_text())
    page.check("02-edit-group-refused")
    page.get_by_label("Male", exact=True).check()
    page.get_by_label("Delivery location").fill("Bolton Probation Office, room 2")
    page.get_by_label("nDelius office location code (optional)").fill("N07BOL2")
    page.get_by_label("Treatment manager").select_option(label="Tess Other")
    page.get_by_role("button", name="Save changes").click()
    banner = page.locator(".govuk-notification-banner--success")
    banner.wait_for()
    assert "Group BC1 saved: delivery location, nDelius office location code and treatment manager changed." in \
        banner.inner_text()
    assert "future sessions now at the new location" in banner.inner_text()
    page.check("03-group-edited")
    db.session.rollback()
    group = db.session.scalar(select(Group).where(Group.id == group_id))
    assert (group.delivery_location, group.location_code) == ("Bolton Probation Office, room 2", "N07BOL2")
    assert page.problems == []  # type: ignore[attr-defined]


@pytest.fixture
def finished(world):  # type: ignore[no-untyped-def]
    from app.models import Attendee, Session
    from app.services import attendance

    clock.freeze(datetime(2026, 3, 1, 9))
    region = world.region("NW", "North West")
    manager = world.user(region, "treatment_manager", "tm.nw")
    world.user(region, "lead", "lead.nw", name="Lee Lead")
    people = (world.referral(region, "Alex Able"), world.referral(region, "Billie Brown"))
    group = world.started(world.group(manager, "BC7", members=people), manager)
    clock.freeze(datetime(2026, 12, 1, 9))
    first = None
    for attendee in db.session.scalars(select(Attendee).join(Session, Session.id == Attendee.session_id)
                                       .where(Session.group_id == group.id).order_by(Session.starts_at)):
        first = first or attendee.session_id
        missed = attendee.referral.person_name == "Billie Brown" and attendee.session_id == first
        attendance.record(manager, attendee, outcome="UAAB" if missed else "ATTC")
    ids = {"group_id": group.id}
    db.session.commit()
    return ids


def test_a_lead_closes_a_finished_group(page, finished):  # type: ignore[no-untyped-def]
    sign_in(page, "lead.nw")
    page.goto("/groups")
    row = page.locator("tr", has=page.get_by_role("link", name="BC7"))
    assert row.locator(".govuk-tag").inner_text() == "Finished"
    page.check("04-groups-finished")
    row.get_by_role("link", name="BC7").click()
    page.get_by_role("button", name="Close group BC7").wait_for()
    page.check("05-group-finished")
    page.get_by_role("button", name="Close group BC7").click()
    banner = page.locator(".govuk-notification-banner--success")
    banner.wait_for()
    assert ("Group BC7 closed: 1 programme complete, 1 back on the waiting list to finish in another group."
            in banner.inner_text())
    assert page.locator("h1 .govuk-tag").inner_text() == "Closed"
    assert "Closed on 1 December 2026 by Lee Lead." in page.locator("#group-end").inner_text()
    page.check("06-group-closed")
    assert page.problems == []  # type: ignore[attr-defined]


def test_a_treatment_manager_cancels_a_session_and_changes_who_is_expected(page, started):  # type: ignore[no-untyped-def]
    from app.models import Session

    group_id = started["group_id"]
    session_id = db.session.scalar(select(Session.id).where(Session.group_id == group_id,
                                                            Session.starts_at == datetime(2026, 6, 8, 10)))
    other_id = db.session.scalar(select(Session.id).where(Session.group_id == group_id,
                                                          Session.starts_at == datetime(2026, 6, 1, 10)))
    db.session.rollback()
    sign_in(page, "tm.nw")
    # take someone off one session
    page.goto(f"/sessions/{other_id}")
    page.get_by_role("link", name="Cancel, or change who is expected").click()
    page.get_by_role("heading", name="Change this session").wait_for()
    page.check("07-change-session")
    page.get_by_role("button", name="Take off Billie Brown").click()
    banner = page.locator(".govuk-notification-banner--success")
    banner.wait_for()
    assert "Billie Brown is no longer expected at this session" in banner.inner_text()
    assert page.get_by_label("Add a member of the group").locator("option", has_text="Billie Brown").count() == 1
    page.check("08-taken-off")
    # cancel another, with a reason
    page.goto(f"/sessions/{session_id}/change")
    page.get_by_role("button", name="Cancel this session").click()
    page.locator(".govuk-error-summary").get_by_text("Enter why the session is cancelled").wait_for()
    page.get_by_label("Why is the session cancelled?").fill("The room is not available")
    page.get_by_role("button", name="Cancel this session").click()
    page.locator("#cancelled").wait_for()
    assert "This session was cancelled: The room is not available." in page.locator("#cancelled").inner_text()
    page.check("09-session-cancelled")
    page.goto(f"/groups/{group_id}")
    row = page.locator("tr.app-schedule__cancelled")
    assert row.count() == 1 and "The room is not available" in row.inner_text()
    struck = row.locator(".app-schedule__struck").first.evaluate("el => getComputedStyle(el).textDecorationLine")
    assert struck == "line-through"
    row.scroll_into_view_if_needed()
    page.check("10-schedule-with-cancelled")
    assert page.problems == []  # type: ignore[attr-defined]
