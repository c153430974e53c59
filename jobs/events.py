"""Domain-event jobs. Like the nDelius relay, a job carries no work, only the instruction to look at the
outbox: losing a queued job loses nothing."""
from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

from app.services.periodic_runs import recorded
from jobs.context import with_app
from jobs.enqueue import enqueue

log = logging.getLogger(__name__)
PUBLISH_JOB = "domain-events-publish"
CASE_REFRESH_JOB = "case-refresh-{referral_id}"


@with_app
@recorded("domain events")
def publish() -> dict[str, Any]:
    from app.services import events_publish

    return events_publish.drain(budget=60).as_dict()


def queue_publish() -> bool:
    try:
        enqueue("jobs.events.publish", job_id=PUBLISH_JOB, timeout=120, retries=0)
    except RedisError:
        log.warning("domain-event publisher not queued (Redis unavailable); the scheduler will queue it")
        return False
    return True


def queue_publish_if_due() -> bool:
    """The scheduler's tick: queue the publisher only when the outbox holds due events."""
    from app.extensions import db
    from app.services import events_publish

    is_due = events_publish.due()
    db.session.rollback()
    return queue_publish() if is_due else False


CASE_REFRESH_RETRY_SECONDS = 300


@with_app
def refresh_case(referral_id: int) -> dict[str, Any]:
    """Ask nDelius for a person's case again (after it was down when the referral arrived); while it still
    cannot answer, ask again later - the referral's own details are used meanwhile."""
    from app.services import case_data

    result = case_data.refresh(referral_id)
    if not result.checked and result.error and "could not be asked" in result.error:
        queue_case_refresh(referral_id, delay_seconds=CASE_REFRESH_RETRY_SECONDS)
    return result.as_dict()


def queue_case_refresh(referral_id: int, *, delay_seconds: int = 0) -> bool:
    from datetime import timedelta

    from jobs.enqueue import queue

    try:
        job_id = CASE_REFRESH_JOB.format(referral_id=referral_id)
        if delay_seconds:
            queue().enqueue_in(timedelta(seconds=delay_seconds), "jobs.events.refresh_case", referral_id,
                               job_id=job_id, job_timeout=120, result_ttl=3600, failure_ttl=7 * 24 * 3600)
        else:
            enqueue("jobs.events.refresh_case", referral_id, job_id=job_id, timeout=120, retries=3)
    except RedisError:
        log.warning("case refresh for referral %s not queued (Redis unavailable)", referral_id)
        return False
    return True
