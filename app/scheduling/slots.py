"""Weekly slots: the days and start times a group meets, e.g. ``MONDAY@10:00``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import time

DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")

MINUTES_PER_WEEK = 7 * 24 * 60

_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


@dataclass(frozen=True, order=True)
class Slot:
    """A weekly slot. Ordering is (weekday, start), so ties between slots on one date go by start time."""

    weekday: int  # 0 = Monday ... 6 = Sunday, as date.weekday()
    start: time

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), not {self.weekday}")
        if self.start.tzinfo is not None:
            raise ValueError("slot start times are local wall-clock times without a timezone")

    @property
    def day_name(self) -> str:
        return DAYS[self.weekday]

    def __str__(self) -> str:
        return format_slot(self)

    def minute_of_week(self) -> int:
        return self.weekday * 24 * 60 + self.start.hour * 60 + self.start.minute


def parse_slot(text: str) -> Slot:
    """Parse ``DAY@HH:MM`` (day name in any case, 24-hour time).

    Raises ValueError with a one-line message naming what is wrong.
    """
    day_text, separator, time_text = text.strip().partition("@")
    if not separator:
        raise ValueError(f"'{text}' is not a slot: write it as DAY@HH:MM, for example MONDAY@10:00")
    day = day_text.strip().upper()
    if day not in DAYS:
        raise ValueError(f"'{day_text.strip()}' is not a day of the week: use one of {', '.join(DAYS)}")
    match = _TIME.match(time_text.strip())
    if match is None:
        raise ValueError(f"'{time_text.strip()}' is not a time: use 24-hour HH:MM, for example 14:30")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise ValueError(f"'{time_text.strip()}' is not a time of day: hours go 00-23 and minutes 00-59")
    return Slot(weekday=DAYS.index(day), start=time(hour, minute))


def format_slot(slot: Slot) -> str:
    """The inverse of parse_slot: ``MONDAY@10:00``."""
    return f"{DAYS[slot.weekday]}@{slot.start.hour:02d}:{slot.start.minute:02d}"


def normalise_slots(slots: Iterable[Slot], longest_minutes: int) -> list[Slot]:
    """Distinct slots in (weekday, start) order, refusing slots too close to hold a session each.

    The same slot given twice is one slot. Two slots closer together (around the week, so Sunday night
    wraps to Monday morning) than the longest session would make sessions overlap: ValueError.
    """
    ordered = sorted(set(slots))
    if len(ordered) < 2:
        return ordered
    for earlier, later in zip(ordered, ordered[1:] + ordered[:1]):
        gap = (later.minute_of_week() - earlier.minute_of_week()) % MINUTES_PER_WEEK
        if gap < longest_minutes:
            raise ValueError(
                f"slots {format_slot(earlier)} and {format_slot(later)} are too close: "
                f"a {longest_minutes}-minute session at {format_slot(earlier)} would still be running"
            )
    return ordered


def describe_slots(slots: Sequence[Slot]) -> str:
    """Slots as text for messages and previews, e.g. ``MONDAY@10:00, THURSDAY@14:00``."""
    return ", ".join(format_slot(slot) for slot in sorted(slots))
