"""The one way work reaches the queue: every job gets a timeout, retries, TTLs and a deterministic id, so
enqueueing the same work twice never runs it twice at once."""
from __future__ import annotations

from typing import Any

from flask import current_app
from redis import Redis
from rq import Queue, Retry
from rq.job import Job

DEFAULT_TIMEOUT = 600
RETRY_INTERVALS = [5, 30, 120]


def redis_connection() -> Redis:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    conn = app.extensions.get("pd_redis")
    if conn is None:
        conn = Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5)
        app.extensions["pd_redis"] = conn
    return conn


def queue() -> Queue:
    return Queue(current_app.config["RQ_QUEUE"], connection=redis_connection())


def enqueue(func: str, *args: Any, job_id: str, timeout: int = DEFAULT_TIMEOUT, retries: int = 3) -> Job:
    """Enqueue `func` (a dotted path) unless a job with this id is already waiting or running."""
    q = queue()
    existing = Job.fetch(job_id, connection=q.connection) if _exists(q, job_id) else None
    if existing is not None and existing.get_status(refresh=True) in ("queued", "started", "deferred",
                                                                      "scheduled"):
        return existing
    return q.enqueue_call(
        func, args=args, job_id=job_id, timeout=timeout,
        retry=Retry(max=retries, interval=RETRY_INTERVALS[:retries]) if retries else None,
        result_ttl=3600, failure_ttl=7 * 24 * 3600, ttl=24 * 3600,
    )


def _exists(q: Queue, job_id: str) -> bool:
    return bool(q.connection.exists(Job.key_for(job_id)))
