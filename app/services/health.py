"""What the health probe reports of the things the service needs: the database, Redis and the workers."""
from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError
from rq import Queue, Worker
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db


def components(q: Queue) -> dict[str, dict[str, Any]]:
    """The database, Redis and the workers listening on our queue `q` (details HMPPS services also show)."""
    checks: dict[str, dict[str, Any]] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["db"] = {"status": "UP", "details": {"database": db.engine.dialect.name}}
    except SQLAlchemyError as exc:
        checks["db"] = {"status": "DOWN", "details": {"error": type(exc).__name__}}
    finally:
        db.session.rollback()
    try:
        q.connection.ping()
        checks["redis"] = {"status": "UP"}
        workers = Worker.all(queue=q)
        checks["worker"] = {"status": "UP" if workers else "DOWN",
                            "details": {"count": len(workers), "queued": q.count}}
    except RedisError as exc:
        checks["redis"] = {"status": "DOWN", "details": {"error": type(exc).__name__}}
        checks["worker"] = {"status": "UNKNOWN"}
    return checks
