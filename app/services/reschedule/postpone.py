"""Postponing a session (SPEC §3 cascade reschedule): the preview, and the stored plan on confirmation."""
from __future__ import annotations

from datetime import datetime

from app import clock
from app.models import Operation, Session, User
from app.scheduling import ScheduleRefused, postpone, rule_breaks
from app.services import audit
from app.services.errors import ServiceError
from app.services.programme import load_template, programme_spec
from app.services.reschedule.apply import store_plan
from app.services.reschedule.plan import (
    ConfirmationNeeded,
    Plan,
    PlanChanged,
    bank_holidays_around,
    existing_session,
    group_sessions,
    group_slots,
    plan_moves,
    programme_end,
    refuse_if_busy,
    with_attendance,
)
from app.services.reschedule.preview_warnings import postpone_warnings
from app.services.reschedule.wording import CONFIRM_ANYWAY, REPACKS_EARLIER, rule_break_label


def resolved_cascade(session: Session, new_start: datetime, cascade: bool | None) -> bool:
    """When the person has not chosen: a later move carries the sessions after it, an earlier one moves only
    this session (SPEC §3)."""
    return new_start > session.starts_at if cascade is None else cascade


def preview_postpone(actor: User, session: Session, new_start: datetime, new_end: datetime | None,
                     cascade: bool | None) -> Plan:
    """What postponing ``session`` to ``new_start`` would move. Refusals (a past session, an end before the
    start, …) are ServiceErrors with the rules' one-line reason. ``cascade`` None: see resolved_cascade."""
    group = session.group
    refuse_if_busy(group)
    cascade = resolved_cascade(session, new_start, cascade)
    rows = group_sessions(group)
    template = load_template(group.template_id)
    spec = programme_spec(template)
    recorded = with_attendance([s.id for s in rows])
    timeline = [existing_session(s, s.id in recorded) for s in rows]
    holidays = bank_holidays_around(rows, group)
    try:
        moves = postpone(spec, timeline, str(session.id), new_start, new_end, cascade=cascade,
                         now=clock.now_local(), slots=group_slots(group), bank_holidays=holidays)
    except ScheduleRefused as exc:
        raise ServiceError(str(exc), "date") from None
    if str(session.id) not in {m.key for m in moves}:
        raise ServiceError(f"'{session.session_template.name}' is already at that time: choose another date "
                           "or time.", "date")
    planned = plan_moves(rows, moves)
    planned.sort(key=lambda m: (m.session.id != session.id, m.new_starts_at))
    new_times = {m.session.id: (m.new_starts_at, m.new_ends_at) for m in planned}
    plan = Plan(kind="cascade", group=group, moves=planned, target=session, cascade=cascade,
                new_starts_at=new_start, ends_before=programme_end(rows, {}),
                ends_after=programme_end(rows, new_times))
    plan.warnings = postpone_warnings(planned)
    by_id = {str(s.id): s for s in rows}
    plan.confirmations = [rule_break_label(found, by_id) for found in rule_breaks(spec, timeline, moves, holidays)]
    plan.repacks_earlier = cascade and new_start < session.starts_at and len(planned) > 1
    plan.notes = [REPACKS_EARLIER] if plan.repacks_earlier else []
    return plan


def request_postpone(actor: User, session: Session, new_start: datetime, new_end: datetime | None,
                     cascade: bool | None, seen_fingerprint: str | None = None, *,
                     confirmed: bool = False) -> Operation:
    """Store the plan (Operation + one step per moved session) in one transaction; the caller enqueues the job.
    The plan is computed again here, never taken from the browser. A move that breaks a gap or lands on a
    bank holiday goes ahead only ``confirmed``."""
    plan = preview_postpone(actor, session, new_start, new_end, cascade)
    if seen_fingerprint is not None and seen_fingerprint != plan.fingerprint:
        raise PlanChanged("The schedule has changed since you looked at it. Check what will move now, "
                          "then confirm again.")
    if plan.confirmations and not confirmed:
        raise ConfirmationNeeded(CONFIRM_ANYWAY, "confirm")
    audit.record(actor, "session.postpone_requested", session, group_id=plan.group.id,
                 before={"starts_at": session.starts_at.isoformat(), "ends_at": session.ends_at.isoformat()},
                 after={"starts_at": plan.moves[0].new_starts_at.isoformat(),
                        "ends_at": plan.moves[0].new_ends_at.isoformat(), "cascade": plan.cascade,
                        "sessions_moving": len(plan.moves), "confirmed": plan.confirmations})
    return store_plan(actor, plan)
