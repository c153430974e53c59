"""Regenerating a group's future after its days, times or start date change (SPEC §3)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.scheduling import (
    CATCH_UP,
    INDIVIDUAL,
    SCHEDULED,
    ExistingSession,
    Move,
    ProgrammeSpec,
    ScheduleRefused,
    Slot,
    apply_moves,
    generate,
    parse_slot,
    regenerate_future,
)

MONDAY_10 = parse_slot("MONDAY@10:00")
THURSDAY_14 = parse_slot("THURSDAY@14:00")


def timeline_for(
    programme: ProgrammeSpec, holidays: frozenset[date], slots: Sequence[Slot], start: date
) -> list[ExistingSession]:
    return [
        ExistingSession(
            f"{p.module_number}.{p.session_number}",
            p.module_number,
            p.session_number,
            p.name,
            p.session_type,
            SCHEDULED,
            p.starts_at,
            p.ends_at,
        )
        for p in generate(programme, list(slots), start, holidays)
    ]


def at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M")


def new_starts(moves: Sequence[Move]) -> dict[str, str]:
    return {m.key: f"{m.new_starts_at:%a %Y-%m-%d %H:%M}" for m in moves}


@pytest.fixture
def monday_timeline(building_choices: ProgrammeSpec, holidays_2026: frozenset[date]) -> list[ExistingSession]:
    return timeline_for(building_choices, holidays_2026, [MONDAY_10], date(2026, 3, 23))


def test_changing_to_thursdays_mid_programme_keeps_past_sessions_and_moves_the_rest(
    building_choices: ProgrammeSpec, monday_timeline: list[ExistingSession], holidays_2026: frozenset[date]
) -> None:
    moves = regenerate_future(
        building_choices,
        monday_timeline,
        now=at("2026-05-12 12:00"),
        slots=[THURSDAY_14],
        restart_from=None,
        bank_holidays=holidays_2026,
    )
    assert new_starts(moves) == {
        "3.2": "Thu 2026-05-14 14:00",  # 3.1 (Mon 11 May) has happened; the day after is 12 May
        "3.3": "Thu 2026-05-21 14:00",
        "3.4": "Thu 2026-05-28 14:00",
        "3.5": "Thu 2026-06-04 14:00",
        "3.6": "Thu 2026-06-11 14:00",
        "3.7": "Thu 2026-06-18 14:00",
        "4.1": "Thu 2026-06-25 14:00",
        "4.2": "Thu 2026-07-02 14:00",
        "4.3": "Thu 2026-07-09 14:00",
        "4.4": "Thu 2026-07-16 14:00",
        "4.5": "Thu 2026-07-23 14:00",
        "5.1": "Thu 2026-07-30 14:00",
        "5.2": "Thu 2026-08-06 14:00",
        "5.3": "Thu 2026-08-13 14:00",
        "5.4": "Thu 2026-08-20 14:00",
        "5.5": "Thu 2026-08-27 14:00",
        "5.6": "Thu 2026-09-03 14:00",
        "5.7": "Thu 2026-09-10 14:00",
        "6.1": "Thu 2026-09-17 14:00",
        "6.2": "Thu 2026-09-24 14:00",
        "6.3": "Thu 2026-10-01 14:00",
        "7.1": "Thu 2026-11-12 14:00",  # 1 Oct + 42 days
    }
    review = next(m for m in moves if m.key == "7.1")
    assert review.new_ends_at == at("2026-11-12 15:00")


def test_before_anything_happens_regeneration_matches_generating_from_the_new_start(
    building_choices: ProgrammeSpec, monday_timeline: list[ExistingSession], holidays_2026: frozenset[date]
) -> None:
    moves = regenerate_future(
        building_choices,
        monday_timeline,
        now=at("2026-03-01 09:00"),
        slots=[MONDAY_10, THURSDAY_14],
        restart_from=date(2026, 3, 23),
        bank_holidays=holidays_2026,
    )
    after = apply_moves(monday_timeline, moves)
    expected = generate(building_choices, [MONDAY_10, THURSDAY_14], date(2026, 3, 23), holidays_2026)
    assert [(s.starts_at, s.ends_at) for s in after] == [(p.starts_at, p.ends_at) for p in expected]
    assert "1.1" not in new_starts(moves)  # Mon 23 Mar is unchanged
    assert new_starts(moves)["2.2"] == "Thu 2026-04-16 14:00"


def test_a_later_start_date_pushes_the_whole_schedule_including_the_pre_group_gap(
    building_choices: ProgrammeSpec, monday_timeline: list[ExistingSession], holidays_2026: frozenset[date]
) -> None:
    moves = regenerate_future(
        building_choices,
        monday_timeline,
        now=at("2026-03-01 09:00"),
        slots=[MONDAY_10],
        restart_from=date(2026, 4, 1),
        bank_holidays=holidays_2026,
    )
    starts = new_starts(moves)
    assert starts["1.1"] == "Mon 2026-04-13 10:00"  # 6 Apr is Easter Monday
    assert starts["2.1"] == "Mon 2026-05-11 10:00"  # 13 Apr + 21 days = 4 May, a bank holiday


def test_once_the_pre_group_has_happened_no_gap_is_added_after_it(
    building_choices: ProgrammeSpec, monday_timeline: list[ExistingSession], holidays_2026: frozenset[date]
) -> None:
    moves = regenerate_future(
        building_choices,
        monday_timeline,
        now=at("2026-03-25 12:00"),
        slots=[parse_slot("TUESDAY@10:00")],
        restart_from=None,
        bank_holidays=holidays_2026,
    )
    starts = new_starts(moves)
    assert "1.1" not in starts
    # SPEC §3: the 3-week gap applies again only if no session has happened yet
    assert starts["2.1"] == "Tue 2026-03-31 10:00"
    assert starts["2.2"] == "Tue 2026-04-07 10:00"
    assert starts["2.3"] == "Tue 2026-04-14 10:00"


def test_a_slot_later_today_may_be_used_but_never_one_already_passed(
    building_choices: ProgrammeSpec, monday_timeline: list[ExistingSession], holidays_2026: frozenset[date]
) -> None:
    now = at("2026-05-12 09:00")  # Tuesday; 3.1 happened yesterday
    later_today = regenerate_future(
        building_choices,
        monday_timeline,
        now=now,
        slots=[parse_slot("TUESDAY@10:00")],
        restart_from=None,
        bank_holidays=holidays_2026,
    )
    assert new_starts(later_today)["3.2"] == "Tue 2026-05-12 10:00"
    passed = regenerate_future(
        building_choices,
        monday_timeline,
        now=now,
        slots=[parse_slot("TUESDAY@08:00")],
        restart_from=None,
        bank_holidays=holidays_2026,
    )
    assert new_starts(passed)["3.2"] == "Tue 2026-05-19 08:00"


def test_a_new_start_date_after_today_is_respected(
    building_choices: ProgrammeSpec, monday_timeline: list[ExistingSession], holidays_2026: frozenset[date]
) -> None:
    moves = regenerate_future(
        building_choices,
        monday_timeline,
        now=at("2026-05-12 12:00"),
        slots=[MONDAY_10],
        restart_from=date(2026, 6, 1),
        bank_holidays=holidays_2026,
    )
    starts = new_starts(moves)
    assert starts["3.2"] == "Mon 2026-06-01 10:00"
    assert starts["3.3"] == "Mon 2026-06-08 10:00"


def test_after_the_last_group_session_the_review_keeps_its_six_week_gap(
    building_choices: ProgrammeSpec, monday_timeline: list[ExistingSession], holidays_2026: frozenset[date]
) -> None:
    moves = regenerate_future(
        building_choices,
        monday_timeline,
        now=at("2026-10-20 09:00"),
        slots=[parse_slot("WEDNESDAY@10:00")],
        restart_from=None,
        bank_holidays=holidays_2026,
    )
    assert new_starts(moves) == {"7.1": "Wed 2026-12-02 10:00"}  # 19 Oct + 42 days = Mon 30 Nov


def test_individual_one_to_ones_catch_ups_and_cancelled_sessions_are_not_regenerated(
    building_choices: ProgrammeSpec, monday_timeline: list[ExistingSession], holidays_2026: frozenset[date]
) -> None:
    placeholder = next(s for s in monday_timeline if s.key == "3.7")
    cancelled = next(s for s in monday_timeline if s.key == "3.4")
    sessions = [
        *[s for s in monday_timeline if s.key != "3.4"],
        ExistingSession(**{**cancelled.__dict__, "cancelled": True}),
        ExistingSession(
            "ind",
            3,
            7,
            placeholder.name,
            placeholder.session_type,
            INDIVIDUAL,
            at("2026-06-29 13:00"),
            at("2026-06-29 14:00"),
        ),
        ExistingSession(
            "cu",
            3,
            1,
            "Understanding my feelings",
            "group",
            CATCH_UP,
            at("2026-05-20 10:00"),
            at("2026-05-20 12:30"),
        ),
    ]
    moves = regenerate_future(
        building_choices,
        sessions,
        now=at("2026-05-12 12:00"),
        slots=[THURSDAY_14],
        restart_from=None,
        bank_holidays=holidays_2026,
    )
    starts = new_starts(moves)
    assert not {"ind", "cu", "3.4"} & starts.keys()
    assert starts["3.3"] == "Thu 2026-05-21 14:00"
    assert starts["3.5"] == "Thu 2026-05-28 14:00"  # the cancelled 3.4 takes no slot


def test_regeneration_without_slots_is_refused(
    building_choices: ProgrammeSpec, monday_timeline: list[ExistingSession], holidays_2026: frozenset[date]
) -> None:
    with pytest.raises(ScheduleRefused, match="at least one weekly slot"):
        regenerate_future(
            building_choices,
            monday_timeline,
            now=at("2026-05-12 12:00"),
            slots=[],
            restart_from=None,
            bank_holidays=holidays_2026,
        )


# --- properties -----------------------------------------------------------------------------------------

day_in_range = st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 6, 30))
holiday_sets = st.frozensets(day_in_range, max_size=30)
start_times = st.builds(time, st.integers(min_value=7, max_value=19), st.sampled_from([0, 15, 30, 45]))


@st.composite
def slot_lists(draw: st.DrawFn) -> list[Slot]:
    weekdays = draw(st.lists(st.integers(0, 6), min_size=1, max_size=3, unique=True))
    return [Slot(weekday, draw(start_times)) for weekday in weekdays]


@settings(max_examples=120, deadline=None)
@given(
    old_slots=slot_lists(),
    new_slots=slot_lists(),
    start=day_in_range,
    holidays=holiday_sets,
    days_in=st.integers(min_value=-30, max_value=400),
    minute=st.integers(min_value=0, max_value=24 * 60 - 1),
    restart_in=st.none() | st.integers(min_value=-20, max_value=60),
)
def test_regeneration_keeps_the_past_and_places_the_future_by_the_rules(
    building_choices: ProgrammeSpec,
    old_slots: list[Slot],
    new_slots: list[Slot],
    start: date,
    holidays: frozenset[date],
    days_in: int,
    minute: int,
    restart_in: int | None,
) -> None:
    sessions = timeline_for(building_choices, holidays, old_slots, start)
    now = datetime.combine(start + timedelta(days=days_in), time()) + timedelta(minutes=minute)
    restart_from = None if restart_in is None else now.date() + timedelta(days=restart_in)
    moves = regenerate_future(
        building_choices,
        sessions,
        now=now,
        slots=new_slots,
        restart_from=restart_from,
        bank_holidays=holidays,
    )
    assert moves == regenerate_future(
        building_choices,
        sessions,
        now=now,
        slots=new_slots,
        restart_from=restart_from,
        bank_holidays=holidays,
    )
    before = {s.key: s for s in sessions}
    after = apply_moves(sessions, moves)
    for move in moves:
        old = before[move.key]
        assert old.starts_at > now  # the past never moves
        assert move.new_starts_at > now
        assert move.new_starts_at.date() not in holidays
        assert Slot(move.new_starts_at.weekday(), move.new_starts_at.time()) in new_slots
        assert move.new_ends_at - move.new_starts_at == old.duration
        if restart_from is not None:
            assert move.new_starts_at.date() >= restart_from
    for previous, following in pairwise(after):  # template order is kept
        assert previous.starts_at < following.starts_at
        assert previous.ends_at <= following.starts_at
    pre_group, first_group = after[0], after[1]
    # the 3-week gap applies again only if no session had happened yet
    assert first_group.starts_at.date() >= pre_group.starts_at.date() + timedelta(days=21) or (
        first_group.starts_at <= now or pre_group.starts_at <= now
    )
    last_group, review = after[-2], after[-1]
    assert (
        review.starts_at.date() >= last_group.starts_at.date() + timedelta(days=42) or review.starts_at <= now
    )


@settings(max_examples=60, deadline=None)
@given(new_slots=slot_lists(), today=day_in_range, holidays=holiday_sets, restart_in=st.integers(0, 60))
def test_before_the_group_starts_regeneration_equals_generation_from_the_new_start(
    building_choices: ProgrammeSpec,
    new_slots: list[Slot],
    today: date,
    holidays: frozenset[date],
    restart_in: int,
) -> None:
    sessions = timeline_for(building_choices, holidays, [MONDAY_10], today + timedelta(days=1))
    restart_from = today + timedelta(days=restart_in)
    moves = regenerate_future(
        building_choices,
        sessions,
        now=datetime.combine(today, time()),
        slots=new_slots,
        restart_from=restart_from,
        bank_holidays=holidays,
    )
    expected = generate(building_choices, new_slots, restart_from, holidays)
    after = apply_moves(sessions, moves)
    assert [(s.starts_at, s.ends_at) for s in after] == [(p.starts_at, p.ends_at) for p in expected]
