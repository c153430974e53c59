"""nDelius is sent at once (issue 13.4): a commit that wrote outbox rows queues the relay itself - no scheduler
running here - a rolled-back change queues nothing, and Redis being down never fails the user's request."""
from __future__ import annotations

import socket
from datetime import datetime

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import Attendance, NDeliusAppointment, OutboxItem, Session
from jobs import ndelius as ndelius_jobs

FIRST_GROUP_SESSION = datetime(2026, 4, 13, 10)


@pytest.fixture
def register(world):  # type: ignore[no-untyped-def]
    region = world.region("NW", "North West")
    lead = world.facilitator(region, "Fran Lead")
    manager = world.user(region, "treatment_manager", "tm.nw")
    people = tuple(world.referral(region, name) for name in ("Alex Able", "Billie Brown"))
    group = world.started(world.group(manager, "BC1", lead=lead, members=people), manager)
    world.user(region, "facilitator", "fac.lead", facilitator=lead)
    clock.freeze(FIRST_GROUP_SESSION.replace(hour=11))
    session = db.session.scalar(select(Session).where(Session.group_id == group.id,
                                                      Session.starts_at == FIRST_GROUP_SESSION))
    alex = next(a for a in session.attendees if a.referral.person_name == "Alex Able")
    return session, alex


def _tap(browser, session, attendee, outcome):  # type: ignore[no-untyped-def]
    return browser.post(f"/sessions/{session.id}/attendees/{attendee.id}", {
        "version": "", "current_outcome": "", "outcome": outcome,
        "idempotency_key": f"key-{outcome}-{attendee.id}"}, htmx=True)


def _queued(app, redis: Redis) -> list[str]:  # type: ignore[no-untyped-def]
    return Queue(app.config["RQ_QUEUE"], connection=redis).job_ids


def test_a_tap_queues_the_relay_as_it_commits_without_the_scheduler(app, browser, redis, register, run_jobs):  # type: ignore[no-untyped-def]
    session, alex = register
    browser.sign_in("fac.lead")
    redis.delete(*(redis.keys("rq:job:ndelius-relay*") or [b"none"]))  # the group's start queued one already
    Queue(app.config["RQ_QUEUE"], connection=redis).empty()

    response = _tap(browser, session, alex, "ATTC")

    assert response.status_code == 200
    assert _queued(app, redis) == [ndelius_jobs.RELAY_JOB]
    job = Job.fetch(ndelius_jobs.RELAY_JOB, connection=redis)
    assert (job.func_name, job.get_status()) == ("jobs.ndelius.relay", "queued")
    run_jobs()
    assert db.session.scalar(select(func.count(OutboxItem.id)).where(OutboxItem.status == "pending")) == 0


def test_a_refused_or_rolled_back_change_queues_nothing_and_a_committed_one_does(app, browser, redis, register):  # type: ignore[no-untyped-def]
    from app.services import outbox

    session, alex = register
    browser.sign_in("fac.lead")
    Queue(app.config["RQ_QUEUE"], connection=redis).empty()

    refused = _tap(browser, session, alex, "NOPE")
    assert refused.status_code == 422 and _queued(app, redis) == []

    appointment = db.session.scalar(select(NDeliusAppointment).filter_by(attendee_id=alex.id))
    outbox.appointment_changed(appointment)
    db.session.flush()
    db.session.rollback()
    assert _queued(app, redis) == []

    outbox.appointment_changed(db.session.get(NDeliusAppointment, appointment.id))
    db.session.commit()
    assert _queued(app, redis) == [ndelius_jobs.RELAY_JOB]


def test_a_savepoint_released_is_not_the_commit(app, redis, register):  # type: ignore[no-untyped-def]
    """SQLAlchemy reports a savepoint's release as a commit: the relay waits for the transaction's own commit (a
    relay queued at the release could run before the rows are there, and none would follow)."""
    from app.services import outbox

    _session, alex = register
    Queue(app.config["RQ_QUEUE"], connection=redis).empty()
    appointment = db.session.scalar(select(NDeliusAppointment).filter_by(attendee_id=alex.id))
    outbox.appointment_changed(appointment)
    db.session.flush()
    with db.session.begin_nested():  # as an idempotency key is claimed
        pass
    db.session.begin_nested().rollback()  # a savepoint rolled back: the rows written before it stay
    assert _queued(app, redis) == []
    db.session.commit()
    assert _queued(app, redis) == [ndelius_jobs.RELAY_JOB]


def test_while_a_relay_runs_a_commit_queues_one_more_after_it(app, redis, register):  # type: ignore[no-untyped-def]
    """The running relay may have looked at the outbox before this commit: one follow-up waits behind it."""
    import os

    from rq.job import JobStatus
    from rq.utils import now, utcformat

    Queue(app.config["RQ_QUEUE"], connection=redis).empty()
    assert ndelius_jobs.queue_relay_after_commit()
    running = Job.fetch(ndelius_jobs.RELAY_JOB, connection=redis)
    # Running on a live worker (this process stands in for it: its record names this host and pid).
    redis.hset("rq:worker:relay-test", mapping={"hostname": socket.gethostname(), "pid": os.getpid(),
                                                "last_heartbeat": utcformat(now())})
    running.worker_name = "relay-test"
    running.save()
    running.set_status(JobStatus.STARTED)
    Queue(app.config["RQ_QUEUE"], connection=redis).remove(running)

    assert ndelius_jobs.queue_relay_after_commit()
    assert ndelius_jobs.queue_relay_after_commit()
    assert _queued(app, redis) == [ndelius_jobs.RELAY_FOLLOW_UP_JOB]


def test_redis_down_never_fails_the_tap_and_the_scheduler_sends_it_later(app, browser, register, monkeypatch):  # type: ignore[no-untyped-def]
    session, alex = register
    browser.sign_in("fac.lead")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setitem(app.extensions, "pd_redis", Redis(port=closed, socket_connect_timeout=1))
    monkeypatch.setattr(ndelius_jobs, "_commit_relay_paused_until", 0.0)

    response = _tap(browser, session, alex, "ATTC")

    assert response.status_code == 200 and "1 of 2</span> recorded" in response.data.decode()
    assert db.session.scalar(select(Attendance.outcome).filter_by(attendee_id=alex.id)) == "ATTC"
    assert db.session.scalar(select(func.count(OutboxItem.id)).where(OutboxItem.status == "pending",
                                                                     OutboxItem.action == "update")) == 1
    # This process stops asking Redis for a while; the scheduler's relay (queue_relay_if_due) sends the row.
    assert ndelius_jobs._commit_relay_paused_until > 0
    assert ndelius_jobs.queue_relay_after_commit() is False
