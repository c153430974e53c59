"""The words of a reschedule: the preview's headline and the dates in it."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from app.models.group import DAY_NAMES
from app.scheduling import BANK_HOLIDAY, GAP_AFTER, RuleBreak, days_label
from app.services.bank_holidays import holidays_between

if TYPE_CHECKING:
    from app.models import Session
    from app.services.reschedule.plan import Plan



class NotMoved(StrEnum):
    """Why a late step left a session where it was (SPEC §3, late steps): shown as "not moved: 3.2 — …"."""

    ATTENDANCE = "attendance"
    STARTED = "started"
    CHANGED = "changed"
    CANCELLED = "cancelled"
    DELETED = "deleted"
    TOO_LATE = "too_late"

    @property
    def label(self) -> str:
        return {
            NotMoved.ATTENDANCE: "attendance already recorded",
            NotMoved.STARTED: "has started",
            NotMoved.CHANGED: "moved by someone else meanwhile",
            NotMoved.CANCELLED: "cancelled meanwhile",
            NotMoved.DELETED: "no longer on the schedule",
            NotMoved.TOO_LATE: "its new time had already passed",
        }[self]


def session_label(session: Session) -> str:
    """``3.2``, or ``3.2 (Sam Jones)`` for one person's one-to-one or catch-up."""
    label = session.session_template.label
    if session.kind == "scheduled":
        return label
    names = ", ".join(a.referral.person_name for a in session.attendees)
    return f"{label} ({names})" if names else label


def not_moved_lines(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """``not moved: 3.2 — attendance already recorded``, one line per session a late step left alone."""
    return [f"not moved: {e['label']} — {NotMoved(e['reason']).label}" for e in entries]


def finished_message(moved: int, not_moved: Sequence[Mapping[str, Any]], end: date | None,
                     rebook: int = 0) -> str:
    text = f"Moved {_sessions(moved)}."
    if not_moved:
        text += f" {_sessions(len(not_moved))} not moved (listed below)."
    if rebook:
        text += f" {_sessions(rebook, 'booked session')} to re-book (listed on the group page)."
    return text + (f" The programme now ends {day_label(end)}." if end else "")


CONFIRM_ANYWAY = "Confirm that you want to move it anyway, or choose another date"
CONFIRM_LABEL = "Yes, move it anyway"
REPACKS_EARLIER = ("The sessions after it are moved up to follow it on the group's days and times, so they come "
                   "earlier too and any gap left between them on purpose closes.")


def day_label(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def when_label(moment: datetime) -> str:
    return f"{moment:%a} {moment.day} {moment:%b %Y %H:%M}"


def rule_break_label(found: RuleBreak, sessions: Mapping[str, Session]) -> str:
    """One line per rule a move breaks, naming the sessions and dates (SPEC §3 gaps, bank holidays)."""
    name = sessions[found.key].session_template.name
    on = f"{found.day:%a} {day_label(found.day)}"
    if found.rule == BANK_HOLIDAY:
        title = holidays_between(found.day, found.day).get(found.day)
        return f"'{name}' would be on {on}, a bank holiday" + (f" ({title})." if title else ".")
    assert found.earlier_key is not None and found.earlier_day is not None
    earlier = sessions[found.earlier_key].session_template.name
    since = f"{found.earlier_day:%a} {day_label(found.earlier_day)}"
    apart = f"{days_label(found.days)} after" if found.days >= 0 else "before"
    keeps = f"{days_label(found.days_needed)} " + (f"after '{earlier}'" if found.rule == GAP_AFTER
                                                    else f"before '{name}'")
    return f"'{name}' would be on {on}, {apart} '{earlier}' on {since}: the programme keeps {keeps}."


def _sessions(count: int, what: str = "session") -> str:
    return f"{count} {what}" if count == 1 else f"{count} {what}s"


def _ends(plan: Plan) -> str:
    if plan.ends_after is None:
        return ""
    verb = "still ends" if plan.ends_after == plan.ends_before else "now ends"
    return f"; programme {verb} {day_label(plan.ends_after)}"


def headline(plan: Plan) -> str:
    if plan.kind == "reslot":
        slots = ", ".join(f"{DAY_NAMES[s.weekday]} {s.start:%H:%M}" for s in plan.slots)
        start = f" from {day_label(plan.start_date)}" if plan.start_date else ""
        moving = f"move {_sessions(len(plan.moves))}" if plan.moves else "no sessions need to move"
        return f"Change days and times to {slots}{start} and {moving}{_ends(plan)}"
    target = plan.target
    assert target is not None and plan.moves
    first = plan.moves[0]
    at = f" at {first.new_starts_at:%H:%M}" if first.new_starts_at.time() != first.old_starts_at.time() else ""
    to = f"{first.new_starts_at:%a} {day_label(first.new_starts_at.date())}{at}"
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
