"""The outbox relay, the sweeper and reconciliation against the fake nDelius over real HTTP (RELIABILITY S1-S10,
J2, J4, J7, J9). Each test compares the fake's final state with what an uninterrupted run gives: exactly one
live appointment per person per session, none missing, none twice."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from app import clock
from app.extensions import db
from app.integrations.circuit_breaker import RedisCircuitBreaker
from app.models import (
    Attendee,
    AuditEvent,
    NDeliusAppointment,
    NDeliusDisagreement,
    OutboxItem,
    Session,
)
from app.models.base import utcnow
from app.services import attendance, ndelius_reconcile, ndelius_status, ndelius_sync, outbox
from tests.fakes.ndelius import start_fake_ndelius

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 1, 9, 0)  # before the groups' first sessions (23 March 2026)


@pytest.fixture(scope="module")
def fake():
    server = start_fake_ndelius()
    yield server
    server.stop()


@pytest.fixture
def nd(app, fake, monkeypatch):
    """The fake nDelius, emptied, with the app pointed at it and both clocks at NOW."""
    assert fake.wait_idle(), "a request from the previous test is still in flight"
    fake.reset()
    fake.set(now=NOW.isoformat(timespec="minutes"))
    clock.freeze(NOW)
    for name, value in {"NDELIUS_URL": fake.url, "HMPPS_AUTH_URL": fake.token_url, "NDELIUS_READ_TIMEOUT": 0.5,
                        "NDELIUS_CONNECT_TIMEOUT": 0.5, "NDELIUS_RETRY_BASE": 30, "NDELIUS_RETRY_CAP": 600}.items():
        monkeypatch.setitem(app.config, name, value)
    return fake


@pytest.fixture
def manager(world):
    return world.user(world.region(), "treatment_manager")


def started_group(world, manager, people=1, code="G1"):
    members = tuple(world.referral(manager.region) for _ in range(people))
    group = world.group(manager, code=code, members=members)
    group.location_code = "LOC1"
    db.session.commit()
    return world.started(group, manager)


def appointments(group=None):
    query = (select(NDeliusAppointment).join(Attendee, Attendee.id == NDeliusAppointment.attendee_id)
             .join(Session, Session.id == Attendee.session_id).order_by(Session.starts_at, Attendee.id))
    if group is not None:
        query = query.where(Session.group_id == group.id)
    db.session.expire_all()
    return list(db.session.scalars(query))


def later(minutes=30):
    return lambda: utcnow() + timedelta(minutes=minutes)


def frozen():
    at = utcnow()
    return lambda: at


def drain(**kwargs):
    kwargs.setdefault("breaker", False)
    result = ndelius_sync.drain(**kwargs)
    db.session.expire_all()
    return result


def posts(fake):
    return fake.api_calls("POST", "/appointments")


def assert_one_each(fake, expected):
    """nDelius holds exactly one live appointment per reference we hold, and nothing else."""
    references = {str(a.reference) for a in expected}
    assert {ref: fake.count(ref) for ref in references} == dict.fromkeys(references, 1)
    assert set(fake.appointments) == references and fake.duplicates == []


# --- round trips ----------------------------------------------------------------------------------------------


def test_a_started_group_is_created_in_ndelius_once_per_person_per_session(nd, world, manager):
    group = started_group(world, manager, people=2)
    held = appointments(group)
    assert len(held) == 54

    result = drain()

    assert result.created == 54 and result.needs_attention == result.retrying == 0
    assert_one_each(nd, held)
    assert {a.sync_state for a in appointments()} == {"synced"}
    assert db.session.scalar(select(func.count(OutboxItem.id)).where(OutboxItem.status != "done")) == 0
    first = held[0]
    sent = nd.appointments[str(first.reference)]
    lead = group.lead_facilitator
    referral = first.attendee.referral
    assert sent["type"] == "PRE_GROUP_ONE_TO_ONE_MEETING"
    assert (sent["date"], sent["startTime"], sent["endTime"]) == ("2026-03-23", "10:00", "11:00")
    assert sent["staff"] == {"code": lead.staff_code} and sent["team"] == {"code": lead.team_code}
    assert sent["requirementId"] == referral.requirement_id and sent["location"] == {"code": "LOC1"}
    assert sent["outcome"] is None and sent["notes"] is None
    assert nd.appointments[str(held[-1].reference)]["type"] == "THREE_WAY_MEETING"
    assert nd.appointments[str(held[2].reference)]["type"] == "PROGRAMME_ATTENDANCE"
    states = ndelius_status.session_sync_states({a.attendee.session_id for a in held})
    assert set(states.values()) == {"synced"} and len(states) == 27

    assert drain().sent == 0  # nothing left: a second relay sends nothing
    assert len(posts(nd)) == 54


def test_a_moved_session_is_updated_in_ndelius_not_created_again(nd, world, manager):
    group = started_group(world, manager)
    drain()
    session = db.session.scalars(select(Session).where(Session.group_id == group.id)
                                 .order_by(Session.starts_at).offset(3)).first()
    moved = [a for a in appointments(group) if a.attendee.session_id == session.id]
    session.starts_at, session.ends_at = datetime(2026, 5, 1, 13, 0), datetime(2026, 5, 1, 15, 30)
    for appointment in moved:
        outbox.appointment_changed(appointment)
    db.session.commit()
    assert ndelius_status.session_sync_states([session.id]) == {session.id: "pending"}

    result = drain()

    assert (result.updated, result.created) == (1, 0)
    for appointment in moved:
        contact = nd.appointments[str(appointment.reference)]
        assert (contact["date"], contact["startTime"], contact["endTime"]) == ("2026-05-01", "13:00", "15:30")
    assert len(posts(nd)) == 27 and len(nd.api_calls("PUT", "/appointments")) == 1
    assert ndelius_status.session_sync_states([session.id]) == {session.id: "synced"}


def test_outcomes_and_notes_reach_ndelius_and_notes_are_sent_only_when_they_change(nd, world, manager):
    group = started_group(world, manager)
    drain()
    first = appointments(group)[1]
    attendee = first.attendee
    attendance.record(manager, attendee, outcome="ATTC", notes="Joined in well.", seen_version=None)
    db.session.commit()
    drain()
    contact = nd.appointments[str(first.reference)]
    assert contact["outcome"] == {"code": "ATTC"} and contact["notes"] == "Joined in well."

    version = db.session.get(Attendee, attendee.id).attendance.version
    attendance.record(manager, db.session.get(Attendee, attendee.id), outcome="AAME", notes="Joined in well.",
                      seen_version=version)
    db.session.commit()
    drain()
    contact = nd.appointments[str(first.reference)]
    assert contact["outcome"] == {"code": "AAME"}  # an acceptable absence reason of SPEC §4
    assert contact["notes"] == "Joined in well."  # not appended a second time

    version = db.session.get(Attendee, attendee.id).attendance.version
    attendance.record(manager, db.session.get(Attendee, attendee.id), outcome="AAME", notes="Doctor's note seen.",
                      seen_version=version)
    db.session.commit()
    drain()
    assert nd.appointments[str(first.reference)]["notes"] == "Joined in well.\nDoctor's note seen."


def test_deletes_are_sent_and_a_delete_of_a_never_created_appointment_sends_nothing(nd, world, manager):
    group = started_group(world, manager)
    held = appointments(group)
    never_sent = held[5]
    outbox.appointment_changed(never_sent, "delete")  # created and deleted before any relay ran
    db.session.commit()
    drain()
    assert nd.count(str(never_sent.reference)) == 0
    assert not [c for c in posts(nd) if c["body"]["appointments"][0]["reference"] == str(never_sent.reference)]
    assert nd.api_calls("DELETE", "/appointments") == []
    assert db.session.get(NDeliusAppointment, never_sent.id).sync_state == "deleted"

    cancelled = held[6]
    cancelled.attendee.session.status = "cancelled"
    outbox.appointment_changed(cancelled, "delete")
    db.session.commit()
    result = drain()
    assert result.deleted == 1 and nd.count(str(cancelled.reference)) == 0
    assert db.session.get(NDeliusAppointment, cancelled.id).sync_state == "deleted"

    nd.forget(str(held[7].reference))  # already gone from nDelius: a 404 on delete means done
    outbox.appointment_changed(held[7], "delete")
    db.session.commit()
    assert drain().deleted == 1
    assert db.session.get(NDeliusAppointment, held[7].id).sync_state == "deleted"


def test_replaying_the_outbox_twice_leaves_one_appointment_each(nd, world, manager):
    group = started_group(world, manager)
    held = appointments(group)
    drain()
    db.session.execute(update(OutboxItem).values(status="pending", processed_at=None))  # delivered again
    db.session.commit()
    drain()
    drain()
    assert_one_each(nd, held)
    assert len(posts(nd)) == 27


# --- faults ---------------------------------------------------------------------------------------------------


def test_a_lost_answer_to_a_create_is_followed_by_a_search_not_a_second_create(nd, world, manager):
    group = started_group(world, manager)
    held = appointments(group)
    nd.set(commit_then_drop=1)

    first = drain(concurrency=1, now=frozen())  # (a fixed now: a full-jitter wait can be ~0 s)

    assert first.retrying == 1 and first.created == 26
    lost = [a for a in appointments(group) if a.remote_state == "uncertain"]
    assert len(lost) == 1 and nd.count(str(lost[0].reference)) == 1  # nDelius had made it
    second = drain(now=later())
    assert second.unchanged == 1 and second.created == 0
    assert nd.api_calls("POST", "/appointments/search")
    assert_one_each(nd, held)
    assert {a.sync_state for a in appointments()} == {"synced"}


def test_a_timed_out_update_with_notes_is_checked_before_the_notes_are_sent_again(nd, world, manager):
    group = started_group(world, manager)
    drain()
    held = appointments(group)[1]
    attendance.record(manager, held.attendee, outcome="ATTC", notes="Good session.", seen_version=None)
    db.session.commit()
    nd.set(timeout=1, timeout_seconds=0.8)
    assert drain().retrying == 1
    assert nd.wait_idle()
    drain(now=later())
    assert nd.appointments[str(held.reference)]["notes"] == "Good session."
    assert db.session.get(NDeliusAppointment, held.id).sync_state == "synced"


def test_server_errors_are_retried_with_backoff_until_ndelius_recovers(nd, world, manager):
    group = started_group(world, manager)
    nd.set(fail_5xx=3)
    before = utcnow()

    result = drain(concurrency=1, now=frozen())

    assert result.retrying == 3 and result.created == 24
    waiting = list(db.session.scalars(select(OutboxItem).where(OutboxItem.status == "pending")))
    assert len(waiting) == 3 and all(row.attempts == 1 and "503" in row.last_error for row in waiting)
    assert all(before <= row.next_attempt_at <= utcnow() + timedelta(seconds=30) for row in waiting)
    assert drain(now=lambda: before - timedelta(seconds=1)).sent == 0  # not due yet: nothing sent
    assert drain(now=later()).created == 3
    assert_one_each(nd, appointments(group))


def test_a_clash_or_a_terminated_requirement_needs_attention_and_the_rest_of_the_batch_goes_on(nd, world, manager):
    group = started_group(world, manager, people=2)
    held = appointments(group)
    clashing = held[4]
    terminated = next(a for a in held if a.attendee.referral_id != clashing.attendee.referral_id)
    nd.set(clash_references=[str(clashing.reference)],
           terminated_requirements=[terminated.attendee.referral.requirement_id])

    result = drain()

    assert result.needs_attention == 28 and result.created == 26
    clash = db.session.get(NDeliusAppointment, clashing.id)
    assert clash.sync_state == "needs_attention" and "clash" in clash.last_error
    refused = db.session.get(NDeliusAppointment, terminated.id)
    assert "requirement" in refused.last_error and "Invalid Requirement IDs" in refused.last_error
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(
        AuditEvent.action == "ndelius.needs_attention")) == 28
    failures = ndelius_status.failures(manager)
    assert len(failures) == 28 and any("clash" in f.reason for f in failures)
    assert ndelius_status.session_sync_states([clashing.attendee.session_id]) == {
        clashing.attendee.session_id: "needs_attention"}

    nd.set(clash_references=[])
    ndelius_status.retry(manager, clashing.id)
    assert drain().created == 1
    assert db.session.get(NDeliusAppointment, clashing.id).sync_state == "synced"
    assert nd.count(str(clashing.reference)) == 1


def test_the_circuit_opens_and_a_dead_ndelius_is_not_hammered(nd, world, manager, redis):
    group = started_group(world, manager)
    now = [1_000.0]
    breaker = RedisCircuitBreaker(redis, "ndelius", fail_max=3, reset_timeout=60, clock=lambda: now[0])
    nd.set(fail_5xx=1000)

    result = drain(breaker=breaker, concurrency=1, batch_size=5)

    assert result.circuit_open and breaker.state == "open"
    assert len(nd.api_calls(path="/appointments")) == 3  # fail_max calls, then nothing
    assert result.created == 0 and result.retrying == 5  # the rest of the batch waits for the circuit

    nd.set(fail_5xx=0)
    now[0] += 60  # reset timeout over: one trial call, then normal service
    drain(breaker=breaker, now=later(5))
    assert breaker.state == "closed"
    drain(breaker=breaker, now=later(10))  # those that waited while the trial call was out
    assert_one_each(nd, appointments(group))


def test_flushing_redis_loses_nothing_the_sweeper_queues_the_relay_again(nd, world, manager, redis, run_jobs):
    from jobs import ndelius as ndelius_jobs
    from jobs.enqueue import queue

    group = started_group(world, manager)
    ndelius_jobs.queue_relay()
    redis.flushdb()  # the queued relay is gone (this test's Redis db only: never FLUSHALL a shared server)
    assert queue().count == 0

    counts = ndelius_jobs.sweep()
    assert counts["due"] == 27 and queue().count == 1
    run_jobs()

    assert_one_each(nd, appointments(group))
    assert {a.sync_state for a in appointments()} == {"synced"}


def test_two_relays_never_send_one_appointment_twice(nd, world, manager, app):
    group = started_group(world, manager, people=2)
    held = appointments(group)
    nd.set(latency_ms=5)
    results, errors = [], []
    db.session.commit()  # (SQLite: the test's own read transaction would hold the write lock)

    def relay():
        with app.app_context():
            try:
                results.append(ndelius_sync.drain(breaker=False, batch_size=10))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=relay) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(r.created for r in results) == 54 and all(r.created for r in results)  # both did work
    assert len(posts(nd)) == 54
    assert_one_each(nd, held)


def test_a_relay_killed_mid_batch_is_taken_over_after_its_lease_and_nothing_is_sent_twice(nd, world, manager, app):
    group = started_group(world, manager)
    held = appointments(group)
    nd.set(latency_ms=40)
    script = (
        "import datetime\n"
        "from app import clock, create_app\n"
        "from app.services import ndelius_sync\n"
        f"app = create_app({{'SQLALCHEMY_DATABASE_URI': {app.config['SQLALCHEMY_DATABASE_URI']!r},\n"
        f"    'SQLALCHEMY_ENGINE_OPTIONS': {{}}, 'REDIS_URL': {app.config['REDIS_URL']!r},\n"
        f"    'NDELIUS_URL': {nd.url!r}, 'HMPPS_AUTH_URL': {nd.token_url!r}, 'LOG_LEVEL': 'ERROR'}})\n"
        "clock.freeze(datetime.datetime(2026, 3, 1, 9, 0))\n"
        "with app.app_context():\n"
        "    ndelius_sync.drain(breaker=False, batch_size=10)\n"
    )
    db.session.commit()
    relay = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, start_new_session=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 20
        while len(posts(nd)) < 6 and time.monotonic() < deadline and relay.poll() is None:
            time.sleep(0.01)
    finally:
        os.killpg(relay.pid, signal.SIGKILL)
        relay.wait()
    assert nd.wait_idle()
    nd.set(latency_ms=0)
    assert 6 <= len(posts(nd)) < 27, "the relay was to be killed mid-batch"
    stuck = {a.id: a.claimed_by for a in appointments(group) if a.claimed_by is not None}
    assert stuck, "the killed relay left its lease"

    drain()  # another relay now takes the rest, but not what the dead one holds a lease on
    assert {i: db.session.get(NDeliusAppointment, i).claimed_by for i in stuck} == stuck
    assert ndelius_sync.sweep(now=later(6)())["released"] == len(stuck)
    drain(now=later(6))

    assert_one_each(nd, held)
    assert len(posts(nd)) == 27  # every appointment created exactly once, across both relays
    assert {a.sync_state for a in appointments()} == {"synced"}


def test_a_past_appointment_without_an_outcome_waits_for_attendance(nd, world, manager):
    group = started_group(world, manager)
    clock.freeze(datetime(2026, 3, 24, 9, 0))  # the pre-group one-to-one (23 March) has happened
    nd.set(now="2026-03-24T09:00")
    result = drain()
    first = appointments(group)[0]
    assert result.needs_attention == 1 and first.sync_state == "needs_attention"
    assert "record attendance" in first.last_error
    assert nd.count(str(first.reference)) == 0  # nothing invalid was sent

    attendance.record(manager, first.attendee, outcome="UAAB", seen_version=None)
    db.session.commit()
    drain()
    assert nd.appointments[str(first.reference)]["outcome"] == {"code": "UAAB"}
    assert db.session.get(NDeliusAppointment, first.id).sync_state == "synced"


# --- reconciliation -------------------------------------------------------------------------------------------


def test_reconciliation_records_drift_and_never_overwrites_ours(nd, world, manager):
    group = started_group(world, manager)
    drain()
    held = appointments(group)
    missing, moved, doubled = held[2], held[3], held[4]
    nd.forget(str(missing.reference))
    nd.appointments[str(moved.reference)]["staff"] = {"code": "OTHER1"}
    nd.appointments[str(moved.reference)]["startTime"] = "09:00"
    nd.duplicates.append(dict(nd.appointments[str(doubled.reference)], contactId=99999))
    stranger = nd.seed({"reference": "0b0b0b0b-0000-4000-8000-000000000001",
                        "requirementId": held[0].attendee.referral.requirement_id, "date": "2026-04-01",
                        "startTime": "10:00", "endTime": "11:00", "staff": {"code": "X1"},
                        "team": {"code": "T1"}})[0]
    ours_before = [(s.starts_at, s.version) for s in db.session.scalars(select(Session).order_by(Session.id))]

    run = ndelius_reconcile.reconcile(breaker=False)

    assert run.error is None and run.compared == 27 and run.new == 5
    found = {(str(d.reference), d.field): d for d in db.session.scalars(select(NDeliusDisagreement))}
    assert found[(str(missing.reference), "appointment")].theirs == "Not in nDelius"
    staff = found[(str(moved.reference), "staff")]
    assert (staff.ours, staff.theirs) == (group.lead_facilitator.staff_code, "OTHER1")
    assert staff.source == "nDelius appointments search" and staff.ours_at and staff.last_seen_at
    assert (found[(str(moved.reference), "start_time")].ours, found[(str(moved.reference), "start_time")].theirs) \
        == ("10:00", "09:00")
    assert found[(str(doubled.reference), "duplicates")].theirs == "2"
    unknown = found[(stranger["reference"], "appointment")]
    assert unknown.ours == "Not in our records" and unknown.region_id == manager.region_id
    # ours stays as it was: nothing overwritten, nothing queued
    assert [(s.starts_at, s.version) for s in db.session.scalars(select(Session).order_by(Session.id))] == ours_before
    assert db.session.scalar(select(func.count(OutboxItem.id)).where(OutboxItem.status == "pending")) == 0
    searches = [c["body"] for c in nd.api_calls("POST", "/appointments/search")]
    assert searches and all(b["requirementIds"] or b["licenceConditionIds"] for b in searches)
    assert all(len(b["requirementIds"]) <= 500 and len(b["licenceConditionIds"]) <= 500 for b in searches)

    again = ndelius_reconcile.reconcile(breaker=False)
    assert again.new == 0 and db.session.scalar(select(func.count(NDeliusDisagreement.id))) == 5

    ndelius_status.send_ours(manager, staff.id)
    ndelius_status.send_ours(manager, found[(str(missing.reference), "appointment")].id)
    drain()
    assert nd.appointments[str(moved.reference)]["staff"] == {"code": group.lead_facilitator.staff_code}
    assert nd.count(str(missing.reference)) == 1
    third = ndelius_reconcile.reconcile(breaker=False)
    assert third.resolved == 1  # the start time now agrees too
    still_open = {(str(d.reference), d.field) for d in db.session.scalars(
        select(NDeliusDisagreement).where(NDeliusDisagreement.resolved_at.is_(None)))}
    assert still_open == {(str(doubled.reference), "duplicates"), (stranger["reference"], "appointment")}


def test_reconciliation_that_cannot_reach_ndelius_says_so_and_changes_nothing(nd, world, manager):
    started_group(world, manager)
    drain()
    nd.set(fail_5xx=5)
    run = ndelius_reconcile.reconcile(breaker=False)
    assert run.error and "503" in run.error
    assert db.session.scalar(select(func.count(NDeliusDisagreement.id))) == 0


# --- operators' commands and the scheduler --------------------------------------------------------------------


def test_flask_ndelius_sync_prints_a_summary_and_fails_when_something_needs_attention(nd, world, manager, app):
    group = started_group(world, manager)
    runner = app.test_cli_runner()
    db.session.commit()
    ok = runner.invoke(args=["ndelius", "sync", "--wait", "0"])
    assert ok.exit_code == 0, ok.output
    assert "27 appointments in step with nDelius (27 created" in ok.output

    held = appointments(group)[3]
    nd.set(clash_references=[str(held.reference)])
    outbox.appointment_changed(held)
    db.session.commit()
    refused = runner.invoke(args=["ndelius", "sync", "--wait", "0"])
    assert refused.exit_code == 1 and "1 need attention" in refused.output

    check = runner.invoke(args=["ndelius", "reconcile"])
    assert check.exit_code == 0 and "Compared 26 appointments" in check.output
    nd.set(fail_5xx=5)
    failed = runner.invoke(args=["ndelius", "reconcile"])
    assert failed.exit_code == 1 and "reconciliation failed" in failed.output


def test_the_scheduler_queues_each_periodic_job_once_per_interval(app, redis, world, manager):
    from jobs.enqueue import queue
    from jobs.scheduler import tick, timetable

    jobs = timetable(app.config, start=0.0)
    assert tick(jobs, 0.0) == ["relay", "sweep", "domain events"]
    assert queue().job_ids == ["ndelius-sweep"]  # an empty outbox needs no relay
    started_group(world, manager)
    assert tick(jobs, 1.0) == []
    assert tick(jobs, 60.0) == ["relay", "sweep", "domain events", "reconcile"]
    # (starting the group changed its members' status: the domain-event publisher is queued too)
    assert sorted(queue().job_ids) == ["domain-events-publish", "ndelius-reconcile", "ndelius-relay",
                                       "ndelius-sweep"]
    redis.flushdb()  # Redis lost: the scheduler's own timetable carries on
    assert "relay" in tick(jobs, 70.0) and "ndelius-relay" in queue().job_ids
