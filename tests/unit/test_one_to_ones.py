"""Suggesting individual one-to-ones around a placeholder (SPEC §3 rule 5)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.scheduling import Busy, suggest_one_to_ones

FACILITATOR = "facilitator:1"


def at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M")


def starts(suggestions: dict[str, tuple[datetime, datetime]]) -> dict[str, str]:
    return {person: f"{start:%a %Y-%m-%d %H:%M}" for person, (start, _end) in suggestions.items()}


def test_one_to_ones_are_staggered_back_to_back_from_the_placeholder_time() -> None:
    suggestions = suggest_one_to_ones(
        at("2026-04-27 10:00"), 60, ["person:1", "person:2", "person:3"], FACILITATOR, [], frozenset()
    )
    assert suggestions == {
        "person:1": (at("2026-04-27 10:00"), at("2026-04-27 11:00")),
        "person:2": (at("2026-04-27 11:00"), at("2026-04-27 12:00")),
        "person:3": (at("2026-04-27 12:00"), at("2026-04-27 13:00")),
    }


def test_a_one_to_one_that_would_run_past_the_end_of_the_day_moves_to_the_next_morning() -> None:
    people = ["person:1", "person:2", "person:3", "person:4"]
    suggestions = suggest_one_to_ones(at("2026-04-27 15:00"), 60, people, FACILITATOR, [], frozenset())
    assert starts(suggestions) == {
        "person:1": "Mon 2026-04-27 15:00",
        "person:2": "Mon 2026-04-27 16:00",
        "person:3": "Tue 2026-04-28 09:00",
        "person:4": "Tue 2026-04-28 10:00",
    }


def test_weekends_and_bank_holidays_are_skipped() -> None:
    holidays = frozenset({date(2026, 5, 4)})  # Early May bank holiday, a Monday
    suggestions = suggest_one_to_ones(
        at("2026-05-01 16:00"), 60, ["person:1", "person:2"], FACILITATOR, [], holidays
    )
    assert starts(suggestions) == {"person:1": "Fri 2026-05-01 16:00", "person:2": "Tue 2026-05-05 09:00"}


def test_a_placeholder_on_a_bank_holiday_suggests_the_next_working_morning() -> None:
    suggestions = suggest_one_to_ones(
        at("2026-04-06 10:00"), 60, ["person:1"], FACILITATOR, [], frozenset({date(2026, 4, 6)})
    )
    assert starts(suggestions) == {"person:1": "Tue 2026-04-07 09:00"}


def test_a_placeholder_before_working_hours_starts_at_the_start_of_the_day() -> None:
    suggestions = suggest_one_to_ones(
        at("2026-04-27 07:30"), 45, ["person:1"], FACILITATOR, [], frozenset(), day_start=time(8, 30)
    )
    assert suggestions["person:1"] == (at("2026-04-27 08:30"), at("2026-04-27 09:15"))


def test_busy_people_are_worked_around_and_others_fill_the_gap() -> None:
    busy = [Busy("person:1", at("2026-04-27 10:00"), at("2026-04-27 11:30"))]
    people = ["person:1", "person:2", "person:3"]
    suggestions = suggest_one_to_ones(at("2026-04-27 10:00"), 60, people, FACILITATOR, busy, frozenset())
    assert starts(suggestions) == {
        "person:1": "Mon 2026-04-27 11:30",  # busy until 11:30
        "person:2": "Mon 2026-04-27 10:00",  # free, and so is the facilitator
        "person:3": "Mon 2026-04-27 12:30",  # 11:00 would overlap person:1 with the facilitator
    }


def test_a_busy_facilitator_is_never_double_booked() -> None:
    busy = [Busy(FACILITATOR, at("2026-04-27 10:00"), at("2026-04-27 12:30"))]
    suggestions = suggest_one_to_ones(
        at("2026-04-27 10:00"), 60, ["person:1", "person:2"], FACILITATOR, busy, frozenset()
    )
    assert starts(suggestions) == {"person:1": "Mon 2026-04-27 12:30", "person:2": "Mon 2026-04-27 13:30"}


def test_another_persons_busy_time_does_not_block_someone_else() -> None:
    busy = [Busy("person:9", at("2026-04-27 10:00"), at("2026-04-27 17:00"))]
    suggestions = suggest_one_to_ones(
        at("2026-04-27 10:00"), 60, ["person:1"], FACILITATOR, busy, frozenset()
    )
    assert starts(suggestions) == {"person:1": "Mon 2026-04-27 10:00"}


def test_a_full_week_spills_into_the_following_week() -> None:
    busy = [Busy(FACILITATOR, at("2026-04-27 09:00"), at("2026-05-01 17:00"))]
    suggestions = suggest_one_to_ones(
        at("2026-04-27 10:00"), 60, ["person:1"], FACILITATOR, busy, frozenset()
    )
    assert starts(suggestions) == {"person:1": "Mon 2026-05-04 09:00"}


def test_a_person_listed_twice_gets_one_suggestion_and_nobody_gets_none() -> None:
    assert suggest_one_to_ones(at("2026-04-27 10:00"), 60, [], FACILITATOR, [], frozenset()) == {}
    twice = suggest_one_to_ones(
        at("2026-04-27 10:00"), 60, ["person:1", "person:1"], FACILITATOR, [], frozenset()
    )
    assert starts(twice) == {"person:1": "Mon 2026-04-27 10:00"}


@pytest.mark.parametrize("minutes", [0, -30, 9 * 60])
def test_impossible_durations_are_refused(minutes: int) -> None:
    with pytest.raises(ValueError):
        suggest_one_to_ones(at("2026-04-27 10:00"), minutes, ["person:1"], FACILITATOR, [], frozenset())


# --- properties -----------------------------------------------------------------------------------------

moments = st.builds(
    lambda day, minute: datetime.combine(day, time()) + timedelta(minutes=5 * minute),
    st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31)),
    st.integers(min_value=0, max_value=287),
)
owners = st.sampled_from([FACILITATOR, "person:1", "person:2", "person:3", "person:4", "person:5"])
busy_entries = st.builds(
    lambda owner, start, minutes: Busy(owner, start, start + timedelta(minutes=minutes)),
    owners,
    moments,
    st.integers(min_value=15, max_value=600),
)
people_lists = st.lists(st.sampled_from([f"person:{n}" for n in range(1, 13)]), max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    placeholder=moments,
    minutes=st.sampled_from([30, 60, 90]),
    people=people_lists,
    busy=st.lists(busy_entries, max_size=25),
    holidays=st.frozensets(st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 1, 31)), max_size=40),
)
def test_suggestions_are_in_working_hours_and_never_double_book(
    placeholder: datetime, minutes: int, people: list[str], busy: list[Busy], holidays: frozenset[date]
) -> None:
    suggestions = suggest_one_to_ones(placeholder, minutes, people, FACILITATOR, busy, holidays)
    assert suggestions == suggest_one_to_ones(placeholder, minutes, people, FACILITATOR, busy, holidays)
    assert set(suggestions) == set(people)
    booked = sorted(suggestions.values())
    for start, end in booked:
        assert end - start == timedelta(minutes=minutes)
        assert start >= placeholder
        assert start.weekday() < 5 and start.date() not in holidays
        assert time(9, 0) <= start.time() and end <= datetime.combine(start.date(), time(17, 0))
    for (_, earlier_end), (later_start, _) in pairwise(booked):
        assert earlier_end <= later_start  # the facilitator is at every one of them
    for person, (start, end) in suggestions.items():
        for entry in busy:
            if entry.owner in (person, FACILITATOR):
                assert end <= entry.starts_at or entry.ends_at <= start
