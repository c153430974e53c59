"""Journey in headless Chromium (issue 15.3): a treatment manager records what a person cannot do on the
person's page, and Find a group says which of it stops a group. Screenshots at 1024×768 and 1366×900 go to
SCREENSHOTS_DIR when it is set (SCREENSHOTS_DIR=docs/screenshots/treatment-manager/needs is the README's set)."""
from __future__ import annotations

import os
from datetime import datetime, time
from pathlib import Path

import pytest

from app import clock
from app.extensions import db
from app.scheduling import Slot
from tests.browser.journey_kit import axe_violations
from tests.browser.live_server import chromium_page, live_server, sign_in  # noqa: F401

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("SCREENSHOTS_DIR")
HEIGHTS = {1024: 768, 1366: 900}  # a 10-inch tablet in landscape, a laptop


@pytest.fixture
def region(world):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 3, 1, 9))
    north = world.region("NW", "North West")
    manager = world.user(north, "treatment_manager", "tm.nw")
    jordan = world.referral(north, "Jordan Smith", "N123456")
    world.referral(north, "Casey Jones", "N123457")
    world.group(manager, "MON1")
    world.group(manager, "THU1", slots=(Slot(3, time(14)),))
    ids = {"jordan": jordan.id}
    db.session.commit()  # SQLite: no transaction (and so no write lock) may stay open while the browser works
    return ids


@pytest.mark.parametrize("width", [1024, 1366])
def test_record_what_they_cannot_do_and_find_a_group_says_why(chromium_page, region, width):  # type: ignore[no-untyped-def]  # noqa: F811
    page = chromium_page
    page.set_viewport_size({"width": width, "height": HEIGHTS[width]})
    sign_in(page, "tm.nw")
    page.goto(f"/people/{region['jordan']}")
    page.get_by_role("link", name="Change what Jordan Smith cannot do").click()
    page.get_by_label("Day").select_option("Monday")
    page.get_by_label("From").fill("09:00")
    page.get_by_label("Until").fill("17:00")
    page.get_by_label("Why (for example work or childcare)").fill("Works at the depot")
    page.get_by_role("button", name="Add time").click()
    page.get_by_text("Jordan Smith cannot attend on Mondays 09:00–17:00 (Works at the depot)").wait_for()
    page.get_by_label("CRN of the person").fill("N123457")
    page.get_by_label("Why they must not be in a group together").fill("Co-defendants")
    page.get_by_role("button", name="Add non-association").click()
    page.get_by_text("Jordan Smith and Casey Jones will not be put in a group together").wait_for()
    assert page.locator("#times").is_visible()
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"what-they-cannot-do-{width}.png"), full_page=True)
    # no horizontal scrolling at either width, and nothing serious for axe-core
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert axe_violations(page) == []

    page.goto(f"/referrals/{region['jordan']}/groups")
    assert page.locator("#fitting-groups").get_by_role("link", name="THU1").is_visible()
    page.get_by_text("Other groups (1) and why they are not listed").click()
    reason = page.get_by_text("Group MON1 meets on Monday 10:00–12:30, when Jordan Smith cannot attend "
                              "(Mondays 09:00–17:00: Works at the depot)")
    reason.wait_for()
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"find-a-group-says-why-{width}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert axe_violations(page) == []
    # a mistake is shown in the error summary and at the field, the page titled "Error: …"
    page.goto(f"/people/{region['jordan']}/needs")
    page.get_by_label("Day").select_option("Tuesday")
    page.get_by_label("From").fill("17:00")
    page.get_by_label("Until").fill("09:00")
    page.get_by_label("Why (for example work or childcare)").fill("Night shift")
    page.get_by_role("button", name="Add time").click()
    assert page.title().startswith("Error: What Jordan Smith cannot do")
    assert page.locator(".govuk-error-summary").get_by_role("link", name="The end time must be after the start "
                                                                         "time").is_visible()
    assert axe_violations(page) == []
