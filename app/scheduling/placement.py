"""Rules 2-4 of generation: weekly slots, bank holidays and the gaps between modules.

Shared by generation, cascade reschedule and regeneration so the three always agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from app.scheduling.slots import Slot, normalise_slots
from app.scheduling.template import ProgrammeSpec, SessionSpec

WEEK = timedelta(weeks=1)


def first_slot_date(
    slot: Slot, on_or_after: date, bank_holidays: AbstractSet[date], not_before: datetime | None = None
) -> date:
    """Rule 2: the first day on or after ``on_or_after`` on the slot's weekday; while that is a bank holiday
    (or would start at or before ``not_before``) add a whole week. A holiday never moves a session to another
    day of the week.
    """
    candidate = on_or_after + timedelta(days=(slot.weekday - on_or_after.weekday()) % 7)
    return _skip_weeks(slot, candidate, bank_holidays, not_before)


def next_slot_date(
    slot: Slot, current: date, bank_holidays: AbstractSet[date], not_before: datetime | None = None
) -> date:
    """Rule 3: after a slot is used it advances a week, again skipping bank holidays week by week."""
    return _skip_weeks(slot, current + WEEK, bank_holidays, not_before)


def _skip_weeks(
    slot: Slot, candidate: date, bank_holidays: AbstractSet[date], not_before: datetime | None
) -> date:
    while candidate in bank_holidays or (
        not_before is not None and datetime.combine(candidate, slot.start) <= not_before
    ):
        candidate += WEEK
    return candidate


class SlotCursor:
    """The pending date of every weekly slot. ``take`` hands out the earliest (ties by start time)."""

    def __init__(
        self,
        slots: Sequence[Slot],
        bank_holidays: AbstractSet[date],
        on_or_after: date,
        not_before: datetime | None = None,
    ) -> None:
        if not slots:
            raise ValueError("a schedule needs at least one weekly slot")
        self._slots = list(slots)
        self._holidays = bank_holidays
        self._not_before = not_before
        self._pending: dict[Slot, date] = {}
        self.restart(on_or_after)

    def restart(self, on_or_after: date) -> None:
        """Rule 4: every slot starts again from its first date on or after ``on_or_after``."""
        self._pending = {
            slot: first_slot_date(slot, on_or_after, self._holidays, self._not_before) for slot in self._slots
        }

    def take(self, floor: datetime | None = None) -> datetime:
        """Rule 3: the earliest pending slot date at the slot's time; that slot then advances a week.

        With ``floor``, slot dates before it are passed over (each slot advancing week by week, still
        skipping bank holidays): the push rule of a postpone, where a session never comes earlier.
        """
        if floor is not None:
            self._pending = {slot: self._not_before_floor(slot, day, floor) for slot, day in self._pending.items()}
        slot, day = min(self._pending.items(), key=lambda item: (item[1], item[0]))
        self._pending[slot] = next_slot_date(slot, day, self._holidays, self._not_before)
        return datetime.combine(day, slot.start)

    def _not_before_floor(self, slot: Slot, day: date, floor: datetime) -> date:
        while datetime.combine(day, slot.start) < floor:
            day = next_slot_date(slot, day, self._holidays, self._not_before)
        return day


@dataclass(frozen=True)
class Anchor:
    """The session just before the ones being placed: its template and the date it happens (or happened)."""

    spec: SessionSpec
    day: date


def gap_days(
    programme: ProgrammeSpec, previous: SessionSpec, following: SessionSpec, *, gaps_after: bool = True
) -> int:
    """Rule 4 at a module boundary: days to wait after ``previous`` before ``following`` may start.

    ``gap_weeks_after`` of the previous module (unless ``gaps_after`` is off) and ``gap_weeks_before`` of the
    next one both count; the longer wins. Within one module there is no gap.
    """
    if previous.module_number == following.module_number:
        return 0
    after = _module_gap(programme, previous.module_number, before=False) if gaps_after else 0
    before = _module_gap(programme, following.module_number, before=True)
    return 7 * max(after, before)


def _module_gap(programme: ProgrammeSpec, module_number: int, *, before: bool) -> int:
    try:
        module = programme.module(module_number)
    except KeyError:
        return 0
    return module.gap_weeks_before if before else module.gap_weeks_after


def place_in_order(
    programme: ProgrammeSpec,
    specs: Sequence[SessionSpec],
    slots: Sequence[Slot],
    bank_holidays: AbstractSet[date],
    *,
    on_or_after: date,
    anchor: Anchor | None = None,
    not_before: datetime | None = None,
    gaps_after: bool = True,
    floors: Sequence[datetime] | None = None,
) -> list[datetime]:
    """Start times for ``specs`` (already in template order), one per spec, by rules 2-4.

    Slots start from ``on_or_after``. At each module boundary with a gap, every slot restarts from the
    previous session's date plus the gap (never earlier than ``on_or_after``); ``anchor`` is the session
    before the first spec, so a gap after it is kept too. Nothing starts at or before ``not_before``.
    With ``gaps_after`` off only ``gap_weeks_before`` gaps apply (regeneration once a session has happened).
    ``floors`` (one per spec) are the earliest each may start: a postpone pushes, it never pulls.
    """
    if floors is not None and len(floors) != len(specs):
        raise ValueError("one floor per session to place")
    longest = max((spec.duration_minutes for spec in specs), default=0)
    cursor = SlotCursor(normalise_slots(slots, longest), bank_holidays, on_or_after, not_before)
    previous = anchor
    starts: list[datetime] = []
    for index, spec in enumerate(specs):
        if previous is not None:
            gap = gap_days(programme, previous.spec, spec, gaps_after=gaps_after)
            if gap:
                cursor.restart(max(previous.day + timedelta(days=gap), on_or_after))
        start = cursor.take(floors[index] if floors is not None else None)
        starts.append(start)
        previous = Anchor(spec, start.date())
    return starts
