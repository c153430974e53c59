"""The app served over real HTTP on 127.0.0.1 for headless-Chromium journeys, and a Chromium page.

Usage in a browser test module (fixtures defined here are imported, not discovered):

    from tests.browser.live_server import chromium_page, live_server  # noqa: F401

`live_server` serves the test `app` (same database and Redis as the test, so rows the test writes are what the
browser sees) from a background thread and yields its base URL. `chromium_page` is a Playwright page at
1024×768 in Debian's Chromium. The service clock (app.clock.freeze) is shared with the server thread."""
from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from werkzeug.serving import make_server

from app.extensions import db

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


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
        context = browser.new_context(viewport={"width": 1024, "height": 768}, base_url=live_server)
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()
