"""What the role journeys (test_journeys.py), the keyboard and colour checks (test_accessibility.py) and the
poor-connection test share: the two viewports, a Chromium page at either, signing in, numbered screenshots and
axe-core.

    from tests.browser.journey_kit import Journey, journey_page, shots_dir, viewport  # noqa: F401

    def test_x(journey_page, viewport, tmp_path):
        j = Journey(journey_page, "lead", viewport, shots_dir("lead", viewport, tmp_path))
        j.sign_in("lead.nw"); ...; j.check("dashboard"); ...; j.finish()

Viewports: "tablet" is a 10-inch tablet in landscape (1024×768, touch screen, not a phone); "laptop" is
1366×900 with a mouse. Screenshots of the tablet runs are the README's set (docs/screenshots/<role>/tablet/);
(regenerate the README's set with SCREENSHOTS=1; otherwise screenshots go to the test's tmp directory).

axe-core is the copy pinned with axe-playwright-python (axe.min.js inside the installed package, no network);
every page a journey visits is checked and may have no serious or critical violation. It runs on the tablet
journeys only: the laptop pages are the same documents with the same styles (both viewports are past GOV.UK's
desktop breakpoint), so a second audit would find the same things and take time.

Like every browser test, the journeys run on one database (tests/browser/conftest.py)."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.live_server import CHROMIUM, CHROMIUM_ARGS, close_context, new_context, sign_in

ROOT = Path(__file__).resolve().parents[2]
README_SHOTS = ROOT / "docs" / "screenshots"
VIEWPORTS: dict[str, dict[str, Any]] = {
    "tablet": {"viewport": {"width": 1024, "height": 768}, "has_touch": True, "is_mobile": False},
    "laptop": {"viewport": {"width": 1366, "height": 900}, "has_touch": False, "is_mobile": False},
}
SERIOUS = ("serious", "critical")


def axe_script() -> str:
    from axe_playwright_python.base import AXE_FILE_PATH

    return AXE_FILE_PATH.read_text(encoding="utf-8")


def axe_violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    """The serious and critical axe-core violations on the page as it is now, one line each (rule, impact, the
    first offending elements and why).

    A page that polls (a progress bar redrawn every second) can be caught mid-swap, dimmed for a moment, which
    axe would report as low contrast. So a page with findings is looked at once more after it has settled
    again, and only what is found both times counts: a real problem is there on every look."""
    first = _axe_run(page)
    if not first:
        return []
    second = _axe_run(page)
    return [line for key, line in first.items() if key in second]


def _axe_run(page) -> dict[tuple[str, str], str]:  # type: ignore[no-untyped-def]
    # Not while HTMX is swapping something in (it dims what it replaces for a moment), nor mid-transition
    page.wait_for_function("""() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')
        && document.getAnimations().every(a => a.playState !== 'running')""")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe_script())
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    found = {}
    for violation in result["violations"]:
        if violation["impact"] not in SERIOUS:
            continue
        for node in violation["nodes"][:3]:
            found[(violation["id"], str(node["target"]))] = (
                f"{violation['id']} ({violation['impact']}) at {node['target']}: "
                f"{node.get('failureSummary', '').splitlines()[-1].strip()} — {node['html'][:160]}")
    return found


class Journey:
    """One person's journey on one viewport: the page, their sign-in, and a numbered screenshot plus an axe-core
    check at every step."""

    def __init__(self, page, role: str, viewport: str, shots: Path) -> None:  # type: ignore[no-untyped-def]
        self.page, self.role, self.viewport, self.shots = page, role, viewport, shots
        self.step = 0
        self.audit = viewport == "tablet"
        for old in shots.glob("*.png"):  # a renamed or dropped step leaves no stale picture behind
            old.unlink()
        self.problems: list[str] = []
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    @property
    def touch(self) -> bool:
        return self.viewport == "tablet"

    def sign_in(self, username: str) -> None:
        self.page.goto("/login")
        self.check("sign-in", shot=False)
        sign_in(self.page, username)

    def press(self, locator) -> None:  # type: ignore[no-untyped-def]
        """A tap on the tablet, a click on the laptop."""
        if self.touch:
            locator.tap()
        else:
            locator.click()

    def check(self, name: str, *, show=None, shot: bool = True) -> None:  # type: ignore[no-untyped-def]
        """Step NN: a screenshot of what the person sees (the window, scrolled to `show` if given) and an
        axe-core check of the whole page. Problems are collected and reported together at the end."""
        self.step += 1 if shot else 0
        self.page.wait_for_load_state("load")
        if show is not None:
            show.evaluate("el => el.scrollIntoView({block: 'start'})")
        if shot:
            self.shots.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(self.shots / f"{self.step:02d}-{name}.png"))
        if self.audit:
            self.problems += [f"{self.step:02d}-{name} {self.page.url}: {line}" for line in axe_violations(self.page)]

    def finish(self) -> None:
        assert self.errors == [], f"JavaScript errors: {self.errors}"
        assert self.problems == [], "axe-core found serious or critical problems:\n" + "\n".join(self.problems)


def shots_dir(role: str, viewport: str, tmp_path: Path) -> Path:
    """With SCREENSHOTS=1 the tablet ones go to docs/screenshots/<role>/tablet (the README's set; SCREENSHOTS=all
    adds the laptop ones); otherwise everything goes to the test's tmp directory, so a test run leaves the
    checkout unchanged."""
    wanted = os.environ.get("SCREENSHOTS", "")
    if wanted == "all" or (viewport == "tablet" and wanted == "1"):
        return README_SHOTS / role / viewport
    return tmp_path / "screenshots" / role / viewport


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def journey_page(live_server: str, viewport: str) -> Iterator[Any]:
    """A Chromium page at the viewport, with downloads allowed."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = new_context(browser, base_url=live_server, accept_downloads=True, **VIEWPORTS[viewport])
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            yield page
        finally:
            close_context(context)
            browser.close()
