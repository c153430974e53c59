from __future__ import annotations

from flask import current_app

from app.services.periodic_runs import recorded
from jobs.context import with_app
from jobs.enqueue import enqueue

FORGET_JOB = "forget-processed-requests"
VERIFY_JOB = "progress-verify"
BANK_HOLIDAYS_JOB = "refresh-bank-holidays"
SHOW_DIFFERENCES = 3  # how many of the differences the integration page lists
KEEP_KEYS_DAYS = 7  # a tablet retries within minutes or hours, not weeks


@with_app
@recorded("bank holidays", summary=lambda count: f"Stored {count} bank holidays from GOV.UK.")
def refresh_bank_holidays() -> int:
    """Fetch GOV.UK's bank holidays; on failure (recorded, retried once) the stored ones stay."""
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


def _verify_summary(result: dict) -> str:
    if not result["differences"]:
        return "Stored progress matches attendance."
    more = result["differences"] - len(result["first"])
    listed = "; ".join(result["first"]) + (f"; and {more} more" if more else "")
    return f"{result['differences']} differences between stored progress and attendance: {listed}"


@with_app
@recorded("progress verify", summary=_verify_summary, failed_if=lambda result: bool(result["differences"]))
def verify_progress() -> dict:
    """`flask progress verify` from the scheduler: recompute everyone's progress from attendance and compare."""
    from app.services import progress

    differences = progress.verify()
    return {"differences": len(differences), "first": [str(d) for d in differences[:SHOW_DIFFERENCES]]}


def queue_verify_progress() -> None:
    enqueue("jobs.maintenance.verify_progress", job_id=VERIFY_JOB, timeout=1800, retries=1)


def queue_refresh_bank_holidays() -> None:
    enqueue("jobs.maintenance.refresh_bank_holidays", job_id=BANK_HOLIDAYS_JOB, timeout=120, retries=1)
