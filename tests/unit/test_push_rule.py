"""A postpone pushes, it never pulls (SPEC §3): worked examples, and a property that on a schedule nobody has
changed the result is exactly the real service's (the re-packing the cascade did before the rule)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, time, timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.scheduling import (
    GROUP,
    SCHEDULED,
    ExistingSession,
    Move,
    ProgrammeSpec,
    ScheduleRefused,
    Slot,
    apply_moves,
    postpone,
    rule_breaks,
)
from app.scheduling.placement import Anchor, place_in_order
from tests.unit.test_cascade import MONDAY_10, THURSDAY_14, at, by_key, new_starts, timeline_for
from tests.unit.test_cascade_properties import day_in_range, holiday_sets, slot_lists

NOW = at("2026-04-20 09:00")


def _postpone(
    programme: ProgrammeSpec,
    sessions: Sequence[ExistingSession],
    key: str,
    new_start: datetime,
    holidays: frozenset[date],
    *,
    cascade: bool = True,
    now: datetime = NOW,
    slots: Sequence[Slot] = (MONDAY_10,),
) -> list[Move]:
    return postpone(
        programme, sessions, key, new_start, None, cascade=cascade, now=now, slots=list(slots),
        bank_holidays=holidays,
    )


def _start(sessions: Sequence[ExistingSession], key: str) -> datetime:
    return by_key(sessions)[key].starts_at


def test_postponing_3_1_a_week_after_3_3_was_postponed_two_weeks_does_not_pull_3_3_earlier(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    sessions = timeline_for(building_choices, holidays_2026)
    assert _start(sessions, "3.3") == at("2026-06-01 10:00")
    # the team postponed 3.3 by two weeks (with the sessions after it): a deliberate gap after 3.2
    sessions = apply_moves(sessions, _postpone(building_choices, sessions, "3.3", at("2026-06-15 10:00"),
                                               holidays_2026))
    end_before = _start(sessions, "7.1")
    assert end_before == at("2026-12-14 10:00")
    moves = _postpone(building_choices, sessions, "3.1", at("2026-05-18 10:00"), holidays_2026)
    # 3.2 takes the next Monday after 3.1 (25 May is a bank holiday); 3.3 is not pulled back from 15 June
    assert new_starts(moves) == {"3.1": "Mon 2026-05-18 10:00", "3.2": "Mon 2026-06-01 10:00"}
    after = apply_moves(sessions, moves)
    assert _start(after, "3.3") == at("2026-06-15 10:00")
    assert _start(after, "7.1") == end_before  # the end date does not come forward


def test_a_push_that_reaches_the_deliberate_gap_carries_on_past_it(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    sessions = timeline_for(building_choices, holidays_2026)
    sessions = apply_moves(sessions, _postpone(building_choices, sessions, "3.3", at("2026-06-15 10:00"),
                                               holidays_2026))
    # now postpone 3.1 by five weeks: 3.2 would land after 3.3's current date, so 3.3 and later move on
    moves = _postpone(building_choices, sessions, "3.1", at("2026-06-15 10:00"), holidays_2026)
    assert new_starts(moves)["3.2"] == "Mon 2026-06-22 10:00"
    assert new_starts(moves)["3.3"] == "Mon 2026-06-29 10:00"
    before = by_key(sessions)
    for move in moves:
        assert move.new_starts_at >= before[move.key].starts_at


def test_on_a_schedule_nobody_changed_the_push_gives_the_real_services_result(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    """The worked example of test_cascade, with two slots: the same as re-packing from the slots."""
    sessions = timeline_for(building_choices, holidays_2026, slots=(MONDAY_10, THURSDAY_14))
    slots = [MONDAY_10, THURSDAY_14]
    moves = _postpone(building_choices, sessions, "3.1", _start(sessions, "3.1") + timedelta(days=8),
                      holidays_2026, slots=slots)
    assert moves == _repacked(building_choices, sessions, "3.1", _start(sessions, "3.1") + timedelta(days=8),
                              NOW, slots, holidays_2026)


def test_moving_earlier_with_cascade_re_packs_the_later_sessions_without_the_floor(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    sessions = timeline_for(building_choices, holidays_2026)
    sessions = apply_moves(sessions, _postpone(building_choices, sessions, "3.3", at("2026-06-15 10:00"),
                                               holidays_2026))
    # bring 3.2 forward a day (Sunday 17 May): 3.3 follows on the next slot, closing the team's gap
    moves = _postpone(building_choices, sessions, "3.2", at("2026-05-17 10:00"), holidays_2026)
    assert new_starts(moves)["3.3"] == "Mon 2026-05-18 10:00"
    assert _start(apply_moves(sessions, moves), "7.1") < _start(sessions, "7.1")


def test_moving_earlier_without_cascade_moves_only_that_session(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    sessions = timeline_for(building_choices, holidays_2026)
    moves = _postpone(building_choices, sessions, "3.2", at("2026-05-14 10:00"), holidays_2026, cascade=False)
    assert new_starts(moves) == {"3.2": "Thu 2026-05-14 10:00"}


def _repacked(
    programme: ProgrammeSpec,
    sessions: Sequence[ExistingSession],
    key: str,
    new_start: datetime,
    now: datetime,
    slots: Sequence[Slot],
    holidays: frozenset[date],
) -> list[Move]:
    """The cascade as the real service does it (and as this service did before the push rule): every later
    group session and placeholder, in template order, re-packed from the slots from the day after the new date.
    Only for a group session moved with slots (the case the push rule changes)."""
    order = programme.template_order()
    target = by_key(sessions)[key]
    later = sorted(
        (s for s in sessions if s.kind == SCHEDULED and not s.cancelled and s.starts_at > now
         and order[s.template_key] > order[target.template_key]),
        key=lambda s: order[s.template_key],
    )
    starts = place_in_order(
        programme, [programme.session(s.template_key) for s in later], slots, holidays,
        on_or_after=max(new_start.date(), now.date()) + timedelta(days=1),
        anchor=Anchor(programme.session(target.template_key), new_start.date()), not_before=now,
    )
    new_times = {key: (new_start, new_start + target.duration)}
    new_times.update({s.key: (start, start + s.duration) for s, start in zip(later, starts, strict=True)})
    moves = [Move(s.key, s.starts_at, s.ends_at, *new_times[s.key]) for s in sessions
             if s.key in new_times and new_times[s.key] != (s.starts_at, s.ends_at)]
    return sorted(moves, key=lambda m: (m.new_starts_at, m.key))


@settings(max_examples=150, deadline=None)
@given(
    slots=slot_lists(), start=day_in_range, holidays=holiday_sets, data=st.data(),
)
def test_on_a_fresh_schedule_a_later_move_is_exactly_todays_cascade(
    building_choices: ProgrammeSpec, slots: list[Slot], start: date, holidays: frozenset[date],
    data: st.DataObject,
) -> None:
    sessions = timeline_for(building_choices, holidays, slots=slots, start=start)
    now = datetime.combine(start, time()) + timedelta(minutes=data.draw(st.integers(-30 * 1440, 200 * 1440)))
    movable = [s for s in sessions if s.starts_at > now and s.session_type == GROUP]
    assume(movable)
    target = data.draw(st.sampled_from(movable))
    new_start = target.starts_at + timedelta(minutes=15 * data.draw(st.integers(1, 40 * 96)))
    try:
        moves = _postpone(building_choices, sessions, target.key, new_start, holidays, now=now, slots=slots)
    except ScheduleRefused:
        raise AssertionError("a later move on a fresh schedule is never refused") from None
    assert moves == _repacked(building_choices, sessions, target.key, new_start, now, slots, holidays)


@settings(max_examples=150, deadline=None)
@given(slots=slot_lists(), start=day_in_range, holidays=holiday_sets, data=st.data())
def test_two_later_moves_never_pull_any_session_earlier(
    building_choices: ProgrammeSpec, slots: list[Slot], start: date, holidays: frozenset[date],
    data: st.DataObject,
) -> None:
    """Whatever the team did before (a first postpone, cascading or not), a later move pushes every session
    it moves later and never brings the end date forward."""
    sessions = timeline_for(building_choices, holidays, slots=slots, start=start)
    now = datetime.combine(start, time()) + timedelta(minutes=data.draw(st.integers(-30 * 1440, 100 * 1440)))
    for _ in range(2):
        movable = [s for s in sessions if s.starts_at > now]
        assume(movable)
        target = data.draw(st.sampled_from(movable))
        new_start = target.starts_at + timedelta(minutes=15 * data.draw(st.integers(1, 12 * 96)))
        moves = _postpone(building_choices, sessions, target.key, new_start, holidays, now=now, slots=slots,
                          cascade=data.draw(st.booleans()))
        end_before = max(s.starts_at for s in sessions)
        for move in moves:
            assert move.new_starts_at >= move.old_starts_at, move
        sessions = apply_moves(sessions, moves)
        assert max(s.starts_at for s in sessions) >= end_before


def test_a_session_with_attendance_recorded_stays_and_a_push_past_it_is_a_rule_break(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    sessions = [replace(s, recorded=True) if s.key == "7.1" else s
                for s in timeline_for(building_choices, holidays_2026)]  # an acceptable absence, in advance
    review = _start(sessions, "7.1")
    moves = _postpone(building_choices, sessions, "3.3", _start(sessions, "3.3") + timedelta(weeks=1),
                      holidays_2026)
    assert "7.1" not in {m.key for m in moves} and "6.3" in {m.key for m in moves}
    assert rule_breaks(building_choices, sessions, moves, holidays_2026)  # 6.3 now inside the review's gap
    try:
        _postpone(building_choices, sessions, "7.1", review + timedelta(weeks=1), holidays_2026)
    except ScheduleRefused as refused:
        assert str(refused) == ("'Post-programme review' has attendance recorded, so it cannot be moved: clear the "
                                "attendance first.")
    else:  # pragma: no cover
        raise AssertionError("moved a session with attendance")
