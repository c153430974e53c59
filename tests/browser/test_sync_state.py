"""Issue 15.6 in headless Chromium: a register left open keeps each person's nDelius state up to date by itself
(the tags are swapped out of band every few seconds, nothing else on the page is redrawn, the focus stays), and
the page passes axe-core while it does."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import update

from app.extensions import db
from app.models import NDeliusAppointment, OutboxItem
from tests.browser.journey_kit import axe_violations
from tests.browser.live_server import sign_in
from tests.web.test_sync_state import north  # noqa: F401

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("SCREENSHOTS_DIR")


def test_an_open_register_shows_each_persons_ndelius_state_as_it_changes(touch_page, north):  # type: ignore[no-untyped-def]  # noqa: F811
    page = touch_page
    sign_in(page, "fac.nw")
    page.goto(f"/sessions/{north['session']}")
    billie = page.locator(f"#sync-attendee-{north['billie']}")
    charlie = page.locator(f"#sync-attendee-{north['charlie']}")
    assert billie.inner_text().endswith("Waiting to send to nDelius")
    assert charlie.inner_text().endswith("Needs attention: record the outcome")
    notes = page.locator("textarea").first
    notes.focus()
    notes.type("Started late")

    db.session.execute(update(NDeliusAppointment).where(NDeliusAppointment.attendee_id == north["billie"])
                       .values(sync_state="synced"))
    db.session.execute(update(OutboxItem).values(status="done"))
    db.session.commit()
    page.locator(f'#sync-attendee-{north["billie"]}[data-sync-state="synced"]').wait_for(timeout=15_000)
    assert billie.inner_text().endswith("In nDelius")
    assert page.evaluate("document.activeElement === document.querySelector('textarea')")  # still typing there
    assert notes.input_value() == "Started late"
    assert axe_violations(page) == []
    for width in (1024, 1366):
        page.set_viewport_size({"width": width, "height": 768})
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            charlie.scroll_into_view_if_needed()
            page.screenshot(path=str(Path(SHOTS) / f"register-sync-state-{width}.png"))
