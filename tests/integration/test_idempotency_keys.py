"""Idempotency keys are forgotten once nobody will retry them: the scheduler's daily job drops keys older than
a week and keeps the rest, so `processed_request` does not grow for ever."""
from __future__ import annotations

from datetime import timedelta

from app.extensions import db
from app.models import ProcessedRequest
from app.models.base import utcnow


def test_the_daily_job_forgets_keys_older_than_a_week_and_keeps_newer_ones(app, redis, run_jobs):
    from jobs.maintenance import queue_forget_processed_requests
    from jobs.scheduler import HOUR, tick, timetable

    now = utcnow()  # the keys' timestamps are instants (not the service's wall clock)
    db.session.add_all([
        ProcessedRequest(key="old-key-0001", scope="attendance", created_at=now - timedelta(days=8)),
        ProcessedRequest(key="new-key-0001", scope="attendance", created_at=now - timedelta(days=6)),
    ])
    db.session.commit()

    jobs = timetable(app.config, start=0.0)
    assert "forget idempotency keys" not in tick(jobs, 0.0)  # not at start: an hour in, then daily
    assert "forget idempotency keys" in tick(jobs, HOUR)
    queue_forget_processed_requests()  # queued twice: one job (deterministic id)
    run_jobs()

    assert db.session.scalars(db.select(ProcessedRequest.key)).all() == ["new-key-0001"]
