"""What a postpone or a change of days and times would do: the plan shown in the preview and stored as steps,
and the reading of a group's timeline that both are computed from."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app import clock
from app.extensions import db
from app.models import Attendance, Attendee, Group, Operation, Session, SessionFacilitator, SessionTemplate
from app.scheduling import ExistingSession, Move, Slot
from app.services.bank_holidays import holiday_dates
from app.services.errors import ServiceError
from app.services.schedule_guard import (
    GENERATING,
    IN_PROGRESS,
    ScheduleBusy,
    busy_operation,
)

STALLED_AFTER = timedelta(minutes=2)
"""A running reschedule that has not moved a session for this long has lost its worker: it may be resumed."""


RescheduleInProgress = ScheduleBusy
"""Another generation or reschedule of the group is queued or running (HTTP 409)."""


class ConfirmationNeeded(ServiceError):
    """The move breaks a gap or lands on a bank holiday and the person has not confirmed it (HTTP 422)."""


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
    confirmations: list[str] = field(default_factory=list)
    """Rules the move breaks (a 3-week or 6-week gap, a bank holiday): the person must confirm explicitly."""
    repacks_earlier: bool = False
    """Moved earlier with cascade: the later sessions are re-packed and may come earlier (no push floor)."""
    notes: list[str] = field(default_factory=list)
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
        from app.services.reschedule.wording import headline

        return headline(self)



# --- reading the group's timeline ---------------------------------------------------------------------------

def group_sessions(group: Group) -> list[Session]:
    return list(db.session.scalars(
        select(Session).where(Session.group_id == group.id).order_by(Session.starts_at, Session.id).options(
            selectinload(Session.session_template).selectinload(SessionTemplate.module),
            selectinload(Session.facilitators).selectinload(SessionFacilitator.facilitator),
            selectinload(Session.attendees).selectinload(Attendee.referral),
        )
    ))


def with_attendance(session_ids: Sequence[int]) -> set[int]:
    """The sessions among these that have attendance recorded: a plan never moves them (SPEC §3 late steps)."""
    if not session_ids:
        return set()
    return set(db.session.scalars(
        select(Attendee.session_id).join(Attendance, Attendance.attendee_id == Attendee.id)
        .where(Attendee.session_id.in_(list(session_ids))).distinct()))


def existing_session(session: Session, recorded: bool = False) -> ExistingSession:
    template = session.session_template
    return ExistingSession(
        key=str(session.id), module_number=template.module.module_number, session_number=template.session_number,
        name=template.name, session_type=template.session_type, kind=session.kind, starts_at=session.starts_at,
        ends_at=session.ends_at, cancelled=session.status == "cancelled", recorded=recorded,
    )


def bank_holidays_around(rows: Sequence[Session], group: Group) -> frozenset[date]:
    first = min([group.earliest_start_date, clock.today(), *(s.starts_at.date() for s in rows)])
    return holiday_dates(first, years_ahead=max(3, clock.today().year - first.year + 3))


def group_slots(group: Group) -> list[Slot]:
    return [Slot(weekday=s.day_of_week, start=s.start_time) for s in group.slots]


def programme_end(rows: Sequence[Session], moves: dict[int, tuple[datetime, datetime]]) -> date | None:
    starts = [moves.get(s.id, (s.starts_at, s.ends_at))[0] for s in rows
              if s.kind == "scheduled" and s.status != "cancelled"]
    return max(starts).date() if starts else None


def active_reschedule(group_id: int) -> Operation | None:
    return busy_operation(group_id)


def refuse_if_busy(group: Group) -> None:
    """A preview or a plan is refused while the group's schedule is being generated or rescheduled."""
    operation = busy_operation(group.id)
    if operation is not None:
        raise ScheduleBusy(GENERATING if operation.kind == "generate" else IN_PROGRESS)


def plan_moves(rows: Sequence[Session], moves: Sequence[Move]) -> list[PlannedMove]:
    by_id = {s.id: s for s in rows}
    return [PlannedMove(by_id[int(m.key)], m.old_starts_at, m.old_ends_at, m.new_starts_at, m.new_ends_at)
            for m in moves]
