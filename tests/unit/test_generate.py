"""Generation (SPEC §3 "Generate", rules 1-4): worked examples computed by hand, then properties."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.scheduling import (
    GROUP,
    ONE_TO_ONE,
    ModuleSpec,
    PlannedSession,
    ProgrammeSpec,
    SessionSpec,
    Slot,
    generate,
    parse_slot,
)

MONDAY_10 = parse_slot("MONDAY@10:00")
THURSDAY_14 = parse_slot("THURSDAY@14:00")


def timeline(sessions: list[PlannedSession]) -> list[tuple[int, int, str, str]]:
    return [
        (s.module_number, s.session_number, f"{s.starts_at:%a %Y-%m-%d %H:%M}", f"{s.ends_at:%H:%M}")
        for s in sessions
    ]


# --- worked examples -------------------------------------------------------------------------------------

ONE_SLOT_MONDAY = [
    (1, 1, "Mon 2026-03-23 10:00", "11:00"),  # pre-group one-to-one, then 3 weeks' gap
    (2, 1, "Mon 2026-04-13 10:00", "12:30"),  # 23 Mar + 21 days; Easter Monday (6 Apr) is before it
    (2, 2, "Mon 2026-04-20 10:00", "12:30"),
    (2, 3, "Mon 2026-04-27 10:00", "11:00"),  # one-to-one placeholder uses the slot
    (3, 1, "Mon 2026-05-11 10:00", "12:30"),  # 4 May bank holiday skipped
    (3, 2, "Mon 2026-05-18 10:00", "12:30"),
    (3, 3, "Mon 2026-06-01 10:00", "12:30"),  # 25 May bank holiday skipped
    (3, 4, "Mon 2026-06-08 10:00", "12:30"),
    (3, 5, "Mon 2026-06-15 10:00", "12:30"),
    (3, 6, "Mon 2026-06-22 10:00", "12:30"),
    (3, 7, "Mon 2026-06-29 10:00", "11:00"),
    (4, 1, "Mon 2026-07-06 10:00", "12:30"),
    (4, 2, "Mon 2026-07-13 10:00", "12:30"),
    (4, 3, "Mon 2026-07-20 10:00", "12:30"),
    (4, 4, "Mon 2026-07-27 10:00", "12:30"),
    (4, 5, "Mon 2026-08-03 10:00", "11:00"),
    (5, 1, "Mon 2026-08-10 10:00", "12:30"),
    (5, 2, "Mon 2026-08-17 10:00", "12:30"),
    (5, 3, "Mon 2026-08-24 10:00", "12:30"),
    (5, 4, "Mon 2026-09-07 10:00", "12:30"),  # 31 Aug bank holiday skipped
    (5, 5, "Mon 2026-09-14 10:00", "12:30"),
    (5, 6, "Mon 2026-09-21 10:00", "12:30"),
    (5, 7, "Mon 2026-09-28 10:00", "11:00"),
    (6, 1, "Mon 2026-10-05 10:00", "12:30"),
    (6, 2, "Mon 2026-10-12 10:00", "12:30"),
    (6, 3, "Mon 2026-10-19 10:00", "12:30"),
    (7, 1, "Mon 2026-11-30 10:00", "11:00"),  # 19 Oct + 42 days
]


def test_worked_example_one_monday_slot_skips_may_bank_holidays_and_keeps_both_gaps(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    sessions = generate(building_choices, [MONDAY_10], date(2026, 3, 23), holidays_2026)
    assert timeline(sessions) == ONE_SLOT_MONDAY


def test_worked_example_intro_session_is_the_spec_example(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    sessions = generate(building_choices, [MONDAY_10], date(2026, 3, 23), holidays_2026)
    intro = sessions[1]
    assert intro.name == "Introduction to Building Choices"
    assert (intro.starts_at, intro.ends_at) == (datetime(2026, 4, 13, 10, 0), datetime(2026, 4, 13, 12, 30))
    assert len(sessions) == 27


TWO_SLOTS_MONDAY_THURSDAY = [
    (1, 1, "Mon 2026-03-23 10:00", "11:00"),
    (2, 1, "Mon 2026-04-13 10:00", "12:30"),  # both slots restart from 13 Apr
    (2, 2, "Thu 2026-04-16 14:00", "16:30"),
    (2, 3, "Mon 2026-04-20 10:00", "11:00"),
    (3, 1, "Thu 2026-04-23 14:00", "16:30"),
    (3, 2, "Mon 2026-04-27 10:00", "12:30"),
    (3, 3, "Thu 2026-04-30 14:00", "16:30"),
    (3, 4, "Thu 2026-05-07 14:00", "16:30"),  # Monday slot is on 11 May (4 May holiday); Thursday goes first
    (3, 5, "Mon 2026-05-11 10:00", "12:30"),
    (3, 6, "Thu 2026-05-14 14:00", "16:30"),
    (3, 7, "Mon 2026-05-18 10:00", "11:00"),
    (4, 1, "Thu 2026-05-21 14:00", "16:30"),
    (4, 2, "Thu 2026-05-28 14:00", "16:30"),  # 25 May holiday: Monday slot waits until 1 Jun
    (4, 3, "Mon 2026-06-01 10:00", "12:30"),
    (4, 4, "Thu 2026-06-04 14:00", "16:30"),
    (4, 5, "Mon 2026-06-08 10:00", "11:00"),
    (5, 1, "Thu 2026-06-11 14:00", "16:30"),
    (5, 2, "Mon 2026-06-15 10:00", "12:30"),
    (5, 3, "Thu 2026-06-18 14:00", "16:30"),
    (5, 4, "Mon 2026-06-22 10:00", "12:30"),
    (5, 5, "Thu 2026-06-25 14:00", "16:30"),
    (5, 6, "Mon 2026-06-29 10:00", "12:30"),
    (5, 7, "Thu 2026-07-02 14:00", "15:00"),
    (6, 1, "Mon 2026-07-06 10:00", "12:30"),
    (6, 2, "Thu 2026-07-09 14:00", "16:30"),
    (6, 3, "Mon 2026-07-13 10:00", "12:30"),
    (7, 1, "Mon 2026-08-24 10:00", "11:00"),  # 13 Jul + 42 days = Mon 24 Aug, before the Thursday
]


def test_two_slots_alternate_and_the_earlier_pending_date_wins(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    sessions = generate(building_choices, [THURSDAY_14, MONDAY_10], date(2026, 3, 23), holidays_2026)
    assert timeline(sessions) == TWO_SLOTS_MONDAY_THURSDAY


def test_slot_on_good_friday_starts_a_week_later_on_the_same_weekday(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    sessions = generate(building_choices, [parse_slot("FRIDAY@09:30")], date(2026, 4, 1), holidays_2026)
    assert sessions[0].starts_at == datetime(2026, 4, 10, 9, 30)  # 3 Apr is Good Friday
    assert sessions[1].starts_at == datetime(2026, 5, 1, 9, 30)  # 10 Apr + 21 days


def test_consecutive_holidays_on_a_slot_push_it_week_after_week(building_choices: ProgrammeSpec) -> None:
    holidays = {date(2026, 3, 23), date(2026, 3, 30)}
    sessions = generate(building_choices, [MONDAY_10], date(2026, 3, 23), holidays)
    assert sessions[0].starts_at == datetime(2026, 4, 6, 10, 0)


def test_start_date_later_in_the_week_takes_the_next_occurrence_of_the_slot(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    sessions = generate(building_choices, [MONDAY_10], date(2026, 3, 24), holidays_2026)
    assert sessions[0].starts_at == datetime(2026, 3, 30, 10, 0)


def test_same_day_slots_tie_by_start_time(building_choices: ProgrammeSpec) -> None:
    slots = [parse_slot("WEDNESDAY@14:00"), parse_slot("WEDNESDAY@09:00")]
    sessions = generate(building_choices, slots, date(2026, 6, 1), frozenset())
    assert [s.starts_at for s in sessions[:3]] == [
        datetime(2026, 6, 3, 9, 0),
        datetime(2026, 6, 24, 9, 0),  # 3 Jun + 21 days; both slots restart, 09:00 first
        datetime(2026, 6, 24, 14, 0),
    ]


def test_gap_before_post_programme_lands_on_holiday_then_moves_a_week(
    building_choices: ProgrammeSpec,
) -> None:
    # With no other holidays the last group session is 6.3; put a holiday exactly 42 days after it.
    first = generate(building_choices, [MONDAY_10], date(2026, 1, 5), frozenset())
    last_group = first[-2].starts_at.date()
    holiday = last_group + timedelta(days=42)
    sessions = generate(building_choices, [MONDAY_10], date(2026, 1, 5), {holiday})
    assert sessions[-1].starts_at.date() == holiday + timedelta(weeks=1)


def test_a_past_start_date_is_allowed_and_gives_past_sessions(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    sessions = generate(building_choices, [MONDAY_10], date(2020, 1, 6), holidays_2026)
    assert sessions[0].starts_at == datetime(2020, 1, 6, 10, 0)


def test_no_slots_is_refused(building_choices: ProgrammeSpec) -> None:
    with pytest.raises(ValueError, match="at least one weekly slot"):
        generate(building_choices, [], date(2026, 3, 23), frozenset())


def test_slots_too_close_for_a_session_are_refused(building_choices: ProgrammeSpec) -> None:
    with pytest.raises(ValueError, match="too close"):
        generate(building_choices, [MONDAY_10, parse_slot("MONDAY@11:00")], date(2026, 3, 23), frozenset())


def test_the_same_slot_given_twice_is_one_slot(building_choices: ProgrammeSpec) -> None:
    once = generate(building_choices, [MONDAY_10], date(2026, 3, 23), frozenset())
    twice = generate(building_choices, [MONDAY_10, MONDAY_10], date(2026, 3, 23), frozenset())
    assert once == twice


def test_planned_sessions_carry_template_names_and_types(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    sessions = generate(building_choices, [MONDAY_10], date(2026, 3, 23), holidays_2026)
    assert [(s.module_number, s.session_number, s.name, s.session_type) for s in sessions] == [
        (spec.module_number, spec.session_number, spec.name, spec.session_type)
        for spec in building_choices.sessions()
    ]


# --- properties -----------------------------------------------------------------------------------------

day_in_range = st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 12, 31))
holiday_sets = st.frozensets(day_in_range, max_size=60)
start_times = st.builds(time, st.integers(min_value=7, max_value=19), st.sampled_from([0, 15, 30, 45]))


@st.composite
def slot_lists(draw: st.DrawFn) -> list[Slot]:
    """One to four slots on different weekdays (so they can never be too close)."""
    weekdays = draw(st.lists(st.integers(0, 6), min_size=1, max_size=4, unique=True))
    return [Slot(weekday, draw(start_times)) for weekday in weekdays]


@st.composite
def programmes(draw: st.DrawFn) -> ProgrammeSpec:
    """Small programmes, maybe with a pre-group module (gap after) and a post-programme one (gap before)."""
    modules: list[ModuleSpec] = []

    def module(role: str | None, before: int, after: int, count: int) -> None:
        number = len(modules) + 1
        sessions = tuple(
            SessionSpec(
                number,
                n,
                f"Session {number}.{n}",
                draw(st.sampled_from([GROUP, ONE_TO_ONE])),
                draw(st.sampled_from([60, 90, 150])),
            )
            for n in range(1, count + 1)
        )
        modules.append(ModuleSpec(number, f"Module {number}", role, before, after, sessions))

    if draw(st.booleans()):
        module("pre_group", 0, draw(st.integers(1, 4)), draw(st.integers(1, 2)))
    for _ in range(draw(st.integers(1, 4))):
        module(None, 0, 0, draw(st.integers(1, 5)))
    if draw(st.booleans()):
        module("post_programme", draw(st.integers(1, 8)), 0, draw(st.integers(1, 2)))
    return ProgrammeSpec("Random", tuple(reversed(modules)))  # template order comes from numbers


def gap_weeks_between(programme: ProgrammeSpec, previous: PlannedSession, following: PlannedSession) -> int:
    if previous.module_number == following.module_number:
        return 0
    return max(
        programme.module(previous.module_number).gap_weeks_after,
        programme.module(following.module_number).gap_weeks_before,
    )


@settings(max_examples=150)
@given(programme=programmes(), slots=slot_lists(), start=day_in_range, holidays=holiday_sets)
def test_generated_schedules_keep_every_rule(
    programme: ProgrammeSpec, slots: list[Slot], start: date, holidays: frozenset[date]
) -> None:
    sessions = generate(programme, slots, start, holidays)
    specs = programme.sessions()
    assert [s.key for s in sessions] == [spec.key for spec in specs]  # all templates, template order
    for session, spec in zip(sessions, specs, strict=True):
        assert session.starts_at.date() not in holidays
        assert session.starts_at.date() >= start
        assert Slot(session.starts_at.weekday(), session.starts_at.time()) in slots
        assert session.ends_at - session.starts_at == timedelta(minutes=spec.duration_minutes)
    for previous, following in pairwise(sessions):
        assert previous.starts_at < following.starts_at  # strictly increasing in template order
        assert previous.ends_at <= following.starts_at  # no overlap
        gap = gap_weeks_between(programme, previous, following)
        assert following.starts_at.date() >= previous.starts_at.date() + timedelta(weeks=gap)


@settings(max_examples=150)
@given(programme=programmes(), slots=slot_lists(), start=day_in_range, holidays=holiday_sets)
def test_no_usable_slot_date_is_left_empty_between_sessions(
    programme: ProgrammeSpec, slots: list[Slot], start: date, holidays: frozenset[date]
) -> None:
    """Rule 3: each session takes the earliest pending slot, so between two sessions of the same run
    (no gap between them) every slot occurrence is a bank holiday."""
    sessions = generate(programme, slots, start, holidays)
    for previous, following in pairwise(sessions):
        if gap_weeks_between(programme, previous, following):
            continue
        day = previous.starts_at.date()
        while day <= following.starts_at.date():
            for slot in slots:
                moment = datetime.combine(day, slot.start)
                if day.weekday() == slot.weekday and previous.starts_at < moment < following.starts_at:
                    assert day in holidays
            day += timedelta(days=1)


@given(slots=slot_lists(), start=day_in_range, holidays=holiday_sets)
def test_real_template_gaps_hold_for_any_slots(
    building_choices: ProgrammeSpec, slots: list[Slot], start: date, holidays: frozenset[date]
) -> None:
    sessions = generate(building_choices, slots, start, holidays)
    pre_group, first_after = sessions[0], sessions[1]
    assert first_after.starts_at.date() >= pre_group.starts_at.date() + timedelta(days=21)
    last_group, review = sessions[-2], sessions[-1]
    assert review.starts_at.date() >= last_group.starts_at.date() + timedelta(days=42)
    assert review.starts_at.date() - last_group.starts_at.date() < timedelta(days=49 + 7 * len(holidays))


@given(programme=programmes(), slots=slot_lists(), start=day_in_range, holidays=holiday_sets, data=st.data())
def test_generation_is_deterministic_and_ignores_slot_order(
    programme: ProgrammeSpec, slots: list[Slot], start: date, holidays: frozenset[date], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(slots))
    first = generate(programme, slots, start, holidays)
    assert generate(programme, slots, start, set(holidays)) == first
    assert generate(programme, shuffled, start, holidays) == first
