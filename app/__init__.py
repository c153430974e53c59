"""Programme Delivery: run the Building Choices accredited programme for groups of People on Probation."""
from __future__ import annotations

import json
import logging
import secrets
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import Pool

from app.config import DEMO_SECRET_KEY, Config
from app.extensions import csrf, db, login_manager, migrate


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=False)
    app.config.from_object(Config())
    if overrides:
        app.config.update(overrides)
    _check_settings(app)

    _configure_logging(app)
    if app.config.get("PROXY_HOPS"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()))
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to continue."
    login_manager.login_message_category = "info"

    from app.web import input_bounds, region_cache, register_blueprints

    input_bounds.init_app(app)  # before the blueprints: every <int:id> is bounded
    register_blueprints(app)
    from app.web import restricted

    restricted.init_app(app)  # LAO: restricted people are masked on every page
    region_cache.init_app(app)
    _security_headers(app)

    from app.cli import register_cli

    register_cli(app)
    from app import models  # noqa: F401  (tables registered for Alembic)
    from app.services import (
        events_out,  # noqa: F401  (every referral status change is announced)
        outbox,  # noqa: F401  (a commit that wrote nDelius outbox rows queues a relay)
    )

    return app


SETTINGS_EXIT_STATUS = 3
MISSING_SECRET_KEY = ("error: SECRET_KEY is not set; set it to a long random value "
                      "(python -c 'import secrets; print(secrets.token_hex(32))'), or DEMO_MODE=true for a local demo")


def _check_settings(app: Flask) -> None:
    """Production-safe by default: outside demo mode (DEMO_MODE, set by `make run` and the tests) or a test app
    (TESTING), no SECRET_KEY means no start - one line on stderr, then exit (web, worker, scheduler,
    listener and `flask` commands alike), never a well-known development key signing real sessions. The exit
    status is 3, which gunicorn's master takes as "worker failed to boot" and stops, rather than restarting
    workers that can never start."""
    if app.config.get("SECRET_KEY"):
        return
    if app.config.get("DEMO_MODE") or app.config.get("TESTING"):
        app.config["SECRET_KEY"] = DEMO_SECRET_KEY
        return
    print(MISSING_SECRET_KEY, file=sys.stderr, flush=True)
    raise SystemExit(SETTINGS_EXIT_STATUS)


def _migrations_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "migrations"


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """SQLite: WAL so readers never block the writer, foreign keys enforced, wait rather than fail on a lock."""
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
    # Transactions are begun by SQLAlchemy (_sqlite_begin below), not implicitly by the driver.
    dbapi_connection.isolation_level = None


PING_AFTER_IDLE_SECONDS = 10.0


@event.listens_for(Pool, "checkin")
def _note_checkin(dbapi_connection: Any, connection_record: Any) -> None:
    connection_record.info["checked_in_at"] = time.monotonic()


@event.listens_for(Pool, "checkout")
def _ping_if_idle(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
    """A connection that has sat in the pool for a while is tried before it is used (the server may have
    restarted or dropped it); a dead one is replaced (DisconnectionError: the pool connects afresh, up to three
    times). One in steady use is not: pool_pre_ping's ping on every checkout was one more round trip and
    statement on every request. A connection that dies while in steady use fails its request once, and the pool
    then replaces every connection it holds (SQLAlchemy's disconnect handling)."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        return
    idle_since = connection_record.info.get("checked_in_at")
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
        return
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
        dbapi_connection.rollback()
    except Exception as error:  # any failure: the connection is not to be trusted
        raise DisconnectionError() from error


# Requests with these methods only read: on SQLite their transactions begin deferred (see _sqlite_begin).
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _may_write() -> bool:
    """Whether a transaction beginning now may write: any outside a request (jobs, the CLI), and a request's
    unless it is a read (GET, HEAD). A read view that must write says so with `g.db_writes = True` first."""
    if not has_request_context():
        return True
    return request.method not in READ_ONLY_METHODS or bool(g.get("db_writes"))


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn: Connection) -> None:
    """SQLite: a transaction that may write takes the write lock as it begins (BEGIN IMMEDIATE), so two writers
    queue (busy_timeout) instead of one failing half-way with "database is locked" when it upgrades a read lock.
    A page read begins a deferred transaction: in WAL mode it reads a snapshot and never holds the write lock,
    so an attendance tap never waits behind page renders."""
    if conn.dialect.name == "sqlite":
        immediate = _may_write()
        conn.info["sqlite_read_only"] = not immediate
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@event.listens_for(Engine, "before_cursor_execute")
def _sqlite_write_in_read(conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any,
                          executemany: bool) -> None:
    """A write inside a deferred (read) transaction works, but could fail with "database is locked" when another
    writer commits first: say so, so that the view is marked (`g.db_writes = True`)."""
    if conn.info.get("sqlite_read_only") and statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE") \
            and has_request_context():
        logging.getLogger("app.db").warning(
            "write in a read-only request's transaction", extra={"event": "write_in_read_transaction",
                                                                 "path": request.path, "method": request.method})


@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _sqlite_end(conn: Connection) -> None:
    # Not for other databases: the rollback of a connection the server dropped must not touch conn.info, which
    # then raises PendingRollbackError (the request's rollback would fail in turn; tests/integration/test_pool_ping.py).
    if conn.dialect.name == "sqlite" and not conn.invalidated:
        conn.info.pop("sqlite_read_only", None)


def _security_headers(app: Flask) -> None:
    @app.before_request
    def _nonce() -> None:
        g.csp_nonce = secrets.token_urlsafe(16)
        g.request_id = request.headers.get("X-Request-Id", "")[:64] or secrets.token_hex(8)

    app.jinja_env.globals["csp_nonce"] = lambda: g.get("csp_nonce", "")

    @app.after_request
    def _headers(response: Response) -> Response:
        nonce = g.get("csp_nonce", "")
        # Sign-out is a form whose answer redirects to HMPPS Auth's sign-out: form-action must allow it.
        auth = urlsplit(app.config["HMPPS_AUTH_EXTERNAL_URL"])
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; "
            f"script-src 'self' 'nonce-{nonce}'; "
            "style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; "
            f"object-src 'none'; base-uri 'self'; form-action 'self' {auth.scheme}://{auth.netloc}; "
            "frame-ancestors 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        # Same-origin requests keep a full Referer, which Flask-WTF's HTTPS referrer check needs.
        response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["X-Request-Id"] = g.get("request_id", "")
        response.headers["X-Frame-Options"] = "DENY"
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if not request.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record), "level": record.levelname, "logger": record.name,
            "message": record.getMessage(),  # json.dumps escapes newlines and control characters
        }
        if has_request_context():
            payload["request_id"] = g.get("request_id")
        else:
            _job_fields(payload)
        for key in ("event", "user_id", "role", "path", "method"):
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload)


def _job_fields(payload: dict[str, Any]) -> None:
    """In an RQ job: its id, and the id of the request that queued it (jobs.enqueue puts it in the job's meta),
    so one request id follows a change from the web into the worker."""
    from rq import get_current_job

    job = get_current_job()
    if job is None:
        return
    payload["job_id"] = job.id
    request_id = (job.meta or {}).get("request_id")
    if request_id:
        payload["request_id"] = request_id


def _configure_logging(app: Flask) -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_programme_delivery", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_JsonFormatter())
        handler._programme_delivery = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(app.config["LOG_LEVEL"])
