"""Cascade reschedule and regeneration (SPEC §3): worked examples computed by hand, then properties."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import pytest

from app.scheduling import (
    CATCH_UP,
    INDIVIDUAL,
    SCHEDULED,
    ExistingSession,
    Move,
    ProgrammeSpec,
    ScheduleRefused,
    Slot,
    generate,
    parse_slot,
    postpone,
)

MONDAY_10 = parse_slot("MONDAY@10:00")
THURSDAY_14 = parse_slot("THURSDAY@14:00")
START = date(2026, 3, 23)
BEFORE_START = datetime(2026, 3, 1, 9, 0)


def timeline_for(
    programme: ProgrammeSpec,
    holidays: frozenset[date],
    slots: Sequence[Slot] = (MONDAY_10,),
    start: date = START,
) -> list[ExistingSession]:
    """The generated timeline as stored sessions, keyed "module.session"."""
    return [
        ExistingSession(
            key=f"{p.module_number}.{p.session_number}",
            module_number=p.module_number,
            session_number=p.session_number,
            name=p.name,
            session_type=p.session_type,
            kind=SCHEDULED,
            starts_at=p.starts_at,
            ends_at=p.ends_at,
        )
        for p in generate(programme, list(slots), start, holidays)
    ]


def extra(
    key: str, of: ExistingSession, kind: str, starts_at: datetime, minutes: int = 60
) -> ExistingSession:
    return ExistingSession(
        key=key,
        module_number=of.module_number,
        session_number=of.session_number,
        name=of.name,
        session_type=of.session_type,
        kind=kind,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
    )


def by_key(sessions: Sequence[ExistingSession]) -> dict[str, ExistingSession]:
    return {s.key: s for s in sessions}


def new_starts(moves: Sequence[Move]) -> dict[str, str]:
    return {m.key: f"{m.new_starts_at:%a %Y-%m-%d %H:%M}" for m in moves}


def at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M")


# --- postpone: worked examples --------------------------------------------------------------------------


def test_postponing_session_3_1_a_week_pushes_later_sessions_past_the_may_bank_holidays(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    sessions = timeline_for(building_choices, holidays_2026)
    moves = postpone(
        building_choices,
        sessions,
        "3.1",
        at("2026-05-18 10:00"),
        None,
        cascade=True,
        now=at("2026-05-01 09:00"),
        slots=[MONDAY_10],
        bank_holidays=holidays_2026,
    )
    assert new_starts(moves) == {
        "3.1": "Mon 2026-05-18 10:00",
        "3.2": "Mon 2026-06-01 10:00",  # slots restart 19 May: 25 May is a bank holiday
        "3.3": "Mon 2026-06-08 10:00",
        "3.4": "Mon 2026-06-15 10:00",
        "3.5": "Mon 2026-06-22 10:00",
        "3.6": "Mon 2026-06-29 10:00",
        "3.7": "Mon 2026-07-06 10:00",
        "4.1": "Mon 2026-07-13 10:00",
        "4.2": "Mon 2026-07-20 10:00",
        "4.3": "Mon 2026-07-27 10:00",
        "4.4": "Mon 2026-08-03 10:00",
        "4.5": "Mon 2026-08-10 10:00",
        "5.1": "Mon 2026-08-17 10:00",
        "5.2": "Mon 2026-08-24 10:00",
        "5.3": "Mon 2026-09-07 10:00",  # 31 Aug bank holiday
        "5.4": "Mon 2026-09-14 10:00",
        "5.5": "Mon 2026-09-21 10:00",
        "5.6": "Mon 2026-09-28 10:00",
        "5.7": "Mon 2026-10-05 10:00",
        "6.1": "Mon 2026-10-12 10:00",
        "6.2": "Mon 2026-10-19 10:00",
        "6.3": "Mon 2026-10-26 10:00",
        "7.1": "Mon 2026-12-07 10:00",  # 26 Oct + 42 days
    }
    moved = by_key(sessions)
    for move in moves:
        assert move.new_ends_at - move.new_starts_at == moved[move.key].duration
    assert [m.key for m in moves][:2] == ["3.1", "3.2"]  # earliest new start first


def test_postponing_within_the_week_leaves_later_sessions_when_their_slot_dates_do_not_change(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    sessions = timeline_for(building_choices, holidays_2026)
    moves = postpone(
        building_choices,
        sessions,
        "3.2",
        at("2026-05-20 10:00"),
        None,
        cascade=True,
        now=at("2026-05-01 09:00"),
        slots=[MONDAY_10],
        bank_holidays=holidays_2026,
    )
    # restart from 21 May: Monday 25 May is a holiday, so 3.3 stays on 1 June and nothing else changes
    assert new_starts(moves) == {"3.2": "Wed 2026-05-20 10:00"}
    assert moves[0].old_starts_at == at("2026-05-18 10:00")
    assert moves[0].new_ends_at == at("2026-05-20 12:30")


def test_moving_the_last_group_session_keeps_the_six_week_gap_before_the_review(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    sessions = timeline_for(building_choices, holidays_2026)
    moves = postpone(
        building_choices,
        sessions,
        "6.3",
        at("2026-10-21 10:00"),
        None,
        cascade=True,
        now=at("2026-10-01 09:00"),
        slots=[MONDAY_10],
        bank_holidays=holidays_2026,
    )
    # 21 Oct + 42 days = Wed 2 Dec; the Monday slot on or after it is 7 Dec (not 26 Oct, the day after)
    assert new_starts(moves) == {"6.3": "Wed 2026-10-21 10:00", "7.1": "Mon 2026-12-07 10:00"}


def test_moving_the_pre_group_one_to_one_shifts_later_sessions_by_the_same_offset(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    sessions = timeline_for(building_choices, holidays_2026)
    moves = postpone(
        building_choices,
        sessions,
        "1.1",
        at("2026-03-25 10:00"),
        at("2026-03-25 11:30"),
        cascade=True,
        now=BEFORE_START,
        slots=[MONDAY_10],
        bank_holidays=holidays_2026,
    )
    starts = new_starts(moves)
    assert starts["1.1"] == "Wed 2026-03-25 10:00"
    assert moves[0].new_ends_at == at("2026-03-25 11:30")  # an explicit end is kept
    # SPEC §3: a moved one-to-one shifts later sessions by its own offset (+2 days), whatever the slots
    assert starts["2.1"] == "Wed 2026-04-15 10:00"
    assert starts["2.2"] == "Wed 2026-04-22 10:00"
    assert starts["2.3"] == "Wed 2026-04-29 10:00"


def test_two_slots_cascade_restarts_both_slots_from_the_day_after_the_new_date(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    slots = [MONDAY_10, THURSDAY_14]
    sessions = timeline_for(building_choices, holidays_2026, slots)
    # 3.5 was Mon 11 May; move it to Fri 15 May. Slots restart Sat 16 May: Mon 18 May, Thu 21 May.
    moves = postpone(
        building_choices,
        sessions,
        "3.5",
        at("2026-05-15 10:00"),
        None,
        cascade=True,
        now=at("2026-05-01 09:00"),
        slots=slots,
        bank_holidays=holidays_2026,
    )
    assert new_starts(moves) == {
        "3.5": "Fri 2026-05-15 10:00",
        "3.6": "Mon 2026-05-18 10:00",
        "3.7": "Thu 2026-05-21 14:00",  # Monday slot: 25 May holiday, next 1 Jun
        "4.1": "Thu 2026-05-28 14:00",
        "4.2": "Mon 2026-06-01 10:00",
        "4.3": "Thu 2026-06-04 14:00",
        "4.4": "Mon 2026-06-08 10:00",
        "4.5": "Thu 2026-06-11 14:00",
        "5.1": "Mon 2026-06-15 10:00",
        "5.2": "Thu 2026-06-18 14:00",
        "5.3": "Mon 2026-06-22 10:00",
        "5.4": "Thu 2026-06-25 14:00",
        "5.5": "Mon 2026-06-29 10:00",
        "5.6": "Thu 2026-07-02 14:00",
        "5.7": "Mon 2026-07-06 10:00",
        "6.1": "Thu 2026-07-09 14:00",
        "6.2": "Mon 2026-07-13 10:00",
        "6.3": "Thu 2026-07-16 14:00",
        "7.1": "Thu 2026-08-27 14:00",  # 16 Jul + 42 days = Thu 27 Aug; Monday 31 Aug is a holiday anyway
    }
    review = next(m for m in moves if m.key == "7.1")
    assert review.new_ends_at == at("2026-08-27 15:00")


def test_moving_to_a_day_between_slots_can_leave_later_sessions_where_they_are(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    slots = [MONDAY_10, THURSDAY_14]
    sessions = timeline_for(building_choices, holidays_2026, slots)
    moves = postpone(
        building_choices,
        sessions,
        "3.5",
        at("2026-05-12 10:00"),
        None,
        cascade=True,
        now=at("2026-05-01 09:00"),
        slots=slots,
        bank_holidays=holidays_2026,
    )
    assert new_starts(moves) == {"3.5": "Tue 2026-05-12 10:00"}  # Thu 14 May and Mon 18 May are unchanged


def test_moving_a_one_to_one_placeholder_shifts_later_sessions_and_carries_its_one_to_ones(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    timeline = timeline_for(building_choices, holidays_2026)
    placeholder = by_key(timeline)["2.3"]  # Mon 27 Apr 10:00
    later_placeholder = by_key(timeline)["3.7"]  # Mon 29 Jun 10:00
    intro = by_key(timeline)["2.1"]
    sessions = [
        *timeline,
        extra("ind-a", placeholder, INDIVIDUAL, at("2026-04-27 10:00")),
        extra("ind-b", placeholder, INDIVIDUAL, at("2026-04-27 11:00")),
        extra("ind-later", later_placeholder, INDIVIDUAL, at("2026-06-29 13:00")),
        extra("catch-up", intro, CATCH_UP, at("2026-05-06 10:00"), minutes=150),
    ]
    moves = postpone(
        building_choices,
        sessions,
        "2.3",
        at("2026-04-28 14:00"),
        None,
        cascade=True,
        now=BEFORE_START,
        slots=[MONDAY_10],
        bank_holidays=holidays_2026,
    )
    offset = timedelta(days=1, hours=4)
    moved = {m.key: m for m in moves}
    assert all(m.offset == offset for m in moves)
    assert moved["ind-a"].new_starts_at == at("2026-04-28 14:00")
    assert moved["ind-b"].new_starts_at == at("2026-04-28 15:00")
    assert moved["3.1"].new_starts_at == at("2026-05-12 14:00")
    assert moved["ind-later"].new_starts_at == at("2026-06-30 17:00")  # carried by its own placeholder
    assert moved["7.1"].new_starts_at == at("2026-12-01 14:00")
    assert "catch-up" not in moved
    assert "2.1" not in moved and "1.1" not in moved
    assert len(moves) == 24 + 3  # 2.3 and the 23 later templates, plus three individual one-to-ones


def test_without_slots_a_cascade_shifts_later_sessions_by_the_same_offset(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    sessions = timeline_for(building_choices, holidays_2026)
    moves = postpone(
        building_choices,
        sessions,
        "6.1",
        at("2026-10-06 10:00"),
        None,
        cascade=True,
        now=BEFORE_START,
        slots=[],
        bank_holidays=holidays_2026,
    )
    assert new_starts(moves) == {
        "6.1": "Tue 2026-10-06 10:00",
        "6.2": "Tue 2026-10-13 10:00",
        "6.3": "Tue 2026-10-20 10:00",
        "7.1": "Tue 2026-12-01 10:00",
    }


def test_without_cascade_only_the_session_moves(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    sessions = timeline_for(building_choices, holidays_2026)
    moves = postpone(
        building_choices,
        sessions,
        "3.1",
        at("2026-05-18 10:00"),
        None,
        cascade=False,
        now=BEFORE_START,
        slots=[MONDAY_10],
        bank_holidays=holidays_2026,
    )
    assert [(m.key, m.new_starts_at, m.new_ends_at) for m in moves] == [
        ("3.1", at("2026-05-18 10:00"), at("2026-05-18 12:30"))
    ]


def test_without_cascade_a_placeholder_still_carries_its_individual_one_to_ones(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    timeline = timeline_for(building_choices, holidays_2026)
    placeholder = by_key(timeline)["2.3"]
    sessions = [*timeline, extra("ind-a", placeholder, INDIVIDUAL, at("2026-04-27 11:00"))]
    moves = postpone(
        building_choices,
        sessions,
        "2.3",
        at("2026-05-05 10:00"),
        None,
        cascade=False,
        now=BEFORE_START,
        slots=[MONDAY_10],
        bank_holidays=holidays_2026,
    )
    assert new_starts(moves) == {"2.3": "Tue 2026-05-05 10:00", "ind-a": "Tue 2026-05-05 11:00"}


def test_an_individual_one_to_one_moves_alone_even_with_cascade(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    timeline = timeline_for(building_choices, holidays_2026)
    placeholder = by_key(timeline)["2.3"]
    sessions = [*timeline, extra("ind-a", placeholder, INDIVIDUAL, at("2026-04-27 11:00"))]
    moves = postpone(
        building_choices,
        sessions,
        "ind-a",
        at("2026-04-29 15:00"),
        None,
        cascade=True,
        now=BEFORE_START,
        slots=[MONDAY_10],
        bank_holidays=holidays_2026,
    )
    assert new_starts(moves) == {"ind-a": "Wed 2026-04-29 15:00"}


def test_cascade_never_moves_catch_ups_cancelled_or_started_sessions(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    timeline = by_key(timeline_for(building_choices, holidays_2026))
    cancelled = timeline["3.3"]
    timeline["3.3"] = ExistingSession(**{**cancelled.__dict__, "cancelled": True})
    sessions = [*timeline.values(), extra("catch-up", timeline["3.1"], CATCH_UP, at("2026-05-20 10:00"))]
    moves = postpone(
        building_choices,
        sessions,
        "3.1",
        at("2026-05-18 10:00"),
        None,
        cascade=True,
        now=at("2026-05-01 09:00"),
        slots=[MONDAY_10],
        bank_holidays=holidays_2026,
    )
    # 3.2 takes 1 Jun; the cancelled 3.3 uses no slot, so 3.4 keeps 8 Jun and nothing later changes
    assert new_starts(moves) == {"3.1": "Mon 2026-05-18 10:00", "3.2": "Mon 2026-06-01 10:00"}


def test_a_later_session_that_already_started_is_left_alone(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    # 3.2 was moved (earlier) to before 3.1 and has happened; postponing 3.1 must not move it.
    timeline = by_key(timeline_for(building_choices, holidays_2026))
    timeline["3.2"] = ExistingSession(
        **{**timeline["3.2"].__dict__, "starts_at": at("2026-05-05 10:00"), "ends_at": at("2026-05-05 12:30")}
    )
    moves = postpone(
        building_choices,
        list(timeline.values()),
        "3.1",
        at("2026-05-18 10:00"),
        None,
        cascade=True,
        now=at("2026-05-06 09:00"),
        slots=[MONDAY_10],
        bank_holidays=holidays_2026,
    )
    # 3.3 takes the first slot after 18 May (1 Jun, as before), so only 3.1 changes
    assert new_starts(moves) == {"3.1": "Mon 2026-05-18 10:00"}


# --- postpone: refusals ---------------------------------------------------------------------------------


@pytest.fixture
def monday_timeline(building_choices: ProgrammeSpec, holidays_2026: frozenset[date]) -> list[ExistingSession]:
    return timeline_for(building_choices, holidays_2026)


def call(
    programme: ProgrammeSpec,
    sessions: list[ExistingSession],
    key: str,
    start: str,
    end: str | None,
    now: str,
    holidays: frozenset[date],
) -> list[Move]:
    return postpone(
        programme,
        sessions,
        key,
        at(start),
        at(end) if end else None,
        cascade=True,
        now=at(now),
        slots=[MONDAY_10],
        bank_holidays=holidays,
    )


def test_postponing_a_session_that_has_started_is_refused(
    building_choices: ProgrammeSpec, monday_timeline: list[ExistingSession], holidays_2026: frozenset[date]
) -> None:
    with pytest.raises(ScheduleRefused, match="already started, so it cannot be postponed"):
        call(
            building_choices,
            monday_timeline,
            "2.1",
            "2026-04-20 10:00",
            None,
            "2026-04-13 10:00",
            holidays_2026,
        )


def test_making_a_past_session_longer_is_refused(
    building_choices: ProgrammeSpec, monday_timeline: list[ExistingSession], holidays_2026: frozenset[date]
) -> None:
    with pytest.raises(ScheduleRefused, match="cannot be made longer"):
        call(
            building_choices,
            monday_timeline,
            "2.1",
            "2026-04-13 10:00",
            "2026-04-13 13:00",
            "2026-04-14 09:00",
            holidays_2026,
        )


def test_a_past_session_may_have_its_end_corrected_earlier_without_cascading(
    building_choices: ProgrammeSpec, monday_timeline: list[ExistingSession], holidays_2026: frozenset[date]
) -> None:
    moves = call(
        building_choices,
        monday_timeline,
        "2.1",
        "2026-04-13 10:00",
        "2026-04-13 12:00",
        "2026-04-14 09:00",
        holidays_2026,
    )
    assert [(m.key, m.new_ends_at) for m in moves] == [("2.1", at("2026-04-13 12:00"))]


def test_an_end_at_or_before_the_start_is_refused(
    building_choices: ProgrammeSpec, monday_timeline: list[ExistingSession], holidays_2026: frozenset[date]
) -> None:
    with pytest.raises(ScheduleRefused, match="end time must be after the start time"):
        call(
            building_choices,
            monday_timeline,
            "3.1",
            "2026-05-18 10:00",
            "2026-05-18 10:00",
            "2026-05-01 09:00",
            holidays_2026,
        )


def test_a_new_start_in_the_past_is_refused(
    building_choices: ProgrammeSpec, monday_timeline: list[ExistingSession], holidays_2026: frozenset[date]
) -> None:
    with pytest.raises(ScheduleRefused, match="in the past"):
        call(
            building_choices,
            monday_timeline,
            "3.1",
            "2026-04-30 10:00",
            None,
            "2026-05-01 09:00",
            holidays_2026,
        )


def test_a_cancelled_session_cannot_be_moved(
    building_choices: ProgrammeSpec, monday_timeline: list[ExistingSession], holidays_2026: frozenset[date]
) -> None:
    sessions = [ExistingSession(**{**s.__dict__, "cancelled": s.key == "3.1"}) for s in monday_timeline]
    with pytest.raises(ScheduleRefused, match="cancelled"):
        call(building_choices, sessions, "3.1", "2026-05-18 10:00", None, "2026-05-01 09:00", holidays_2026)


def test_an_unknown_session_is_refused(
    building_choices: ProgrammeSpec, monday_timeline: list[ExistingSession], holidays_2026: frozenset[date]
) -> None:
    with pytest.raises(ScheduleRefused, match="no longer on the group's schedule"):
        call(
            building_choices,
            monday_timeline,
            "99",
            "2026-05-18 10:00",
            None,
            "2026-05-01 09:00",
            holidays_2026,
        )


def test_shifting_earlier_must_not_put_a_carried_one_to_one_in_the_past(
    building_choices: ProgrammeSpec, monday_timeline: list[ExistingSession], holidays_2026: frozenset[date]
) -> None:
    placeholder = by_key(monday_timeline)["2.3"]  # Mon 27 Apr 10:00
    sessions = [*monday_timeline, extra("ind-a", placeholder, INDIVIDUAL, at("2026-04-27 09:00"))]
    with pytest.raises(ScheduleRefused, match="in the past"):
        # offset -3 days -30 minutes would put ind-a at Fri 24 Apr 08:30, before now (09:00)
        call(building_choices, sessions, "2.3", "2026-04-24 09:30", None, "2026-04-24 09:00", holidays_2026)


def test_refusal_messages_are_one_line(
    building_choices: ProgrammeSpec, monday_timeline: list[ExistingSession], holidays_2026: frozenset[date]
) -> None:
    with pytest.raises(ScheduleRefused) as refused:
        call(
            building_choices,
            monday_timeline,
            "3.1",
            "2026-04-30 10:00",
            None,
            "2026-05-01 09:00",
            holidays_2026,
        )
    assert "\n" not in str(refused.value)
    assert isinstance(refused.value, ValueError)
