"""Each periodic job records its last run and result (`periodic_run`), shown to admins on the integration page
(issue 13.6)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app import clock
from app.extensions import db
from app.models import PeriodicRun, Session
from app.models.base import utcnow
from app.services import attendance, periodic_runs
from jobs.enqueue import enqueue


def run_of(name: str) -> PeriodicRun | None:
    db.session.expire_all()
    return db.session.get(PeriodicRun, name)


def test_a_job_run_by_a_worker_records_when_it_ran_and_what_it_did(app, run_jobs):  # type: ignore[no-untyped-def]
    before = utcnow()
    enqueue("jobs.ndelius.sweep", job_id="ndelius-sweep")
    run_jobs()
    sweep = run_of("sweep")
    assert sweep is not None and sweep.outcome == "ok" and sweep.summary == "nothing to do"
    assert before <= sweep.started_at <= sweep.finished_at <= utcnow()

    enqueue("jobs.maintenance.forget_processed_requests", job_id="forget-processed-requests")
    run_jobs()
    assert run_of("forget idempotency keys").summary == "0 keys older than 7 days dropped"
    assert db.session.scalar(select(PeriodicRun.name).where(PeriodicRun.name == "sweep")) == "sweep"  # one row each


def test_a_failed_run_is_recorded_with_its_error_and_the_next_run_replaces_it(app):  # type: ignore[no-untyped-def]
    calls = []

    @periodic_runs.recorded("sweep")
    def flaky() -> dict[str, int]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("nDelius answered HTTP 503")
        return {"released": 2, "due": 0}

    with pytest.raises(RuntimeError):
        flaky()
    failed = run_of("sweep")
    assert (failed.outcome, failed.summary) == ("failed", "RuntimeError: nDelius answered HTTP 503")
    assert flaky() == {"released": 2, "due": 0}
    assert (run_of("sweep").outcome, run_of("sweep").summary) == ("ok", "2 released")


def test_admins_see_each_jobs_last_run_on_the_integration_page(app, browser, world, run_jobs):  # type: ignore[no-untyped-def]
    region = world.region()
    world.user(region, "admin", "admin.one")
    world.user(region, "treatment_manager", "tm.one")
    enqueue("jobs.ndelius.sweep", job_id="ndelius-sweep")
    run_jobs()
    db.session.execute(update(PeriodicRun.__table__).where(PeriodicRun.name == "sweep")
                       .values(finished_at=utcnow() - timedelta(minutes=5)))  # two sweeps (every minute) missed
    db.session.commit()
    finished = run_of("sweep").finished_at

    browser.sign_in("admin.one")
    html = browser.get("/integration").data.decode()
    assert 'id="background-jobs"' in html
    row = html[html.index('data-job="sweep"'):]
    row = row[:row.index("</tr>")]
    assert "Free work of relays that stopped, send what is left" in row and "Every minute" in row
    from app.web.integration.routes import _when

    assert _when(finished) in row and "Late" in row and "nothing to do" in row
    relay = html[html.index('data-job="relay"'):]
    assert "Every 5 seconds" in relay[:relay.index("</tr>")] and "Not run yet" in relay[:relay.index("</tr>")]

    browser.get("/logout")
    other = type(browser)(app, app.test_client())
    other.sign_in("tm.one")
    assert 'id="background-jobs"' not in other.get("/integration").data.decode()  # admins only


def test_progress_verify_runs_nightly_from_the_scheduler_not_at_start(app, redis):  # type: ignore[no-untyped-def]
    from jobs.enqueue import queue
    from jobs.scheduler import tick, timetable

    afternoon = 20_000 * 86400 + 14 * 3600  # a day at 14:00 UTC; NIGHTLY_AT is 02:00
    jobs = timetable(app.config, afternoon)
    assert "progress verify" not in tick(jobs, afternoon, owner="a")
    assert "progress verify" not in tick(jobs, afternoon + 11 * 3600, owner="a")  # 01:00
    assert "progress verify" in tick(jobs, afternoon + 12 * 3600, owner="a")  # 02:00
    assert "progress-verify" in queue().job_ids
    assert "progress verify" not in tick(jobs, afternoon + 20 * 3600, owner="a")  # once that night


def test_the_nightly_progress_check_records_any_difference_and_admins_see_it(app, browser, world, run_jobs):  # type: ignore[no-untyped-def]
    from app.models import ReferralProgress

    region = world.region()
    manager = world.user(region, "treatment_manager", "tm.one")
    world.user(region, "admin", "admin.one")
    person = world.referral(region, "Alex Able")
    group = world.started(world.group(manager, "BC1", members=(person,)), manager)
    first = db.session.scalars(select(Session).where(Session.group_id == group.id).order_by(Session.starts_at)).first()
    clock.freeze(first.starts_at + timedelta(hours=3))
    attendance.record(manager, first.attendees[0], outcome="ATTC", seen_version=None)
    db.session.commit()
    enqueue("jobs.maintenance.verify_progress", job_id="progress-verify")
    run_jobs()
    assert (run_of("progress verify").outcome, run_of("progress verify").summary) == (
        "ok", "Stored progress matches attendance.")

    db.session.execute(update(ReferralProgress.__table__).where(ReferralProgress.referral_id == person.id)
                       .values(sessions_completed=5))  # stored progress drifted from attendance
    db.session.commit()
    enqueue("jobs.maintenance.verify_progress", job_id="progress-verify")
    run_jobs()
    failed = run_of("progress verify")
    assert failed.outcome == "failed"
    assert failed.summary.startswith("1 differences between stored progress and attendance: ")
    assert "sessions complete: 1 by attendance, 5 stored" in failed.summary

    browser.sign_in("admin.one")
    html = browser.get("/integration").data.decode()
    row = html[html.index('data-job="progress verify"'):]
    row = row[:row.index("</tr>")]
    assert "Check stored progress against attendance" in row and "Every day" in row
    assert "<strong>Failed</strong>: 1 differences" in row and "5 stored" in row
