"""The app served over real HTTP on 127.0.0.1 for headless-Chromium journeys, and a Chromium page.

Usage in a browser test module (fixtures defined here are imported, not discovered):

    from tests.browser.live_server import chromium_page, live_server  # noqa: F401

`live_server` serves the test `app` (same database and Redis as the test, so rows the test writes are what the
browser sees) from a background thread and yields its base URL. `chromium_page` is a Playwright page at
1024×768 in Debian's Chromium. The service clock (app.clock.freeze) is shared with the server thread, with the
worker processes (CLOCK_PIN_FILE) and, through `new_context`, with the browser (Playwright's clock API): no
browser test depends on the machine's date."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from app import clock
from app.extensions import db

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def new_context(browser: Any, **options: Any) -> Any:
    """A browser context (English, London time) whose clock is the service clock: Playwright's fake clock is
    installed at the service's "now" and set again whenever a test moves the service clock (time then flows
    on naturally from there). Close it with `close_context`."""
    options.setdefault("locale", "en-GB")
    options.setdefault("timezone_id", "Europe/London")
    return _follow_clock(browser.new_context(**options))


def new_persistent_context(playwright: Any, user_data_dir: str, **options: Any) -> Any:
    """A Chromium whose profile (IndexedDB, service workers, caches) lives in `user_data_dir`, with the clock of
    `new_context`: closing it and making another on the same directory is a browser restart. Close it with
    `close_context` (which ends that browser)."""
    options.setdefault("locale", "en-GB")
    options.setdefault("timezone_id", "Europe/London")
    context = playwright.chromium.launch_persistent_context(
        user_data_dir, executable_path=CHROMIUM, args=CHROMIUM_ARGS, **options)
    return _follow_clock(context)


def _follow_clock(context: Any) -> Any:
    context.clock.install(time=clock.now_aware())

    def follow(at: datetime | None) -> None:
        context.clock.set_system_time(clock.now_aware() if at is None else at.replace(tzinfo=clock.LONDON))

    clock.on_freeze(follow)
    context._follow_service_clock = follow
    return context


def close_context(context: Any) -> None:
    clock.forget_listener(getattr(context, "_follow_service_clock", None))  # type: ignore[arg-type]
    context.close()


def sign_in(page: Any, username: str) -> None:
    """Sign in as a person does: *Sign in* on /login, then choose the user on the fake HMPPS Auth's page (or
    straight through, when this browser is already signed in there), back on the service's first page."""
    page.goto("/login")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(lambda url: "/oauth/authorize" in url or "/login" not in url)
    if "/oauth/authorize" in page.url:
        page.get_by_role("button", name=f"Sign in as {username}", exact=True).click()
        page.wait_for_url(lambda url: "/oauth/authorize" not in url and "/login" not in url)


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def chromium_page(live_server: str):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = new_context(browser, viewport={"width": 1024, "height": 768}, base_url=live_server)
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            close_context(context)
            browser.close()
