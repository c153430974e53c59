"""Headless Chromium (issue 15.10): the Facilitators page says the staff come from nDelius and when they were last
read, and tags someone nDelius no longer lists; the new-group form offers only the staff nDelius lists.
Screenshots at 1024×768 and 1366×900 go to SCREENSHOTS_DIR when it is set (SCREENSHOTS_DIR=docs/screenshots/
facilitators-from-ndelius is the README's set)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.extensions import db
from app.models import Facilitator
from app.services import staff
from tests.browser.journey_kit import axe_violations
from tests.browser.live_server import chromium_page, live_server, sign_in  # noqa: F401
from tests.fakes.staff import register_staff

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("SCREENSHOTS_DIR")
HEIGHTS = {1024: 768, 1366: 900}  # a 10-inch tablet in landscape, a laptop


@pytest.fixture
def region(world):  # type: ignore[no-untyped-def]
    code = f"Y{os.getpid() % 1000}"
    north = world.region(code, "Why North")
    for n, name in enumerate(("Priya Shah", "Tom Okafor", "Dee Mensah"), start=1):
        register_staff(os.environ["HMPPS_AUTH_URL"], os.environ["NDELIUS_URL"], username=f"{code}.s{n}", name=name,
                       role="facilitator", region_code=code, region_name="Why North", staff_code=f"{code}S{n}")
    db.session.add(Facilitator(region_id=north.id, name="Gone Person", staff_code=f"{code}S9", team_code="T",
                               email=""))
    db.session.commit()
    world.user(north, "treatment_manager", f"tm.{code.lower()}")
    staff.refresh()
    username = f"tm.{code.lower()}"
    db.session.commit()  # SQLite: no transaction (and so no write lock) may stay open while the browser works
    return username


@pytest.mark.parametrize("width", [1024, 1366])
def test_facilitators_are_the_regions_ndelius_staff(chromium_page, region, width):  # type: ignore[no-untyped-def]  # noqa: F811
    page = chromium_page
    page.set_viewport_size({"width": width, "height": HEIGHTS[width]})
    sign_in(page, region)
    page.goto("/facilitators")
    assert page.locator("#staff-source").inner_text().startswith("The region's staff in nDelius, last read ")
    row = page.get_by_role("row").filter(has_text="Gone Person")
    assert row.get_by_text("No longer in nDelius").is_visible()
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"facilitators-{width}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert axe_violations(page) == []
    page.goto("/groups/new")
    options = page.locator("select[name=lead_facilitator_id] option").all_inner_texts()
    assert [o for o in options if o != "Choose a facilitator"] == ["Dee Mensah", "Priya Shah", "Tom Okafor"]
