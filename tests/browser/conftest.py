"""Browser journeys: the app over real HTTP (tests/browser/live_server.py), a real RQ worker process, and a
touch-capable Chromium page at tablet size.

    def test_something(live_server, rq_worker, touch_page): ...

`rq_worker` runs `python -m jobs.worker` (the production forking worker) against the test's database, Redis and
queue, so jobs the browser starts really run in the background; extra settings for it come from the
`worker_env` fixture (override it in a module, e.g. to slow a job down). The service clock (app.clock.freeze)
is shared with the server thread, the worker process (CLOCK_PIN_FILE, inherited) and the browser."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.browser.live_server import (  # noqa: F401
    CHROMIUM,
    CHROMIUM_ARGS,
    chromium_page,
    close_context,
    live_server,
    new_context,
)

ROOT = Path(__file__).resolve().parents[2]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_databases: a browser test that also runs on the second database")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run on one database, the first of TEST_DATABASES (SQLite by default; the live server serves
    that backend's app): what they add is the browser side, and every route and service under them is tested on
    both databases in tests/web and tests/integration. A test whose point is what the database does (e.g. a
    retried request applied exactly once) is marked `both_databases`."""
    from tests.conftest import BACKENDS

    here = Path(__file__).parent
    kept, dropped = [], []
    for item in items:
        backend = getattr(item, "callspec", None) and item.callspec.params.get("_app")
        if (backend and backend != BACKENDS[0] and here in Path(str(item.path)).parents
                and item.get_closest_marker("both_databases") is None):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture
def worker_env() -> dict[str, str]:
    return {}


@pytest.fixture
def rq_worker(app: Flask, worker_env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen]:
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=app.config["REDIS_URL"],
               RQ_QUEUE=app.config["RQ_QUEUE"], LOG_LEVEL="WARNING", **worker_env)
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = subprocess.Popen([sys.executable, "-m", "jobs.worker"], cwd=ROOT, env=env, stdout=log,
                                  stderr=log, start_new_session=True)
    try:
        yield worker
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)


@pytest.fixture
def touch_page(live_server: str):  # type: ignore[no-untyped-def]  # noqa: F811
    """A Chromium page at 1024×768 (a 10-inch tablet, landscape) with a touch screen."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = new_context(browser, viewport={"width": 1024, "height": 768}, base_url=live_server,
                              has_touch=True)
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            yield page
        finally:
            close_context(context)
            browser.close()


def touch_drag(page, start: tuple[float, float], end: tuple[float, float], steps: int = 12) -> None:  # type: ignore[no-untyped-def]
    """A finger pressed at `start`, moved to `end` and lifted (Chrome DevTools touch events, which Chromium turns
    into touch and pointer events as a real touch screen would).

    The events are stamped as they arrive, a few milliseconds apart: a quick flick of a drop. Chromium reads a
    flick as a fling, and before calendar.js consumed a dragging finger's moves, the next tap (the dialog's
    Confirm) only stopped that fling and clicked nothing (issue 12.1). So this is the hard case on purpose."""
    cdp = page.context.new_cdp_session(page)
    (x0, y0), (x1, y1) = start, end
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x0, "y": y0}]})
    for i in range(1, steps + 1):
        x, y = x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()
