"""The reschedule plan and its job: stored once, applied step by step, and the same result however often the
worker dies and the job runs again (RELIABILITY J2, J4)."""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import (
    Attendee,
    AuditEvent,
    NDeliusAppointment,
    Operation,
    OperationStep,
    OutboxItem,
    Session,
    SessionTemplate,
)
from app.models.programme import Module
from app.scheduling import Slot
from app.services import reschedule
from app.services.errors import ServiceError
from jobs.reschedule import enqueue_reschedule

NOW = datetime(2026, 5, 20, 9, 0)
NEW_START = datetime(2026, 6, 8, 10, 0)


@pytest.fixture
def manager(world):  # type: ignore[no-untyped-def]
    clock.freeze(NOW)
    return world.user(world.region(), "treatment_manager")


def new_group(world, manager, code: str):  # type: ignore[no-untyped-def]
    people = tuple(world.referral(manager.region) for _ in range(2))
    return world.started(world.group(manager, code, members=people), manager)


def session_of(group, module: int, number: int) -> Session:  # type: ignore[no-untyped-def]
    return db.session.scalars(
        select(Session).join(SessionTemplate).join(Module)
        .where(Session.group_id == group.id, Session.kind == "scheduled", Module.module_number == module,
               SessionTemplate.session_number == number)
    ).one()


def postpone_8(manager, group) -> Operation:  # type: ignore[no-untyped-def]
    return reschedule.request_postpone(manager, session_of(group, 3, 3), NEW_START, None, True)


def snapshot(group) -> dict:  # type: ignore[no-untyped-def]
    """Everything a cascade changes, keyed by session template so two groups can be compared: times, versions,
    audit events and nDelius outbox rows per session, and the operation's end state."""
    db.session.expire_all()
    sessions = db.session.scalars(select(Session).where(Session.group_id == group.id)).all()
    label = {s.id: s.session_template.label for s in sessions}
    audits = Counter(label[object_id] for object_id in db.session.scalars(
        select(AuditEvent.object_id).where(AuditEvent.action == "session.rescheduled",
                                           AuditEvent.object_id.in_(label))))
    outbox = Counter(
        (label[session_id], action) for session_id, action in db.session.execute(
            select(Attendee.session_id, OutboxItem.action)
            .join(NDeliusAppointment, NDeliusAppointment.id == OutboxItem.appointment_id)
            .join(Attendee, Attendee.id == NDeliusAppointment.attendee_id)
            .where(Attendee.session_id.in_(label)))
    )
    operation = db.session.scalars(select(Operation).where(Operation.group_id == group.id,
                                                           Operation.kind == "cascade")).one()
    return {
        "sessions": {s.session_template.label: (s.starts_at, s.ends_at, s.version) for s in sessions},
        "audits": dict(audits), "outbox": dict(outbox),
        "operation": (operation.status, operation.done, operation.total, operation.message),
        "applied": db.session.scalar(select(func.count(OperationStep.id)).where(
            OperationStep.operation_id == operation.id, OperationStep.applied_at.is_not(None))),
    }


@pytest.fixture
def golden(world, manager, run_jobs):  # type: ignore[no-untyped-def]
    """The end state of an uninterrupted run."""
    group = new_group(world, manager, "GOLD")
    operation = postpone_8(manager, group)
    enqueue_reschedule(operation.id)
    run_jobs()
    return snapshot(group)


def test_the_plan_is_stored_once_as_one_step_per_moved_session(world, manager):  # type: ignore[no-untyped-def]
    group = new_group(world, manager, "G1")
    before = {s.id: s.starts_at for s in db.session.scalars(select(Session).where(Session.group_id == group.id))}
    operation = postpone_8(manager, group)
    steps = db.session.scalars(select(OperationStep).where(OperationStep.operation_id == operation.id)
                               .order_by(OperationStep.position)).all()
    assert operation.kind == "cascade" and operation.status == "queued" and operation.total == len(steps) == 21
    first = steps[0].payload
    assert first["session_id"] == session_of(group, 3, 3).id
    assert (first["old_starts_at"], first["new_starts_at"]) == ("2026-06-01T10:00:00", "2026-06-08T10:00:00")
    assert all(step.applied_at is None for step in steps)
    assert {s.id: s.starts_at for s in db.session.scalars(
        select(Session).where(Session.group_id == group.id))} == before  # nothing moved yet
    assert db.session.scalar(select(func.count(OutboxItem.id)).where(OutboxItem.action == "update")) == 0


def test_an_uninterrupted_run_moves_each_session_once_with_audit_and_outbox(golden):  # type: ignore[no-untyped-def]
    assert golden["operation"][:3] == ("succeeded", 21, 21)
    assert golden["operation"][3] == "Moved 21 sessions. The programme now ends 7 Dec 2026."
    assert golden["sessions"]["3.3"][:2] == (NEW_START, datetime(2026, 6, 8, 12, 30))
    assert golden["sessions"]["3.2"][2] == 1  # an earlier session is untouched
    assert golden["audits"] == {label: 1 for label, (_, _, version) in golden["sessions"].items() if version == 2}
    assert len(golden["audits"]) == 21
    assert {k: v for k, v in golden["outbox"].items() if k[1] == "update"} == {
        (label, "update"): 2 for label in golden["audits"]}


def test_killed_after_any_step_and_run_again_ends_exactly_like_an_uninterrupted_run(  # type: ignore[no-untyped-def]
        world, manager, run_jobs, golden):
    for k in range(22):
        group = new_group(world, manager, f"K{k}")
        operation = postpone_8(manager, group)
        for _ in range(k):  # the worker applies k steps, then dies
            assert reschedule.apply_next_step(operation.id) is not None
        part = snapshot(group)
        assert part["applied"] == k and part["operation"][1] == k
        enqueue_reschedule(operation.id)  # RQ runs the job again
        run_jobs()
        assert snapshot(group) == golden, f"killed after step {k}"


def test_a_crash_inside_a_step_leaves_nothing_half_done(world, manager, run_jobs, golden, monkeypatch):  # type: ignore[no-untyped-def]
    group = new_group(world, manager, "CRASH")
    operation = postpone_8(manager, group)
    calls = {"n": 0}
    real = reschedule.outbox.appointment_changed

    def dies_on_the_ninth_outbox_row(appointment, action="update"):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 9:
            raise RuntimeError("worker died")
        real(appointment, action)

    monkeypatch.setattr(reschedule.outbox, "appointment_changed", dies_on_the_ninth_outbox_row)
    with pytest.raises(RuntimeError):
        reschedule.apply_plan(operation.id)
    db.session.rollback()
    part = snapshot(group)
    assert part["applied"] == 4  # steps 1-4 committed; step 5 rolled back whole (its session did not move)
    moved = [label for label, (_, _, version) in part["sessions"].items() if version == 2]
    assert len(moved) == 4 and sum(part["audits"].values()) == 4
    monkeypatch.setattr(reschedule.outbox, "appointment_changed", real)
    enqueue_reschedule(operation.id)
    run_jobs()
    assert snapshot(group) == golden


def test_running_the_job_twice_changes_nothing_more(world, manager, run_jobs, golden):  # type: ignore[no-untyped-def]
    group = new_group(world, manager, "TWICE")
    operation = postpone_8(manager, group)
    enqueue_reschedule(operation.id)
    enqueue_reschedule(operation.id, "duplicate")  # a second copy under another id (at-least-once delivery)
    run_jobs()
    reschedule.apply_plan(operation.id)
    assert snapshot(group) == golden


def test_only_one_reschedule_of_a_group_at_a_time(world, manager):  # type: ignore[no-untyped-def]
    group = new_group(world, manager, "ONE")
    postpone_8(manager, group)
    with pytest.raises(reschedule.RescheduleInProgress, match="A reschedule of this group is in progress"):
        reschedule.request_postpone(manager, session_of(group, 4, 1), datetime(2026, 8, 10, 10), None, True)
    with pytest.raises(reschedule.RescheduleInProgress):
        reschedule.request_reslot(manager, group, [Slot(3, time(14))], group.earliest_start_date, group.version)
    assert db.session.scalar(select(func.count(Operation.id)).where(Operation.kind == "cascade")) == 1


def test_the_database_refuses_a_second_active_reschedule_even_past_the_check(world, manager):  # type: ignore[no-untyped-def]
    from sqlalchemy.exc import IntegrityError

    group = new_group(world, manager, "RACE")
    postpone_8(manager, group)
    db.session.add(Operation(kind="reslot", region_id=group.region_id, group_id=group.id, status="queued"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_refusals_come_from_the_rules(world, manager):  # type: ignore[no-untyped-def]
    group = new_group(world, manager, "NO")
    past = session_of(group, 3, 1)  # Mon 11 May, before NOW
    with pytest.raises(ServiceError, match="has already started, so it cannot be postponed"):
        reschedule.preview_postpone(manager, past, datetime(2026, 5, 27, 10), None, True)
    with pytest.raises(ServiceError, match="cannot be made longer"):
        reschedule.preview_postpone(manager, past, past.starts_at, past.ends_at.replace(hour=14), True)
    with pytest.raises(ServiceError, match="The end time must be after the start time"):
        reschedule.preview_postpone(manager, session_of(group, 3, 3), NEW_START, NEW_START.replace(hour=9), True)


def test_a_stalled_or_failed_reschedule_can_be_resumed(world, manager, run_jobs, golden):  # type: ignore[no-untyped-def]
    group = new_group(world, manager, "RESUME")
    operation = postpone_8(manager, group)
    reschedule.apply_next_step(operation.id)
    reschedule.stopped(operation.id, "The reschedule stopped part-way")
    db.session.refresh(operation)
    assert operation.status == "failed" and reschedule.resumable(operation)
    reschedule.resume(manager, operation)
    enqueue_reschedule(operation.id, "resume-1")
    run_jobs()
    assert snapshot(group) == golden


def test_changing_days_and_times_before_the_group_starts_moves_nothing_in_the_background(world, manager):  # type: ignore[no-untyped-def]
    group = world.group(manager, "NEW", start=date(2026, 9, 7))
    assert reschedule.request_reslot(manager, group, [Slot(1, time(18))], date(2026, 9, 14), group.version) is None
    db.session.refresh(group)
    assert [(s.day_of_week, s.start_time) for s in group.slots] == [(1, time(18))]
    assert group.earliest_start_date == date(2026, 9, 14)
    assert db.session.scalar(select(func.count(Operation.id)).where(Operation.kind == "reslot")) == 0


def test_flask_schedule_resume_finishes_a_cascade_whose_worker_died(app, world, manager, golden):  # type: ignore[no-untyped-def]
    group = new_group(world, manager, "CLI")
    operation = postpone_8(manager, group)
    for _ in range(5):
        reschedule.apply_next_step(operation.id)
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["schedule", "resume", str(operation.id)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "succeeded: Moved 21 sessions. The programme now ends 7 Dec 2026."
    assert snapshot(group) == golden
    again = app.test_cli_runner().invoke(args=["schedule", "resume", str(operation.id)])
    assert again.exit_code == 0 and snapshot(group) == golden
    missing = app.test_cli_runner().invoke(args=["schedule", "resume", "999999"])
    assert missing.exit_code == 2 and "There is no reschedule 999999" in missing.output
