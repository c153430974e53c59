"""A fake GOV.UK bank holidays endpoint over real HTTP: ``GET /bank-holidays.json``.

    fake = start_fake_govuk(payload={...}, status=200)   # payload defaults to the shipped snapshot
    fetch_govuk(fake.url); fake.stop()

``raw`` (bytes) replaces the JSON body (e.g. to serve HTML); ``delay`` (s) holds the answer back, to test
timeouts. ``set(...)`` changes any of them while running; ``requests`` counts the GETs served.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).resolve().parents[2] / "app" / "data" / "bank-holidays.json"


class FakeGovUK:
    def __init__(
        self,
        payload: Any = None,
        status: int = 200,
        *,
        raw: bytes | None = None,
        delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.payload = payload if payload is not None else json.loads(SNAPSHOT.read_text(encoding="utf-8"))
        self.status, self.raw, self.delay = status, raw, delay
        self.requests = 0
        self._stopping = threading.Event()
        self.server = ThreadingHTTPServer((host, port), _Handler)
        self.server.daemon_threads = True
        self.server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-govuk", daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        return self.base_url + "/bank-holidays.json"

    def set(self, **changes: Any) -> None:
        for name, value in changes.items():
            if name not in ("payload", "status", "raw", "delay"):
                raise ValueError(f"unknown setting {name!r}")
            setattr(self, name, value)

    def stop(self) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        fake: FakeGovUK = self.server.fake  # type: ignore[attr-defined]
        if self.path.split("?")[0] != "/bank-holidays.json":
            self.send_error(404)
            return
        fake.requests += 1
        if fake.delay:
            fake._stopping.wait(fake.delay)
        body = fake.raw if fake.raw is not None else json.dumps(fake.payload).encode()
        try:
            self.send_response(fake.status)
            self.send_header("Content-Type", "application/json" if fake.raw is None else "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


def start_fake_govuk(payload: Any = None, status: int = 200, **options: Any) -> FakeGovUK:
    return FakeGovUK(payload, status, **options)
