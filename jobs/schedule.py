"""The generation job: a group's whole schedule, in one transaction. A failed attempt is retried (RQ's retries,
jobs.enqueue); the operation is marked failed only when the retries are spent."""
from __future__ import annotations

from rq import get_current_job

from jobs.context import with_app
from jobs.enqueue import enqueue, redis_connection


@with_app
def generate_schedule(operation_id: int) -> None:
    from app.services import schedule

    job = get_current_job()
    retries_left = (job.retries_left or 0) if job is not None else 0
    retry_in = job.get_retry_interval() if job is not None and retries_left else None
    schedule.generate_schedule(operation_id, redis_connection(), retries_left=retries_left, retry_in=retry_in)


def generation_job_id(group_id: int | None) -> str:
    return f"generate-group-{group_id}"


def enqueue_generation(operation_id: int, group_id: int | None) -> None:
    enqueue("jobs.schedule.generate_schedule", operation_id, job_id=generation_job_id(group_id))
