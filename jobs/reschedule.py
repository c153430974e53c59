"""The reschedule job: apply a stored plan (a postpone's cascade, or a group's new days and times) step by
step. Safe to run again after the worker dies at any point: applied steps are never applied twice."""
from __future__ import annotations

from flask import current_app
from rq import get_current_job

from jobs.context import with_app
from jobs.enqueue import enqueue, redis_connection


@with_app
def apply_reschedule(operation_id: int) -> None:
    from app.services import reschedule

    try:
        reschedule.apply_plan(operation_id, redis_connection(),
                              step_delay=float(current_app.config.get("RESCHEDULE_STEP_DELAY", 0)))
    except Exception as exc:
        job = get_current_job()
        if job is None or not job.retries_left:
            reschedule.stopped(operation_id, f"The reschedule stopped part-way ({type(exc).__name__}). "
                                             "Sessions already moved stay moved; resume it to move the rest.")
        raise


def reschedule_job_id(operation_id: int) -> str:
    return f"reschedule-{operation_id}"


def enqueue_reschedule(operation_id: int, attempt: str = "") -> None:
    """A deterministic job id per operation, so a double submit (or a resume while it still runs) queues it
    once; `attempt` names a further copy (tests of at-least-once delivery)."""
    job_id = reschedule_job_id(operation_id) + (f"-{attempt}" if attempt else "")
    enqueue("jobs.reschedule.apply_reschedule", operation_id, job_id=job_id)
