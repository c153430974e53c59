"""Reading the programme template and parsing weekly slots."""

from __future__ import annotations

import copy
from datetime import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.scheduling import (
    DAYS,
    GROUP,
    ONE_TO_ONE,
    ProgrammeSpec,
    Slot,
    format_slot,
    normalise_slots,
    parse_slot,
    programme_from_json,
)


def test_building_choices_has_seven_modules_and_27_sessions_in_template_order(
    building_choices: ProgrammeSpec,
) -> None:
    sessions = building_choices.sessions()
    assert len(building_choices.modules) == 7
    assert len(sessions) == 27
    assert [s.key for s in sessions] == sorted(s.key for s in sessions)
    assert {s.duration_minutes for s in sessions if s.session_type == GROUP} == {150}
    assert {s.duration_minutes for s in sessions if s.session_type == ONE_TO_ONE} == {60}


def test_gaps_and_roles_come_from_template_data(building_choices: ProgrammeSpec) -> None:
    pre_group, post = building_choices.module(1), building_choices.module(7)
    assert (pre_group.role, pre_group.gap_weeks_after, pre_group.gap_weeks_before) == ("pre_group", 3, 0)
    assert (post.role, post.gap_weeks_before, post.gap_weeks_after) == ("post_programme", 6, 0)
    assert all(building_choices.module(n).role is None for n in range(2, 7))


def minimal(**session: Any) -> dict[str, Any]:
    return {
        "name": "Tiny",
        "durations_minutes": {"group": 120, "one_to_one": 45},
        "modules": [
            {
                "module_number": 1,
                "name": "Only",
                "sessions": [{"session_number": 1, "name": "One", "session_type": "group", **session}],
            }
        ],
    }


def test_missing_durations_default_by_session_type() -> None:
    data = minimal()
    data["modules"][0]["sessions"].append({"session_number": 2, "name": "Two", "session_type": "one_to_one"})
    programme = programme_from_json(data)
    assert [s.duration_minutes for s in programme.sessions()] == [120, 45]


def test_an_explicit_duration_wins_over_the_default() -> None:
    assert programme_from_json(minimal(duration_minutes=90)).sessions()[0].duration_minutes == 90


def test_template_order_is_by_numbers_not_file_order() -> None:
    data = minimal()
    data["modules"].insert(
        0,
        {
            "module_number": 2,
            "name": "Second",
            "sessions": [
                {"session_number": 2, "name": "B", "session_type": "group"},
                {"session_number": 1, "name": "A", "session_type": "group"},
            ],
        },
    )
    assert [s.key for s in programme_from_json(data).sessions()] == [(1, 1), (2, 1), (2, 2)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["modules"][0]["sessions"][0].update(session_type="lecture"),
            "session_type must be one of",
        ),
        (lambda d: d["modules"][0]["sessions"][0].update(duration_minutes=0), "duration_minutes must be"),
        (lambda d: d.pop("durations_minutes"), "duration_minutes must be"),
        (lambda d: d["modules"].append(copy.deepcopy(d["modules"][0])), "module number 1 appears twice"),
        (lambda d: d["modules"][0].update(gap_weeks_after=-1), "gap_weeks_after"),
        (lambda d: d.update(modules=[]), "non-empty list"),
        (lambda d: d["modules"][0].update(module_number="1"), "module_number"),
    ],
)
def test_unusable_template_data_is_refused_with_a_reason(change: Any, message: str) -> None:
    data = minimal()
    change(data)
    with pytest.raises(ValueError, match=message):
        programme_from_json(data)


def test_parse_slot_reads_day_and_24_hour_time() -> None:
    assert parse_slot("MONDAY@10:00") == Slot(0, time(10, 0))
    assert parse_slot(" sunday@9:05 ") == Slot(6, time(9, 5))
    assert parse_slot("Thursday@23:59") == Slot(3, time(23, 59))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FUNDAY@10:00", "'FUNDAY' is not a day of the week"),
        ("MONDAY@25:00", "is not a time of day"),
        ("MONDAY@10:60", "is not a time of day"),
        ("MONDAY@ten", "'ten' is not a time"),
        ("MONDAY 10:00", "write it as DAY@HH:MM"),
        ("", "write it as DAY@HH:MM"),
    ],
)
def test_parse_slot_refuses_bad_text_with_a_one_line_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        parse_slot(text)
    assert "\n" not in str(refused.value)


@given(weekday=st.integers(0, 6), hour=st.integers(0, 23), minute=st.integers(0, 59))
def test_format_and_parse_slot_round_trip(weekday: int, hour: int, minute: int) -> None:
    slot = Slot(weekday, time(hour, minute))
    assert parse_slot(format_slot(slot)) == slot
    assert format_slot(slot).startswith(DAYS[weekday] + "@")


def test_slots_sort_by_weekday_then_time() -> None:
    slots = [parse_slot("TUESDAY@09:00"), parse_slot("MONDAY@14:00"), parse_slot("MONDAY@09:00")]
    assert sorted(slots) == [
        parse_slot("MONDAY@09:00"),
        parse_slot("MONDAY@14:00"),
        parse_slot("TUESDAY@09:00"),
    ]


def test_slots_wrapping_round_the_week_are_checked_for_room() -> None:
    with pytest.raises(ValueError, match="too close"):
        normalise_slots([parse_slot("SUNDAY@23:00"), parse_slot("MONDAY@01:00")], 150)
    assert len(normalise_slots([parse_slot("SUNDAY@20:00"), parse_slot("MONDAY@10:00")], 150)) == 2


def test_a_slot_weekday_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="weekday"):
        Slot(7, time(10, 0))
