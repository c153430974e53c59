"""Signing in and out in a real browser, through the fake HMPPS Auth over HTTP (issue 13): the sign-in page, the
fake's page listing its users, back to the page asked for, sign-out ending both sessions, and a refusal shown in
words. Screenshots at both viewports (the tablet ones are the README's with SCREENSHOTS=1)."""
from __future__ import annotations

import pytest
import requests

from tests.browser.journey_kit import Journey, journey_page, shots_dir, viewport  # noqa: F401
from tests.browser.live_server import live_server  # noqa: F401

pytestmark = pytest.mark.browser


@pytest.fixture
def staff(world):  # type: ignore[no-untyped-def]
    region = world.region("NW", "North West")
    world.user(region, "treatment_manager", "tm.nw", name="Tess Manager")
    world.user(region, "lead", "lead.nw", name="Lee Lead")


def test_signing_in_and_out_through_hmpps_auth(journey_page, viewport, staff, app, tmp_path):  # type: ignore[no-untyped-def]  # noqa: F811
    page = journey_page
    j = Journey(page, "sign-in", viewport, shots_dir("sign-in", viewport, tmp_path))
    page.goto("/referrals")  # not signed in: the sign-in page, which remembers where you were going
    page.get_by_role("heading", name="Sign in").wait_for()
    j.check("sign-in")
    j.press(page.get_by_role("button", name="Sign in", exact=True))
    page.wait_for_url(lambda url: url.startswith(app.config["HMPPS_AUTH_URL"] + "/oauth/authorize"))
    page.get_by_role("heading", name="Sign in to HMPPS Auth").wait_for()
    j.step += 1
    page.screenshot(path=str(j.shots / f"{j.step:02d}-hmpps-auth.png"))
    assert page.get_by_role("button", name="Sign in as lead.nw").is_visible()
    j.press(page.get_by_role("button", name="Sign in as tm.nw", exact=True))
    page.wait_for_url("**/referrals")
    j.check("signed-in")
    assert page.get_by_text("Tess Manager").first.is_visible() or "Tess Manager" in page.content()

    j.press(page.get_by_role("button", name="Sign out"))
    page.get_by_text("You have signed out").wait_for()
    assert page.url.endswith("/login")
    j.check("signed-out")
    state = requests.get(app.config["HMPPS_AUTH_URL"] + "/__state", timeout=5).json()
    assert state["signed_in"] == []  # HMPPS Auth's own session ended too
    j.press(page.get_by_role("button", name="Sign in", exact=True))
    page.get_by_role("button", name="Sign in as tm.nw").wait_for()  # asked who you are again
    j.finish()


def test_a_refused_sign_in_says_why(journey_page, viewport, staff, app, world, tmp_path):  # type: ignore[no-untyped-def]  # noqa: F811
    from tests.fakes.staff import register_staff

    register_staff(app.config["HMPPS_AUTH_URL"], None, username="tm.nw", name="Tess Manager", role=None,
                   region_code=None, authorities=["ROLE_PROBATION"])
    page = journey_page
    j = Journey(page, "sign-in", viewport, tmp_path / "refused")
    page.goto("/login")
    j.press(page.get_by_role("button", name="Sign in", exact=True))
    j.press(page.get_by_role("button", name="Sign in as tm.nw", exact=True))
    page.get_by_text("You are not signed in").wait_for()
    assert page.get_by_text("Your HMPPS Auth account has no Programme Delivery role").is_visible()
    j.check("refused")
    j.finish()
