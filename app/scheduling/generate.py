"""Generate a group's timeline from its template and weekly slots (SPEC §3 "Generate", rules 1-4)."""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from app.scheduling.placement import place_in_order
from app.scheduling.slots import Slot
from app.scheduling.template import ProgrammeSpec, SessionSpec, TemplateKey


@dataclass(frozen=True)
class PlannedSession:
    """A session to create. Times are naive local wall-clock times (Europe/London)."""

    module_number: int
    session_number: int
    name: str
    session_type: str
    starts_at: datetime
    ends_at: datetime

    @property
    def key(self) -> TemplateKey:
        return (self.module_number, self.session_number)


def generate(
    programme: ProgrammeSpec,
    slots: Sequence[Slot],
    earliest_start: date,
    bank_holidays: AbstractSet[date],
) -> list[PlannedSession]:
    """The whole timeline, one session per template, in template order.

    1. Every template, group and one-to-one alike, in (module_number, session_number) order; a one-to-one
       template is a placeholder that uses up a slot like a group session.
    2. Each slot's first date is its weekday on or after ``earliest_start``; a week later while that is a
       bank holiday.
    3. Each template takes the earliest pending slot date (ties by start time) and ends after its duration;
       that slot then advances a week, skipping bank holidays week by week.
    4. After a module with ``gap_weeks_after`` every slot restarts from that session's date + the gap;
       before a module with ``gap_weeks_before`` every slot restarts from the previous session's date + the
       gap.

    Same inputs, same schedule. A start date in the past is allowed and gives past sessions.
    Raises ValueError when there are no slots or two slots are too close to hold a session each.
    """
    if not slots:
        raise ValueError("a group needs at least one weekly slot to generate its schedule")
    specs = programme.sessions()
    starts = place_in_order(programme, specs, slots, bank_holidays, on_or_after=earliest_start)
    return [planned(spec, start) for spec, start in zip(specs, starts, strict=True)]


def planned(spec: SessionSpec, starts_at: datetime) -> PlannedSession:
    """The planned session for a template starting at ``starts_at``; it lasts the template's duration."""
    return PlannedSession(
        module_number=spec.module_number,
        session_number=spec.session_number,
        name=spec.name,
        session_type=spec.session_type,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=spec.duration_minutes),
    )
