"""What the preview warns about: bank holidays, facilitator double-bookings (and where), sentence ends."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import Session, SessionFacilitator
from app.services.bank_holidays import holidays_between
from app.services.reschedule.plan import PlannedMove
from app.services.reschedule.wording import day_label, when_label


def preview_warnings(moves: Sequence[PlannedMove]) -> list[str]:
    if not moves:
        return []
    return _bank_holiday_warnings(moves) + postpone_warnings(moves)


def postpone_warnings(moves: Sequence[PlannedMove]) -> list[str]:
    """A postpone's warnings that need no confirmation (bank holidays and gaps do: see rule_breaks)."""
    if not moves:
        return []
    return _facilitator_clashes(moves) + _sentence_end_warnings(moves)


def _bank_holiday_warnings(moves: Sequence[PlannedMove]) -> list[str]:
    days = holidays_between(min(m.new_starts_at.date() for m in moves), max(m.new_starts_at.date() for m in moves))
    return [f"{m.new_starts_at:%a} {day_label(m.new_starts_at.date())} is a bank holiday ({days[m.new_starts_at.date()]}):"
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
                        f"'{other.session_template.name}'{where} on {when_label(other.starts_at)}–"
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
        warnings.append(f"{name}'s sentence ends on {day_label(end)}: '{first.name}' would be on "
                        f"{day_label(first.new_starts_at.date())}{more}, after it.")
    return warnings
