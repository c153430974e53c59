"""Facilitators are the region's nDelius staff (issue 15.10): the scheduler queues `refresh_staff` every
STAFF_REFRESH_INTERVAL seconds (deterministic id: never two at once)."""
from __future__ import annotations

from app.services.periodic_runs import recorded
from jobs.context import with_app
from jobs.enqueue import enqueue

REFRESH_JOB = "refresh-staff"


@with_app
@recorded("staff", summary=lambda lines: "; ".join(lines) or "no regions")
def refresh_staff() -> list[str]:
    from app.services import staff

    return [result.summary() for result in staff.refresh()]


def queue_staff_refresh() -> None:
    enqueue("jobs.staff.refresh_staff", job_id=REFRESH_JOB, timeout=300, retries=1)
