"""The one way work reaches the queue: every job gets a timeout, retries, TTLs and a deterministic id, so
enqueueing the same work twice never runs it twice at once.

A job RQ still calls "started" whose worker is gone (killed, its machine lost) is not running: `live_job` sees
that from the worker's own record (its pid on this machine, else its heartbeat) and `enqueue` then replaces the
dead job under the same id instead of handing it back (jobs.recovery does the same for every job, periodically)."""
from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from typing import Any, cast

from flask import current_app, g, has_request_context
from redis import Redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.utils import utcparse

from app.extensions import redis_connection

DEFAULT_TIMEOUT = 600
RETRY_INTERVALS = [5, 30, 120]
WAITING = (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED)


def queue() -> Queue:
    return Queue(current_app.config["RQ_QUEUE"], connection=redis_connection())


def enqueue(func: str, *args: Any, job_id: str, timeout: int = DEFAULT_TIMEOUT, retries: int = 3) -> Job:
    """Enqueue `func` (a dotted path) unless a job with this id is already waiting or running (on a live
    worker: a job whose worker died is replaced). Queued from a request, the job carries that request's id
    (`job.meta["request_id"]`), which the worker's JSON log lines show (app._JsonFormatter): a change can be
    followed from the web to the job it caused."""
    q = queue()
    existing = live_job(q, job_id)
    if existing is not None:
        return existing
    return q.enqueue_call(
        func, args=args, job_id=job_id, timeout=timeout,
        retry=Retry(max=retries, interval=RETRY_INTERVALS[:retries]) if retries else None,
        result_ttl=3600, failure_ttl=7 * 24 * 3600, ttl=24 * 3600, meta=_request_meta(),
    )


def _request_meta() -> dict[str, Any] | None:
    request_id = g.get("request_id") if has_request_context() else None
    return {"request_id": request_id} if request_id else None


def live_job(q: Queue, job_id: str) -> Job | None:
    """The job with this id if it is waiting, or running on a worker that is alive; None otherwise (a job that
    finished, failed, is missing - Redis flushed - or whose worker is gone, which is then cleared away)."""
    job, alive = find_job(q, job_id)
    return job if alive else None


def find_job(q: Queue, job_id: str) -> tuple[Job | None, bool]:
    """The job with this id (None: there is none) and whether it is alive (see `live_job`)."""
    try:
        job = Job.fetch(job_id, connection=q.connection)
    except NoSuchJobError:
        return None, False
    status = job.get_status(refresh=False)
    if status in WAITING:
        return job, True
    if status == JobStatus.STARTED:
        if not worker_gone(q.connection, job.worker_name):
            return job, True
        forget(q, job)
    return job, False


def forget(q: Queue, job: Job) -> None:
    """Clear away a job whose worker is gone, so its id is free (RQ's own clean-up of it, minutes later, would
    otherwise take the job that replaces it for the dead one)."""
    registry = q.started_job_registry
    stale = [entry for entry in cast(list[bytes], q.connection.zrange(registry.key, 0, -1))
             if entry.decode().rsplit(":", 1)[0] == job.id]
    if stale:
        q.connection.zrem(registry.key, *stale)
    job.delete(remove_from_queue=True)


def worker_gone(connection: Redis, worker_name: str | None, now: datetime | None = None) -> bool:
    """The worker no longer runs: no record of it, its process has ended (it ran on this machine), or it has not
    sent a heartbeat for WORKER_DEAD_AFTER seconds (a live worker sends one every WORKER_HEARTBEAT seconds)."""
    if not worker_name:
        return True
    data = cast(dict[bytes, bytes], connection.hgetall(f"rq:worker:{worker_name}"))
    if not data:
        return True
    hostname, pid = data.get(b"hostname", b"").decode(), data.get(b"pid", b"").decode()
    if hostname == socket.gethostname() and pid.isdigit() and not _process_alive(int(pid)):
        return True
    beat = data.get(b"last_heartbeat")
    if not beat:
        return False  # registering: not yet beating
    last = utcparse(beat.decode()).replace(tzinfo=UTC)
    dead_after = float(current_app.config.get("WORKER_DEAD_AFTER", 35))
    return ((now or datetime.now(UTC)) - last).total_seconds() > dead_after


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process, alive
        return True
    try:  # a killed child not yet waited for by its parent (a zombie) has stopped all the same
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
