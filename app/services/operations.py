"""Operations: the record a person watches while a background job works.

Progress inside a job's single transaction cannot be committed to the Operation row without committing the
work itself, so live progress is also published to Redis; the row holds the durable state."""
from __future__ import annotations

import logging
from typing import cast

from redis import Redis
from redis.exceptions import RedisError

from app.extensions import db, redis_connection
from app.models import Operation, User

log = logging.getLogger(__name__)
LIVE_TTL_SECONDS = 3600


def _key(operation_id: int) -> str:
    return f"operation:{operation_id}:progress"


def report_live(redis: Redis | None, operation: Operation, done: int, total: int, message: str) -> None:
    if redis is None:
        return
    try:
        redis.hset(_key(operation.id), mapping={"done": done, "total": total, "message": message})
        redis.expire(_key(operation.id), LIVE_TTL_SECONDS)
    except RedisError:
        log.warning("live progress not published", exc_info=True)


def live_progress(redis: Redis | None, operation: Operation) -> tuple[int, int, str | None]:
    """done/total/message: the live figures while running, else the stored ones."""
    if redis is not None and operation.status == "running":
        try:
            data = cast(dict[bytes, bytes], redis.hgetall(_key(operation.id)))
        except RedisError:
            data = {}
        if data:
            return int(data[b"done"]), int(data[b"total"]), data[b"message"].decode()
    return operation.done, operation.total, operation.message


def fail(operation_id: int, error: str) -> None:
    """Record a failure in a fresh transaction (the job's own work has been rolled back)."""
    db.session.rollback()
    operation = db.session.get(Operation, operation_id)
    if operation is None:
        return
    operation.status = "failed"
    operation.error = error
    db.session.commit()


def forget_live(redis: Redis | None, operation_id: int) -> None:
    """Drop the live figures (a worker that stopped left them): the page shows the stored row until the job that
    carries on publishes its own."""
    if redis is None:
        return
    try:
        redis.delete(_key(operation_id))
    except RedisError:
        log.warning("live progress not cleared", exc_info=True)


def get_operation(user: User, operation_id: int) -> Operation | None:
    """The operation if the user may watch it: their region's (admins: any)."""
    operation = db.session.get(Operation, operation_id)
    if operation is None or (user.role != "admin" and operation.region_id != user.region_id):
        return None
    return operation


def progress(operation: Operation) -> dict[str, object]:
    """What a progress bar shows: the live figures while running, a full bar once it has succeeded."""
    done, total, message = live_progress(redis_connection(), operation)
    percent = 100 if operation.status == "succeeded" else (int(100 * done / total) if total else 0)
    return {"operation": operation, "done": done, "total": total, "message": message, "percent": percent}
