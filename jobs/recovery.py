"""The watchdog: work whose worker is gone is picked up again without a person. `python -m jobs.scheduler` runs
`watch` every RECOVERY_INTERVAL seconds in its own process (it needs no worker to run, only Redis and the
database):

- an operation (a group's generation, a postpone's cascade, new days and times) that is queued or running with
  no live job - its worker was killed, or Redis was flushed or restarted and lost the job - is queued again, and
  its page says "The worker stopped; carrying on". Steps already applied stay applied (a reschedule carries on
  from the first step not applied); a generation starts again (its single transaction was rolled back). After
  MAX_RECOVERIES such restarts the operation is marked failed, with Resume offered, rather than looping;
- any other job RQ still calls "started" whose worker is gone (`jobs.enqueue.worker_gone`) is run again at once
  if it has retries left, otherwise recorded as failed (RQ itself would notice only at its next maintenance,
  every ten minutes);
- nDelius leases need nothing here: a relay renews its short lease before every call, so a dead relay's lease
  ends within a minute and the next relay claims the rows; the dead relay job itself is replaced by `enqueue`.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import cast

from flask import current_app
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.job_lifecycle import record_job_failure
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.models import Operation
from app.models.base import utcnow
from app.services import operations
from app.services.periodic_runs import recorded
from app.services.schedule_guard import ACTIVE, BLOCKING_KINDS
from jobs.enqueue import find_job, queue, redis_connection, worker_gone

log = logging.getLogger(__name__)
RECOVERED = "The worker stopped; carrying on"  # the page's words (operations/progress.html)
MAX_RECOVERIES = 5


def _summary(result: dict[str, int]) -> str:
    if not (result["operations"] or result["jobs"]):
        return "Nothing stuck"
    return (f"Picked up again: {result['operations']} operations and {result['jobs']} other jobs whose worker "
            "was gone")


@recorded("recovery", summary=_summary)
def watch() -> dict[str, int]:
    """One look: the operations queued again and the other jobs run again (or failed) because their worker was
    gone."""
    q = queue()
    try:
        recovered = recover_operations(q)
    except SQLAlchemyError:
        db.session.rollback()
        raise
    reaped = reap(q)
    if recovered or reaped:
        log.warning("recovery: %d operations and %d jobs whose worker was gone picked up again", recovered, reaped)
    return {"operations": recovered, "jobs": reaped}


def job_id_for(kind: str, operation_id: int, group_id: int | None) -> str:
    from jobs.reschedule import reschedule_job_id
    from jobs.schedule import generation_job_id

    return generation_job_id(group_id) if kind == "generate" else reschedule_job_id(operation_id)


def recover_operations(q: Queue) -> int:
    """Operations queued or running whose job is gone: its worker stopped, it is no longer in Redis (flushed or
    restarted), or it ended without finishing the operation. One queued in the last RECOVERY_GRACE seconds with
    no job yet is left alone (its request may be about to enqueue it)."""
    recent = utcnow() - timedelta(seconds=float(current_app.config.get("RECOVERY_GRACE", 5)))
    candidates = list(db.session.execute(
        select(Operation.id, Operation.kind, Operation.group_id, Operation.updated_at)
        .where(Operation.kind.in_(BLOCKING_KINDS), Operation.status.in_(ACTIVE)).order_by(Operation.id)))
    db.session.rollback()
    count = 0
    for operation_id, kind, group_id, updated_at in candidates:
        job, alive = find_job(q, job_id_for(kind, operation_id, group_id))
        if alive or (job is None and updated_at is not None and updated_at >= recent):
            continue
        if _carry_on(operation_id):
            count += 1
    return count


def _carry_on(operation_id: int) -> bool:
    """Queue the operation's job again (its row locked and read afresh: it may have just finished)."""
    operation = db.session.scalars(select(Operation).where(Operation.id == operation_id)
                                   .with_for_update().execution_options(populate_existing=True)).one()
    if operation.status not in ACTIVE:
        db.session.rollback()
        return False
    result = dict(operation.result or {})
    times = int(result.get("recovered", 0)) + 1
    if times > MAX_RECOVERIES:
        operation.status = "failed"
        operation.error = (f"The worker stopped {times - 1} times while doing this, so it was not tried again. "
                           + ("Sessions already moved stay moved; resume it to move the rest."
                              if operation.kind != "generate" else "Try starting the group again."))
        db.session.commit()
        return False
    result["recovered"] = times
    operation.result = result
    operation.message = "Waiting to carry on"
    kind, operation_id, group_id = operation.kind, operation.id, operation.group_id
    db.session.commit()
    operations.forget_live(redis_connection(), operation_id)
    log.warning("recovery: %s operation %s had lost its worker; queued again (%d)", kind, operation_id, times)
    if kind == "generate":
        from jobs.schedule import enqueue_generation

        enqueue_generation(operation_id, group_id)
    else:
        from jobs.reschedule import enqueue_reschedule

        enqueue_reschedule(operation_id)
    return True


def reap(q: Queue) -> int:
    """Jobs RQ calls started whose worker is gone: run again at once while retries are left, else failed."""
    registry = q.started_job_registry
    count = 0
    for job_id in dict.fromkeys(registry.get_job_ids(cleanup=False)):
        try:
            job = Job.fetch(job_id, connection=q.connection)
        except NoSuchJobError:
            continue
        if job.get_status(refresh=False) != JobStatus.STARTED or not worker_gone(q.connection, job.worker_name):
            continue
        stale = [entry for entry in cast(list[bytes], q.connection.zrange(registry.key, 0, -1))
                 if entry.decode().rsplit(":", 1)[0] == job.id]
        if stale:
            q.connection.zrem(registry.key, *stale)
        if job.retries_left:
            job.retries_left -= 1
            q.enqueue_job(job)
        else:
            with q.connection.pipeline() as pipeline:
                record_job_failure(job, "the worker stopped while running it", pipeline)
                pipeline.execute()
        count += 1
    return count
