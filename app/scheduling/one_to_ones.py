"""Suggest individual one-to-ones for a placeholder (SPEC §3 "Generate", rule 5)."""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

SATURDAY = 5
MAX_DAYS_AHEAD = 366
"""Search horizon: a diary too full for a whole year is a data problem, not something to work around."""


@dataclass(frozen=True)
class Busy:
    """Time someone is already committed, ``[starts_at, ends_at)``. ``owner`` is e.g. ``person:12``."""

    owner: str
    starts_at: datetime
    ends_at: datetime


def suggest_one_to_ones(
    placeholder_start: datetime,
    duration_minutes: int,
    people: Sequence[str],
    facilitator: str,
    busy: Sequence[Busy],
    bank_holidays: AbstractSet[date],
    *,
    day_start: time = time(9, 0),
    day_end: time = time(17, 0),
) -> dict[str, tuple[datetime, datetime]]:
    """One (start, end) per person, staggered so nobody is double-booked.

    Each person, in the order given, takes the earliest time at or after the placeholder's start that lies
    wholly within working hours (``day_start``-``day_end``, Monday to Friday, not a bank holiday) and is free
    for both the person and the facilitator, counting ``busy`` and the suggestions already made. That is the
    placeholder's own week first, then the following week(s) if needed. The placeholder itself should not be
    in ``busy``. The same inputs give the same suggestions; a person listed twice gets one suggestion.
    """
    if duration_minutes <= 0:
        raise ValueError("a one-to-one must last at least one minute")
    length = timedelta(minutes=duration_minutes)
    if datetime.combine(date.min, day_start) + length > datetime.combine(date.min, day_end):
        raise ValueError(
            f"a {duration_minutes}-minute one-to-one does not fit between {day_start} and {day_end}"
        )
    hours = _WorkingHours(day_start, day_end, bank_holidays)
    diaries: dict[str, list[tuple[datetime, datetime]]] = {}
    for entry in busy:
        diaries.setdefault(entry.owner, []).append((entry.starts_at, entry.ends_at))
    facilitator_diary = diaries.setdefault(facilitator, [])
    suggestions: dict[str, tuple[datetime, datetime]] = {}
    for person in people:
        if person in suggestions:
            continue
        person_diary = diaries.setdefault(person, []) if person != facilitator else facilitator_diary
        start = _earliest_free(placeholder_start, length, hours, facilitator_diary, person_diary)
        suggestions[person] = (start, start + length)
        facilitator_diary.append(suggestions[person])
        if person_diary is not facilitator_diary:
            person_diary.append(suggestions[person])
    return suggestions


@dataclass(frozen=True)
class _WorkingHours:
    day_start: time
    day_end: time
    bank_holidays: AbstractSet[date]

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < SATURDAY and day not in self.bank_holidays

    def fit(self, moment: datetime, length: timedelta) -> datetime:
        """The earliest start at or after ``moment`` with the whole meeting inside working hours."""
        candidate = moment
        for _ in range(MAX_DAYS_AHEAD + 1):
            day = candidate.date()
            opens = datetime.combine(day, self.day_start)
            closes = datetime.combine(day, self.day_end)
            if self.is_working_day(day):
                candidate = max(candidate, opens)
                if candidate + length <= closes:
                    return candidate
            candidate = datetime.combine(day + timedelta(days=1), self.day_start)
        raise ValueError(f"no working day within a year of {moment:%Y-%m-%d}")


def _earliest_free(
    start: datetime,
    length: timedelta,
    hours: _WorkingHours,
    *diaries: list[tuple[datetime, datetime]],
) -> datetime:
    """Earliest working-hours start at or after ``start`` clashing with nothing in ``diaries``."""
    horizon = start + timedelta(days=MAX_DAYS_AHEAD)
    candidate = hours.fit(start, length)
    while candidate < horizon:
        end = candidate + length
        clashes = [
            until for diary in diaries for (since, until) in diary if since < end and candidate < until
        ]
        if not clashes:
            return candidate
        candidate = hours.fit(max(clashes), length)
    raise ValueError(f"no free time for a one-to-one within a year of {start:%Y-%m-%d}")
