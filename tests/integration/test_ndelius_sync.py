"""The outbox relay and the sweeper against the fake nDelius over real HTTP (RELIABILITY S1-S8, S10, J2, J4, J7,
J9). Each test compares the fake's final state with what an uninterrupted run gives: exactly one live
appointment per person per session, none missing, none created twice. Batching and fencing are in
test_ndelius_batches.py, reconciliation in test_ndelius_reconcile.py."""
# ruff: noqa: F811 - the fixtures imported from ndelius_kit are arguments of the tests
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from app import clock
from app.extensions import db
from app.integrations.circuit_breaker import RedisCircuitBreaker
from app.models import Attendee, AuditEvent, NDeliusAppointment, OutboxItem, Session
from app.models.base import utcnow
from app.services import attendance, ndelius_status, ndelius_sync, outbox
from tests.integration.ndelius_kit import (  # noqa: F401 - fixtures
    NOW,
    appointments,
    assert_arrays_bounded,
    assert_one_each,
    client_for,
    drain,
    fake,
    frozen,
    items,
    later,
    manager,
    nd,
    posts,
    references,
    started_group,
)

ROOT = Path(__file__).resolve().parents[2]


# --- round trips ----------------------------------------------------------------------------------------------


def test_a_started_group_is_created_in_ndelius_once_per_person_per_session(nd, world, manager):
    group = started_group(world, manager, people=2)
    held = appointments(group)
    assert len(held) == 54

    result = drain()

    assert result.created == 54 and result.needs_attention == result.retrying == 0
    assert_one_each(nd, held)
    assert sorted(len(c["body"]["appointments"]) for c in posts(nd)) == [4, 50]  # in arrays, 50 at most
    assert result.calls == 2
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
    assert len(items(nd, "POST")) == 54


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
    assert len(items(nd, "POST")) == 27 and len(items(nd, "PUT")) == 1
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
    assert str(never_sent.reference) not in references(nd, "POST")
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
    assert len(items(nd, "POST")) == 27


# --- faults ---------------------------------------------------------------------------------------------------


def test_a_lost_answer_to_an_array_of_creates_is_followed_by_a_search_not_a_second_create(nd, world, manager):
    group = started_group(world, manager)
    held = appointments(group)
    nd.set(commit_then_drop=1)  # nDelius makes all 27, the answer never comes

    first = drain(now=frozen())  # (a fixed now: a full-jitter wait can be ~0 s)

    assert first.retrying == 27 and first.created == 0
    assert {a.remote_state for a in appointments(group)} == {"uncertain"}
    assert all(nd.count(str(a.reference)) == 1 for a in held)  # nDelius had made them
    second = drain(now=later())
    assert second.unchanged == 27 and second.created == 0
    assert len(nd.api_calls("POST", "/appointments/search")) == 1  # one search for the whole batch
    assert len(posts(nd)) == 1
    assert_one_each(nd, held)
    assert {a.sync_state for a in appointments()} == {"synced"}


def test_a_timed_out_update_with_notes_is_checked_before_the_notes_are_sent_again(nd, world, manager):
    group = started_group(world, manager)
    drain()
    held = appointments(group)[1]
    attendance.record(manager, held.attendee, outcome="ATTC", notes="Good session.", seen_version=None)
    db.session.commit()
    nd.set(hold_answers=1)  # applied, then the answer is held until released: the relay times out first
    assert drain(client=client_for(nd, read_timeout=0.5)).retrying == 1
    assert db.session.get(NDeliusAppointment, held.id).remote_state == "uncertain"
    nd.release()
    assert nd.wait_idle()
    drain(now=later())
    assert nd.appointments[str(held.reference)]["notes"] == "Good session."  # not appended twice
    assert db.session.get(NDeliusAppointment, held.id).sync_state == "synced"


def test_server_errors_are_retried_with_backoff_until_ndelius_recovers(nd, world, manager):
    group = started_group(world, manager)
    nd.set(fail_5xx=1)  # the first array of 10 is refused with a 503; the others go through
    before = utcnow()

    result = drain(concurrency=1, batch_size=10, now=frozen())

    assert result.retrying == 10 and result.created == 17
    waiting = list(db.session.scalars(select(OutboxItem).where(OutboxItem.status == "pending")))
    assert len(waiting) == 10 and all(row.attempts == 1 and "503" in row.last_error for row in waiting)
    assert all(before <= row.next_attempt_at <= utcnow() + timedelta(seconds=30) for row in waiting)
    assert {a.remote_state for a in appointments(group) if a.id in {r.appointment_id for r in waiting}} == {
        "absent"}  # a 503 applied nothing: no search needed
    assert drain(now=lambda: before - timedelta(seconds=1)).sent == 0  # not due yet: nothing sent
    assert drain(now=later()).created == 10
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
    assert_arrays_bounded(nd)
    assert result.calls <= 16  # narrowed down by what the answers name, then by halving: not one call each
    assert_one_each(nd, [a for a in held if a.id != clashing.id and a.attendee_id not in {
        b.attendee_id for b in held if b.attendee.referral_id == terminated.attendee.referral_id}])
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
    assert len(nd.api_calls(path="/appointments")) == 3  # fail_max calls (each an array of 5), then nothing
    assert result.created == 0 and result.retrying == 15

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
    nd.set(hold_answers=1)  # the first relay's first array is applied, its answer held until released
    results, errors = [], []
    db.session.commit()  # (SQLite: the test's own read transaction would hold the write lock)

    def relay():
        with app.app_context():
            try:
                results.append(ndelius_sync.drain(breaker=False, batch_size=10, concurrency=1))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    first = threading.Thread(target=relay)
    first.start()
    assert nd.wait_until(lambda f: f.held == 1)
    relay()  # the second relay works while the first holds its lease on 10 of them
    nd.release()
    first.join()

    assert errors == []
    assert sorted(r.created for r in results) == [10, 44]  # both did work, none twice
    assert len(items(nd, "POST")) == 54
    assert_one_each(nd, held)


def test_a_relay_killed_mid_batch_is_taken_over_after_its_lease_and_nothing_is_sent_twice(nd, world, manager, app):
    group = started_group(world, manager)
    held = appointments(group)
    nd.set(hold_answers=1)  # the relay's first array is applied in nDelius; it is killed before the answer
    # Deterministic, however slow the machine: every relay's clock (the killed one's and the test's) stands at one
    # instant, so a lease ends exactly when the test says and never while it waits; and the killed relay waits
    # for its held answer far longer than any test runs, so it is killed still waiting, never after giving up.
    at = utcnow()
    read_timeout = 600.0
    script = (
        "import datetime\n"
        "from app import clock, create_app\n"
        "from app.services import ndelius_sync\n"
        f"now = lambda: datetime.datetime.fromisoformat({at.isoformat()!r})\n"
        f"app = create_app({{'SQLALCHEMY_DATABASE_URI': {app.config['SQLALCHEMY_DATABASE_URI']!r},\n"
        f"    'SQLALCHEMY_ENGINE_OPTIONS': {{}}, 'REDIS_URL': {app.config['REDIS_URL']!r},\n"
        f"    'NDELIUS_URL': {nd.url!r}, 'HMPPS_AUTH_URL': {nd.url!r}, 'LOG_LEVEL': 'ERROR'}})\n"
        f"app.config['NDELIUS_READ_TIMEOUT'] = {read_timeout!r}\n"
        "clock.freeze(datetime.datetime(2026, 3, 1, 9, 0))\n"
        "with app.app_context():\n"
        "    ndelius_sync.drain(breaker=False, batch_size=10, concurrency=1, claim_size=20, now=now)\n"
    )
    db.session.commit()
    relay = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, start_new_session=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:  # (the timeout guards against a hung run; the relay reaches the held answer whenever it gets there)
        assert nd.wait_until(lambda f: f.held == 1 or relay.poll() is not None, timeout=120)
        assert relay.poll() is None and nd.held == 1, "the relay was to be killed with an answer on its way"
    finally:
        os.killpg(relay.pid, signal.SIGKILL)
        relay.wait()
    nd.release()
    assert nd.wait_idle()
    assert len(posts(nd)) == 1 and len(nd.appointments) == 10  # its first array of 10 went through
    stuck = {a.id: a.claimed_by for a in appointments(group) if a.claimed_by is not None}
    assert len(stuck) == 20, "the killed relay left its lease on the batch (10 sent, 10 not yet)"
    assert {a.remote_state for a in appointments(group) if a.id in stuck} == {"uncertain"}
    ends = {a.claimed_until for a in appointments(group) if a.id in stuck}
    assert len(ends) == 1  # claimed (and renewed before its call) at `at`, for a lease that covers two calls
    lease_end = ends.pop()
    assert lease_end - at >= timedelta(seconds=2 * read_timeout)

    assert drain(now=lambda: at).created == 7  # another relay takes the rest, not what the dead one holds a lease on
    assert {i: db.session.get(NDeliusAppointment, i).claimed_by for i in stuck} == stuck
    assert ndelius_sync.sweep(now=lease_end - timedelta(seconds=1))["released"] == 0  # not before it ends
    assert ndelius_sync.sweep(now=lease_end + timedelta(seconds=1))["released"] == len(stuck)
    taken_over = drain(now=lambda: lease_end + timedelta(seconds=1))

    assert (taken_over.unchanged, taken_over.created) == (10, 10)  # found the ones sent, created the others
    assert_one_each(nd, held)  # every appointment created exactly once, across both relays
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
    assert failed.exit_code == 1 and "reconciliation incomplete: 1 of 1 searches failed" in failed.output


def test_the_scheduler_queues_each_periodic_job_once_per_interval(app, redis, world, manager):
    from jobs.enqueue import queue
    from jobs.scheduler import tick, timetable

    jobs = [job for job in timetable(app.config, start=0.0) if job.name != "recovery"]  # it queues nothing itself
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
