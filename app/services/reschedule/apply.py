"""The stored plan and applying it: an Operation with one OperationStep per session that moves, stored in one
transaction; the job applies the steps one by one, each in its own transaction that moves the session, marks
the step applied, writes the audit event and the nDelius outbox rows. A step already applied is never applied
again, so a job killed at any point and run again ends exactly where an uninterrupted run would (RELIABILITY
J2, J4)."""
from __future__ import annotations

import functools
import time as time_module
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from redis import Redis
from sqlalchemy import CompoundSelect, bindparam, func, select, union
from sqlalchemy.exc import IntegrityError

from app import clock
from app.extensions import db
from app.models import NDeliusAppointment, Operation, OperationStep, Session, User
from app.models.base import utcnow
from app.services import audit, operations, outbox
from app.services.errors import ServiceError
from app.services.reads import run
from app.services.reschedule.outcome import rebook_entries
from app.services.reschedule.plan import (
    STALLED_AFTER,
    Plan,
    RescheduleInProgress,
    programme_end,
    with_attendance,
)
from app.services.reschedule.wording import NotMoved, finished_message, not_moved_lines, session_label
from app.services.schedule_guard import ACTIVE, IN_PROGRESS, RESCHEDULE_KINDS, lock_group


def store_plan(actor: User, plan: Plan) -> Operation:
    operation = Operation(
        kind=plan.kind, user_id=actor.id, region_id=plan.group.region_id, group_id=plan.group.id,
        status="queued", done=0, total=len(plan.moves), message="Waiting to start",
        result={"headline": plan.headline, "ends_after": plan.ends_after.isoformat() if plan.ends_after else None,
                **({"rebook": rebook_entries(plan.rebook)} if plan.rebook else {})},
    )
    lock_group(plan.group.id)  # a writer that passed the schedule guard finishes first (PostgreSQL)
    db.session.add(operation)
    try:
        db.session.flush()
    except IntegrityError:  # another request won the race (uq_operation_one_reschedule)
        db.session.rollback()
        raise RescheduleInProgress(IN_PROGRESS) from None
    for position, move in enumerate(sorted(plan.moves, key=lambda m: (m.new_starts_at, m.session.id))):
        db.session.add(OperationStep(operation_id=operation.id, position=position, payload={
            "session_id": move.session.id,
            "old_starts_at": move.old_starts_at.isoformat(), "old_ends_at": move.old_ends_at.isoformat(),
            "new_starts_at": move.new_starts_at.isoformat(), "new_ends_at": move.new_ends_at.isoformat(),
            "version": move.session.version,
        }))
    db.session.commit()
    return operation


def apply_plan(operation_id: int, redis: Redis | None = None, *, step_delay: float = 0.0) -> None:
    """The job body: apply every step not yet applied, each in its own transaction, then finish. Safe to run
    again after a crash at any point, and safe to run twice at once (each step locks the operation row)."""
    operation = db.session.get(Operation, operation_id)
    if operation is None or operation.finished or operation.kind not in RESCHEDULE_KINDS:
        return
    if operation.status != "running":
        operation.status = "running"
        operation.message = "Moving sessions"
        operation.error = None
        db.session.commit()
    while True:
        applied = apply_next_step(operation_id, redis)
        if applied is None:
            if _finish(operation_id):
                return
            continue
        if step_delay:
            time_module.sleep(step_delay)


def apply_next_step(operation_id: int, redis: Redis | None = None) -> OperationStep | None:
    """Apply the first step not yet applied, in one transaction; None when every step has been applied."""
    operation = db.session.scalars(
        select(Operation).where(Operation.id == operation_id).with_for_update()
    ).one()
    step = db.session.scalar(
        select(OperationStep).where(OperationStep.operation_id == operation_id,
                                    OperationStep.applied_at.is_(None))
        .order_by(OperationStep.position).limit(1)
    )
    if step is None:
        db.session.rollback()
        return None
    payload = step.payload
    session = db.session.get(Session, payload["session_id"])
    actor = db.session.get(User, operation.user_id) if operation.user_id else None
    skipped = not_moved_because(session, payload)
    if skipped is not None:
        step.payload = {**payload, "skipped": skipped.value}
        if session is not None:
            _list_not_moved(operation, session, skipped)
    else:
        assert session is not None
        before = {"starts_at": session.starts_at.isoformat(), "ends_at": session.ends_at.isoformat()}
        session.starts_at = datetime.fromisoformat(payload["new_starts_at"])
        session.ends_at = datetime.fromisoformat(payload["new_ends_at"])
        audit.record(actor, "session.rescheduled", session, group_id=session.group_id, before=before, after={
            "starts_at": payload["new_starts_at"], "ends_at": payload["new_ends_at"], "operation_id": operation_id,
        })
        for appointment in _appointments(session):
            outbox.appointment_changed(appointment)
    step.applied_at = utcnow()
    operation.done = db.session.scalar(
        select(func.count(OperationStep.id)).where(OperationStep.operation_id == operation_id,
                                                   OperationStep.applied_at.is_not(None))
    ) or 0
    operation.message = f"Moved {operation.done} of {operation.total} sessions"
    progress = (operation.done, operation.total, operation.message)
    db.session.commit()
    operations.report_live(redis, operation, *progress)
    db.session.rollback()  # end the read that refreshed `operation`: no lock is held between steps (SQLite)
    return step


def not_moved_because(session: Session | None, payload: dict[str, Any]) -> NotMoved | None:
    """A late step moves a session only if it has not started, has no attendance and is still where the plan
    found it (times and version as planned); otherwise the reason it stays (SPEC §3, late steps)."""
    if session is None:
        return NotMoved.DELETED
    if session.status == "cancelled":
        return NotMoved.CANCELLED
    if with_attendance([session.id]):
        return NotMoved.ATTENDANCE
    now = clock.now_local()
    if session.starts_at <= now:
        return NotMoved.STARTED
    planned = (payload["old_starts_at"], payload["old_ends_at"], payload.get("version", session.version))
    if (session.starts_at.isoformat(), session.ends_at.isoformat(), session.version) != planned:
        return NotMoved.CHANGED
    if datetime.fromisoformat(payload["new_starts_at"]) <= now:
        return NotMoved.TOO_LATE
    return None


def _list_not_moved(operation: Operation, session: Session, reason: NotMoved) -> None:
    """Kept on the operation's result, so the page can say which sessions stayed and why."""
    entry = {"session_id": session.id, "label": session_label(session), "reason": reason.value}
    entry["text"] = not_moved_lines([entry])[0]
    result = dict(operation.result or {})
    result["not_moved"] = [*[e for e in result.get("not_moved", []) if e["session_id"] != session.id], entry]
    operation.result = result


def _appointments(session: Session) -> list[NDeliusAppointment]:
    attendee_ids = [a.id for a in session.attendees]
    if not attendee_ids:
        return []
    return list(db.session.scalars(
        select(NDeliusAppointment).where(NDeliusAppointment.attendee_id.in_(attendee_ids),
                                         NDeliusAppointment.sync_state != "deleted")
        .order_by(NDeliusAppointment.id)
    ))


def _finish(operation_id: int) -> bool:
    operation = db.session.scalars(
        select(Operation).where(Operation.id == operation_id).with_for_update()
    ).one()
    if operation.finished:
        db.session.rollback()
        return True
    pending = db.session.scalar(
        select(func.count(OperationStep.id)).where(OperationStep.operation_id == operation_id,
                                                   OperationStep.applied_at.is_(None))
    )
    if pending:
        db.session.rollback()
        return False
    rows = db.session.scalars(
        select(Session).where(Session.group_id == operation.group_id, Session.kind == "scheduled",
                              Session.status != "cancelled")
    ).all()
    end = programme_end(rows, {})
    operation.status = "succeeded"
    operation.done = operation.total
    not_moved = (operation.result or {}).get("not_moved", [])
    operation.message = finished_message(operation.total - len(not_moved), not_moved, end,
                                         len((operation.result or {}).get("rebook", [])))
    operation.result = {**(operation.result or {}), "ends_after": end.isoformat() if end else None}
    db.session.commit()
    return True


def stopped(operation_id: int, error: str) -> None:
    """The job gave up (no retries left): say so; the applied steps stay and the rest can be resumed."""
    operations.fail(operation_id, error)


def resumable(operation: Operation) -> bool:
    """A reschedule that failed, or whose worker was lost part-way, can be run again from where it stopped."""
    if operation.kind not in RESCHEDULE_KINDS or operation.status == "succeeded":
        return False
    if operation.status == "failed":
        return True
    updated = operation.updated_at or operation.created_at
    return utcnow() - updated > STALLED_AFTER


def resume(actor: User, operation: Operation) -> Operation:
    """Mark the reschedule queued again (the caller enqueues a fresh job). Refused when another reschedule of
    the group has started since."""
    if not resumable(operation):
        raise ServiceError("This reschedule is still running or has finished.")
    operation.status = "queued"
    operation.error = None
    operation.message = "Waiting to carry on"
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise RescheduleInProgress(IN_PROGRESS) from None
    audit.record(actor, "operation.resumed", operation, group_id=operation.group_id)
    db.session.commit()
    return operation


def carry_on(operation_id: int, redis: Redis | None = None) -> Operation:
    """Apply what is left of a reschedule here and now (`flask schedule resume`): after a worker died, or after
    the job gave up. Steps already applied are not applied again."""
    operation = db.session.get(Operation, operation_id)
    if operation is None or operation.kind not in RESCHEDULE_KINDS:
        raise ServiceError(f"There is no reschedule {operation_id}.")
    if operation.status == "failed":
        operation.status = "queued"
        operation.error = None
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            raise RescheduleInProgress(IN_PROGRESS) from None
    apply_plan(operation_id, redis)
    return db.session.get(Operation, operation_id)  # type: ignore[return-value]


@functools.cache
def _groups_with_recent_reschedules() -> CompoundSelect:
    """Groups with a reschedule running, or one that ended lately and not well: a few in the country at any time,
    found by index (the partial unique index for running ones, updated_at for the rest). Built once."""
    kinds = Operation.kind.in_(RESCHEDULE_KINDS)
    running = select(Operation.group_id).where(kinds, Operation.status.in_(ACTIVE))
    lately = select(Operation.group_id).where(kinds, Operation.status != "succeeded",
                                              Operation.updated_at >= bindparam("since"))
    return union(running, lately)


RECENT_KEPT_SECONDS = 5.0


def _recently_rescheduled(since: datetime) -> frozenset[int]:
    """The groups of _groups_with_recent_reschedules, kept in the process while no operation has been written
    (app/services/generations.py, "operations": a reschedule started, moving on or ending replaces it) and for a few
    seconds at most (`since` moves on): the calendar asks on every load, and mostly nothing is running."""
    from flask import current_app

    from app.services import generations

    generation = generations.current("operations")
    kept: dict[str, Any] = current_app.extensions.setdefault("recent_reschedules", {})
    now = time_module.monotonic()
    if generation is not None and kept.get("generation") == generation and kept.get("until", 0.0) > now:
        return frozenset(kept["groups"])
    groups = frozenset(row[0] for row in run(_groups_with_recent_reschedules(), {"since": since}))
    if generation is not None:
        kept.update(generation=generation, until=now + RECENT_KEPT_SECONDS, groups=groups)
    return groups


def latest_reschedules(group_ids: Sequence[int], since: datetime) -> list[Operation]:
    """The most recent reschedule of each group that is still running, has stalled or failed (for the calendar
    page), newest first. The calendar asks on every load, for every group it shows (hundreds in a region
    month): the few groups with such a reschedule anywhere are looked up first, and only those are loaded."""
    if group_ids:
        recent = _recently_rescheduled(since)
        group_ids = [group_id for group_id in group_ids if group_id in recent]
    if not group_ids:
        return []
    latest = (
        select(func.max(Operation.id)).where(Operation.group_id.in_(group_ids),
                                             Operation.kind.in_(RESCHEDULE_KINDS))
        .group_by(Operation.group_id)
    )
    return list(db.session.scalars(
        select(Operation).where(Operation.id.in_(latest), Operation.status != "succeeded",
                                (Operation.status.in_(ACTIVE)) | (Operation.updated_at >= since))
        .order_by(Operation.id.desc())
    ))
