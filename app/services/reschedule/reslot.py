"""Changing a group's days and times or start date (SPEC §3): past sessions stay, future ones are regenerated;
booked one-to-ones and catch-ups that cannot stay are listed for re-booking, never deleted."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from app import clock
from app.extensions import db
from app.models import Group, GroupSlot, Operation, Session, User
from app.models.group import DAY_NAMES
from app.scheduling import Move, ScheduleRefused, Slot, normalise_slots, regenerate_future
from app.services import audit
from app.services.errors import ServiceError
from app.services.programme import load_template, programme_spec
from app.services.reschedule.apply import store_plan
from app.services.reschedule.plan import (
    Plan,
    PlanChanged,
    PlannedMove,
    bank_holidays_around,
    existing_session,
    group_sessions,
    plan_moves,
    programme_end,
    refuse_if_busy,
    with_attendance,
)
from app.services.reschedule.preview_warnings import preview_warnings


def preview_reslot(actor: User, group: Group, slots: Sequence[Slot], start_date: date) -> Plan:
    """What changing the group's weekly slots and start date would move (past sessions never do)."""
    if not slots:
        raise ServiceError("Add at least one day and time", "slots")
    if len(set(slots)) != len(slots):
        raise ServiceError("Each day and time can only be added once", "slots")
    refuse_if_busy(group)
    rows = group_sessions(group)
    spec = programme_spec(load_template(group.template_id))
    try:
        normalise_slots(slots, max(s.duration_minutes for s in spec.sessions()))
    except ValueError as exc:
        raise ServiceError(_slot_message(str(exc)), "slots") from None
    moves: list[Move] = []
    if rows:
        try:
            recorded = with_attendance([s.id for s in rows])
            moves = regenerate_future(spec, [existing_session(s, s.id in recorded) for s in rows],
                                      now=clock.now_local(),
                                      slots=list(slots), restart_from=start_date,
                                      bank_holidays=bank_holidays_around(rows, group))
        except ScheduleRefused as exc:
            raise ServiceError(str(exc), "slots") from None
    planned = plan_moves(rows, moves)
    new_times = {m.session.id: (m.new_starts_at, m.new_ends_at) for m in planned}
    plan = Plan(kind="reslot", group=group, moves=planned, slots=tuple(sorted(slots)), start_date=start_date,
                ends_before=programme_end(rows, {}), ends_after=programme_end(rows, new_times))
    plan.warnings = preview_warnings(planned)
    plan.rebook = to_rebook(rows, planned)
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
    return store_plan(actor, plan)


def _slot_message(error: str) -> str:
    return "Two of the days and times are too close together to hold a session each" if "too close" in error \
        else error


def to_rebook(rows: Sequence[Session], moves: Sequence[PlannedMove]) -> list[Session]:
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
