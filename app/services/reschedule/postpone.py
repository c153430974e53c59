"""Postponing a session (SPEC §3 cascade reschedule): the preview, and the stored plan on confirmation."""
from __future__ import annotations

from datetime import datetime

from app import clock
from app.models import Operation, Session, User
from app.scheduling import ScheduleRefused, postpone
from app.services import audit
from app.services.errors import ServiceError
from app.services.programme import load_template, programme_spec
from app.services.reschedule.apply import store_plan
from app.services.reschedule.plan import (
    Plan,
    PlanChanged,
    bank_holidays_around,
    existing_session,
    group_sessions,
    group_slots,
    plan_moves,
    programme_end,
    refuse_if_busy,
)
from app.services.reschedule.preview_warnings import preview_warnings


def preview_postpone(actor: User, session: Session, new_start: datetime, new_end: datetime | None,
                     cascade: bool) -> Plan:
    """What postponing ``session`` to ``new_start`` would move. Refusals (a past session, an end before the
    start, …) are ServiceErrors with the rules' one-line reason."""
    group = session.group
    refuse_if_busy(group)
    rows = group_sessions(group)
    template = load_template(group.template_id)
    spec = programme_spec(template)
    try:
        moves = postpone(spec, [existing_session(s) for s in rows], str(session.id), new_start, new_end,
                         cascade=cascade, now=clock.now_local(), slots=group_slots(group),
                         bank_holidays=bank_holidays_around(rows, group))
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
    plan.warnings = preview_warnings(planned)
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
    return store_plan(actor, plan)
