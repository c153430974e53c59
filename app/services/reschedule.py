"""Postponing a session (cascade reschedule) and changing a group's days and times (SPEC §3).

Both are previewed first, then computed once more on confirmation and stored as a plan: an Operation with one
OperationStep per session that moves (its old and new times), all in one transaction. A background job then
applies the steps one by one, each in its own transaction that moves the session, marks the step applied,
writes the audit event and the nDelius outbox rows. A step already applied is never applied again, so a job
killed at any point and run again ends exactly where an uninterrupted run would (RELIABILITY J2, J4).
"""
from __future__ import annotations

import hashlib
import json
import logging
import time as time_module
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app import clock
from app.extensions import db
from app.models import (
    Attendee,
    Group,
    GroupSlot,
    NDeliusAppointment,
    Operation,
    OperationStep,
    Session,
    SessionFacilitator,
    SessionTemplate,
    User,
)
from app.models.base import utcnow
from app.models.group import DAY_NAMES
from app.scheduling import (
    ExistingSession,
    Move,
    ScheduleRefused,
    Slot,
    normalise_slots,
    postpone,
    regenerate_future,
)
from app.services import audit, operations, outbox
from app.services.bank_holidays import holiday_dates, holidays_between
from app.services.errors import ServiceError
from app.services.programme import load_template, programme_spec

log = logging.getLogger(__name__)

RESCHEDULE_KINDS = ("cascade", "reslot")
BLOCKING_KINDS = ("generate", *RESCHEDULE_KINDS)
ACTIVE = ("queued", "running")
IN_PROGRESS = "A reschedule of this group is in progress. Wait for it to finish, then try again."
STALLED_AFTER = timedelta(minutes=2)
"""A running reschedule that has not moved a session for this long has lost its worker: it may be resumed."""


class RescheduleInProgress(ServiceError):
    """Another reschedule of the group is queued or running (HTTP 409)."""


class PlanChanged(ServiceError):
    """The schedule changed between the preview and the confirmation (HTTP 409): show the new preview."""


@dataclass(frozen=True)
class PlannedMove:
    session: Session
    old_starts_at: datetime
    old_ends_at: datetime
    new_starts_at: datetime
    new_ends_at: datetime

    @property
    def name(self) -> str:
        return self.session.session_template.name


@dataclass
class Plan:
    """What a postpone or a change of days and times would do, for the preview and for the stored steps."""

    kind: str
    group: Group
    moves: list[PlannedMove]
    ends_before: date | None
    ends_after: date | None
    target: Session | None = None
    cascade: bool = True
    new_starts_at: datetime | None = None
    slots: tuple[Slot, ...] = ()
    start_date: date | None = None
    warnings: list[str] = field(default_factory=list)
    rebook: list[Session] = field(default_factory=list)

    @property
    def others(self) -> list[PlannedMove]:
        return [m for m in self.moves if self.target is None or m.session.id != self.target.id]

    @property
    def fingerprint(self) -> str:
        """Identifies the plan: a confirmation carries the fingerprint of the preview the person saw."""
        data = sorted((m.session.id, m.new_starts_at.isoformat(), m.new_ends_at.isoformat()) for m in self.moves)
        return hashlib.sha256(json.dumps([self.kind, data]).encode()).hexdigest()[:20]

    @property
    def headline(self) -> str:
        return _headline(self)


# --- reading the group's timeline ---------------------------------------------------------------------------

def _group_sessions(group: Group) -> list[Session]:
    return list(db.session.scalars(
        select(Session).where(Session.group_id == group.id).order_by(Session.starts_at, Session.id).options(
            selectinload(Session.session_template).selectinload(SessionTemplate.module),
            selectinload(Session.facilitators).selectinload(SessionFacilitator.facilitator),
            selectinload(Session.attendees).selectinload(Attendee.referral),
        )
    ))


def existing_session(session: Session) -> ExistingSession:
    template = session.session_template
    return ExistingSession(
        key=str(session.id), module_number=template.module.module_number, session_number=template.session_number,
        name=template.name, session_type=template.session_type, kind=session.kind, starts_at=session.starts_at,
        ends_at=session.ends_at, cancelled=session.status == "cancelled",
    )


def _bank_holidays(rows: Sequence[Session], group: Group) -> frozenset[date]:
    first = min([group.earliest_start_date, clock.today(), *(s.starts_at.date() for s in rows)])
    return holiday_dates(first, years_ahead=max(3, clock.today().year - first.year + 3))


def _slots(group: Group) -> list[Slot]:
    return [Slot(weekday=s.day_of_week, start=s.start_time) for s in group.slots]


def _programme_end(rows: Sequence[Session], moves: dict[int, tuple[datetime, datetime]]) -> date | None:
    starts = [moves.get(s.id, (s.starts_at, s.ends_at))[0] for s in rows
              if s.kind == "scheduled" and s.status != "cancelled"]
    return max(starts).date() if starts else None


def active_reschedule(group_id: int) -> Operation | None:
    return db.session.scalar(
        select(Operation).where(Operation.group_id == group_id, Operation.kind.in_(BLOCKING_KINDS),
                                Operation.status.in_(ACTIVE)).order_by(Operation.id.desc()).limit(1)
    )


def _refuse_if_busy(group: Group) -> None:
    if active_reschedule(group.id) is not None:
        raise RescheduleInProgress(IN_PROGRESS)


def _plan_moves(rows: Sequence[Session], moves: Sequence[Move]) -> list[PlannedMove]:
    by_id = {s.id: s for s in rows}
    return [PlannedMove(by_id[int(m.key)], m.old_starts_at, m.old_ends_at, m.new_starts_at, m.new_ends_at)
            for m in moves]


# --- postpone -----------------------------------------------------------------------------------------------

def preview_postpone(actor: User, session: Session, new_start: datetime, new_end: datetime | None,
                     cascade: bool) -> Plan:
    """What postponing ``session`` to ``new_start`` would move. Refusals (a past session, an end before the
    start, …) are ServiceErrors with the rules' one-line reason."""
    group = session.group
    _refuse_if_busy(group)
    rows = _group_sessions(group)
    template = load_template(group.template_id)
    spec = programme_spec(template)
    try:
        moves = postpone(spec, [existing_session(s) for s in rows], str(session.id), new_start, new_end,
                         cascade=cascade, now=clock.now_local(), slots=_slots(group),
                         bank_holidays=_bank_holidays(rows, group))
    except ScheduleRefused as exc:
        raise ServiceError(str(exc), "date") from None
    if str(session.id) not in {m.key for m in moves}:
        raise ServiceError(f"'{session.session_template.name}' is already at that time: choose another date "
                           "or time.", "date")
    planned = _plan_moves(rows, moves)
    planned.sort(key=lambda m: (m.session.id != session.id, m.new_starts_at))
    new_times = {m.session.id: (m.new_starts_at, m.new_ends_at) for m in planned}
    plan = Plan(kind="cascade", group=group, moves=planned, target=session, cascade=cascade,
                new_starts_at=new_start, ends_before=_programme_end(rows, {}),
                ends_after=_programme_end(rows, new_times))
    plan.warnings = _warnings(planned)
    return plan


def request_postpone(actor: User, session: Session, new_start: datetime, new_end: datetime | None,
                     cascade: bool, seen_fingerprint: str | None = None) -> Operation:
    """Store the plan (Operation + one step per moved session) in one transaction; the caller enqueues the job.
    The plan is computed again here, never taken from the browser."""
    plan = preview_postpone(actor, session, new_start, new_end, cascade)
    if seen_fingerprint is not None and seen_fingerprint != plan.fingerprint:
        raise PlanChanged("The schedule has changed since you looked at it. Check what will move now, "
                          "then confirm again.")
    audit.record(actor, "session.postpone_requested", session, group_id=plan.group.id,
                 before={"starts_at": session.starts_at.isoformat(), "ends_at": session.ends_at.isoformat()},
                 after={"starts_at": plan.moves[0].new_starts_at.isoformat(),
                        "ends_at": plan.moves[0].new_ends_at.isoformat(), "cascade": cascade,
                        "sessions_moving": len(plan.moves)})
    return _store_plan(actor, plan)


# --- changing days and times --------------------------------------------------------------------------------

def preview_reslot(actor: User, group: Group, slots: Sequence[Slot], start_date: date) -> Plan:
    """What changing the group's weekly slots and start date would move (past sessions never do)."""
    if not slots:
        raise ServiceError("Add at least one day and time", "slots")
    if len(set(slots)) != len(slots):
        raise ServiceError("Each day and time can only be added once", "slots")
    _refuse_if_busy(group)
    rows = _group_sessions(group)
    spec = programme_spec(load_template(group.template_id))
    try:
        normalise_slots(slots, max(s.duration_minutes for s in spec.sessions()))
    except ValueError as exc:
        raise ServiceError(_slot_message(str(exc)), "slots") from None
    moves: list[Move] = []
    if rows:
        try:
            moves = regenerate_future(spec, [existing_session(s) for s in rows], now=clock.now_local(),
                                      slots=list(slots), restart_from=start_date,
                                      bank_holidays=_bank_holidays(rows, group))
        except ScheduleRefused as exc:
            raise ServiceError(str(exc), "slots") from None
    planned = _plan_moves(rows, moves)
    new_times = {m.session.id: (m.new_starts_at, m.new_ends_at) for m in planned}
    plan = Plan(kind="reslot", group=group, moves=planned, slots=tuple(sorted(slots)), start_date=start_date,
                ends_before=_programme_end(rows, {}), ends_after=_programme_end(rows, new_times))
    plan.warnings = _warnings(planned)
    plan.rebook = _to_rebook(rows, planned)
    return plan


def request_reslot(actor: User, group: Group, slots: Sequence[Slot], start_date: date, seen_version: int,
                   seen_fingerprint: str | None = None) -> Operation | None:
    """Change the group's slots and start date, and store the plan that moves its future sessions (None when no
    session needs to move). One transaction; the caller enqueues the job."""
    if group.version != seen_version:
        raise PlanChanged("Someone else changed this group since you opened the form. Check the days and "
                          "times again, then confirm.")
    plan = preview_reslot(actor, group, slots, start_date)
    if seen_fingerprint is not None and seen_fingerprint != plan.fingerprint:
        raise PlanChanged("The schedule has changed since you looked at it. Check what will move now, "
                          "then confirm again.")
    before = {"slots": [s.label for s in group.slots], "earliest_start_date": group.earliest_start_date.isoformat()}
    wanted = {(s.weekday, s.start) for s in slots}
    for row in list(group.slots):
        if (row.day_of_week, row.start_time) not in wanted:
            group.slots.remove(row)
    have = {(row.day_of_week, row.start_time) for row in group.slots}
    group.slots.extend(GroupSlot(day_of_week=d, start_time=t) for d, t in sorted(wanted - have))
    group.earliest_start_date = start_date
    db.session.flush()
    audit.record(actor, "group.days_and_times_changed", group, group_id=group.id, before=before, after={
        "slots": [f"{DAY_NAMES[d]} {t:%H:%M}" for d, t in sorted(wanted)],
        "earliest_start_date": start_date.isoformat(), "sessions_moving": len(plan.moves),
    })
    if not plan.moves:
        db.session.commit()
        return None
    return _store_plan(actor, plan)


def _slot_message(error: str) -> str:
    return "Two of the days and times are too close together to hold a session each" if "too close" in error \
        else error


# --- the stored plan ----------------------------------------------------------------------------------------

def _store_plan(actor: User, plan: Plan) -> Operation:
    operation = Operation(
        kind=plan.kind, user_id=actor.id, region_id=plan.group.region_id, group_id=plan.group.id,
        status="queued", done=0, total=len(plan.moves), message="Waiting to start",
        result={"headline": plan.headline, "ends_after": plan.ends_after.isoformat() if plan.ends_after else None},
    )
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
    if session is None or session.status == "cancelled":
        step.payload = {**payload, "skipped": "cancelled" if session else "deleted"}
    else:
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
    end = _programme_end(rows, {})
    operation.status = "succeeded"
    operation.done = operation.total
    moved = "1 session" if operation.total == 1 else f"{operation.total} sessions"
    operation.message = f"Moved {moved}." + (f" The programme now ends {_day(end)}." if end else "")
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


def latest_reschedules(group_ids: Sequence[int], since: datetime) -> list[Operation]:
    """The most recent reschedule of each group that is still running, has stalled or failed (for the calendar
    page), newest first."""
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


# --- warnings -----------------------------------------------------------------------------------------------

def _warnings(moves: Sequence[PlannedMove]) -> list[str]:
    if not moves:
        return []
    return _bank_holiday_warnings(moves) + _facilitator_clashes(moves) + _sentence_end_warnings(moves)


def _bank_holiday_warnings(moves: Sequence[PlannedMove]) -> list[str]:
    days = holidays_between(min(m.new_starts_at.date() for m in moves), max(m.new_starts_at.date() for m in moves))
    return [f"{m.new_starts_at:%a} {_day(m.new_starts_at.date())} is a bank holiday ({days[m.new_starts_at.date()]}):"
            f" '{m.name}' would be on it." for m in moves if m.new_starts_at.date() in days]


def _facilitator_clashes(moves: Sequence[PlannedMove]) -> list[str]:
    """A facilitator of a moved session who is already booked elsewhere at the new time (SPEC §3: warn, and say
    where)."""
    moving = {m.session.id for m in moves}
    facilitator_ids = {sf.facilitator_id for m in moves for sf in m.session.facilitators}
    if not facilitator_ids:
        return []
    others = db.session.scalars(
        select(Session).join(SessionFacilitator).where(
            SessionFacilitator.facilitator_id.in_(facilitator_ids), Session.id.not_in(moving),
            Session.status != "cancelled", Session.starts_at < max(m.new_ends_at for m in moves),
            Session.ends_at > min(m.new_starts_at for m in moves),
        ).options(selectinload(Session.facilitators).selectinload(SessionFacilitator.facilitator),
                  selectinload(Session.session_template), selectinload(Session.group))
        .order_by(Session.starts_at, Session.id).distinct()
    ).all()
    warnings = []
    for move in moves:
        mine = {sf.facilitator_id: sf.facilitator for sf in move.session.facilitators}
        for other in others:
            if not (other.starts_at < move.new_ends_at and move.new_starts_at < other.ends_at):
                continue
            for sf in other.facilitators:
                if sf.facilitator_id in mine:
                    where = f" at {other.location}" if other.location else ""
                    warnings.append(
                        f"{sf.facilitator.name} is already booked for group {other.group.code}'s "
                        f"'{other.session_template.name}'{where} on {_when(other.starts_at)}–"
                        f"{other.ends_at:%H:%M}, when '{move.name}' would be."
                    )
    return warnings


def _sentence_end_warnings(moves: Sequence[PlannedMove]) -> list[str]:
    """A moved session after an attendee's sentence ends (Referral.sentence_end_date): one line per person."""
    late: dict[int, tuple[str, date, list[PlannedMove]]] = {}
    for move in sorted(moves, key=lambda m: m.new_starts_at):
        for attendee in move.session.attendees:
            end = attendee.referral.sentence_end_date
            if end is not None and move.new_starts_at.date() > end:
                late.setdefault(attendee.referral_id, (attendee.referral.person_name, end, []))[2].append(move)
    warnings = []
    for name, end, later in late.values():
        first = later[0]
        more = f" and {len(later) - 1} more" if len(later) > 1 else ""
        warnings.append(f"{name}'s sentence ends on {_day(end)}: '{first.name}' would be on "
                        f"{_day(first.new_starts_at.date())}{more}, after it.")
    return warnings


def _to_rebook(rows: Sequence[Session], moves: Sequence[PlannedMove]) -> list[Session]:
    """Booked one-to-ones and catch-ups still to come are kept where they are; those whose placeholder moves
    or that now overlap a moved group session are listed for the person to re-book (never deleted)."""
    now = clock.now_local()
    moved = {m.session.id: m for m in moves}
    moved_templates = {m.session.session_template_id for m in moves if m.session.kind == "scheduled"}
    listed = []
    for session in rows:
        if session.kind == "scheduled" or session.status == "cancelled" or session.starts_at <= now:
            continue
        overlaps = any(m.new_starts_at < session.ends_at and session.starts_at < m.new_ends_at
                       for m in moved.values())
        placeholder_moved = session.kind == "one_to_one" and session.session_template_id in moved_templates
        if overlaps or placeholder_moved:
            listed.append(session)
    return listed


# --- words --------------------------------------------------------------------------------------------------

def _day(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def _when(moment: datetime) -> str:
    return f"{moment:%a} {moment.day} {moment:%b %Y %H:%M}"


def _sessions(count: int, what: str = "session") -> str:
    return f"{count} {what}" if count == 1 else f"{count} {what}s"


def _ends(plan: Plan) -> str:
    if plan.ends_after is None:
        return ""
    verb = "still ends" if plan.ends_after == plan.ends_before else "now ends"
    return f"; programme {verb} {_day(plan.ends_after)}"


def _headline(plan: Plan) -> str:
    if plan.kind == "reslot":
        slots = ", ".join(f"{DAY_NAMES[s.weekday]} {s.start:%H:%M}" for s in plan.slots)
        start = f" from {_day(plan.start_date)}" if plan.start_date else ""
        moving = f"move {_sessions(len(plan.moves))}" if plan.moves else "no sessions need to move"
        return f"Change days and times to {slots}{start} and {moving}{_ends(plan)}"
    target = plan.target
    assert target is not None and plan.moves
    first = plan.moves[0]
    at = f" at {first.new_starts_at:%H:%M}" if first.new_starts_at.time() != first.old_starts_at.time() else ""
    to = f"{first.new_starts_at:%a} {_day(first.new_starts_at.date())}{at}"
    verb = "Postpone" if first.new_starts_at > first.old_starts_at else "Move"
    name = target.session_template.name
    if not plan.cascade:
        return f"{verb} only {name} to {to}{_ends(plan)}"
    one_to_ones = [m for m in plan.others if m.session.kind == "one_to_one"]
    later = [m for m in plan.others if m.session.kind != "one_to_one"]
    parts = []
    if later:
        parts.append(_sessions(len(later), "later session"))
    if one_to_ones:
        parts.append(_sessions(len(one_to_ones), "booked one-to-one"))
    moving = f" and move {' and '.join(parts)}" if parts else "; no later sessions need to move"
    return f"{verb} {name} to {to}{moving}{_ends(plan)}"

