"""A pooled connection is tried before use only after sitting idle (app/__init__.py): one the server dropped
meanwhile is replaced without the request seeing an error, and one in steady use is not tried (no extra round trip on every request)."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app import PING_AFTER_IDLE_SECONDS
from app.extensions import db


@pytest.fixture
def engine(app):  # type: ignore[no-untyped-def]
    if app.config["BACKEND"] != "postgresql":
        pytest.skip("SQLite has no server to drop a connection")
    made = create_engine(db.engine.url, pool_size=1, max_overflow=0)
    yield made
    made.dispose()


def _backend_pid(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_dropped_while_idle_is_replaced_before_use(engine):  # type: ignore[no-untyped-def]
    first = _backend_pid(engine)
    with db.engine.connect() as other:
        assert other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar_one() is True
    record = engine.pool._pool.queue[0]  # the one pooled connection: as if it had sat idle past the limit
    record.info["checked_in_at"] -= PING_AFTER_IDLE_SECONDS + 1
    assert _backend_pid(engine) != first  # no error: a new connection was made


def test_a_connection_in_steady_use_is_not_tried_first(engine):  # type: ignore[no-untyped-def]
    """Not tried (no round trip): so one dropped between two requests fails the next once, as SQLAlchemy's
    disconnect handling says, and the pool has a working connection again for the one after."""
    first = _backend_pid(engine)
    with db.engine.connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    request = Session(bind=engine)  # as a request's session uses it
    with pytest.raises(DBAPIError) as failed:
        request.execute(text("SELECT pg_backend_pid()"))
    assert failed.value.connection_invalidated
    request.rollback()
    request.close()
    assert _backend_pid(engine) != first
