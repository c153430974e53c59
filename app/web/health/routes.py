from __future__ import annotations

from flask import Blueprint, jsonify
from redis.exceptions import RedisError
from rq import Worker
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from jobs.enqueue import queue

bp = Blueprint("health", __name__)


@bp.route("/health")
def health():  # type: ignore[no-untyped-def]
    """Database, Redis and worker state for probes. 200 when the database and Redis answer."""
    checks: dict[str, dict] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = {"status": "ok", "dialect": db.engine.dialect.name}
    except SQLAlchemyError as exc:
        checks["database"] = {"status": "error", "error": type(exc).__name__}
    finally:
        db.session.rollback()
    try:
        q = queue()
        q.connection.ping()
        checks["redis"] = {"status": "ok"}
        workers = Worker.all(queue=q)
        checks["worker"] = {"status": "ok" if workers else "none", "count": len(workers), "queued": q.count}
    except RedisError as exc:
        checks["redis"] = {"status": "error", "error": type(exc).__name__}
        checks["worker"] = {"status": "unknown"}
    healthy = checks["database"]["status"] == "ok" and checks["redis"]["status"] == "ok"
    return jsonify(status="ok" if healthy else "error", **checks), (200 if healthy else 503)
