from __future__ import annotations

from flask import current_app

from app.services.periodic_runs import recorded
from jobs.context import with_app
from jobs.enqueue import enqueue

FORGET_JOB = "forget-processed-requests"
KEEP_KEYS_DAYS = 7  # a tablet retries within minutes or hours, not weeks


@with_app
def refresh_bank_holidays() -> int:
    from app.services import bank_holidays

    return bank_holidays.refresh(current_app.config["BANK_HOLIDAYS_URL"])


@with_app
@recorded("forget idempotency keys", summary=lambda count: f"{count} keys older than {KEEP_KEYS_DAYS} days dropped")
def forget_processed_requests() -> int:
    """Drop idempotency keys nobody will retry any more, so `processed_request` does not grow for ever."""
    from app.services import idempotency

    return idempotency.forget_older_than(KEEP_KEYS_DAYS)


def queue_forget_processed_requests() -> None:
    enqueue("jobs.maintenance.forget_processed_requests", job_id=FORGET_JOB, timeout=300, retries=1)
