"""What a move must have confirmed (SPEC §3): the 3-week gap after the pre-group one-to-one, the 6-week gap
before the post-programme review, a bank holiday."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.scheduling import (
    BANK_HOLIDAY,
    GAP_AFTER,
    GAP_BEFORE,
    GROUP,
    ProgrammeSpec,
    RuleBreak,
    Slot,
    apply_moves,
    days_label,
    postpone,
    rule_breaks,
)
from tests.unit.test_cascade import MONDAY_10, at, by_key, timeline_for
from tests.unit.test_cascade_properties import day_in_range, holiday_sets, slot_lists

NOW = at("2026-03-01 09:00")


def _breaks(programme: ProgrammeSpec, holidays: frozenset[date], key: str, new_start: datetime,
            cascade: bool = False) -> list[RuleBreak]:
    sessions = timeline_for(programme, holidays)
    moves = postpone(programme, sessions, key, new_start, None, cascade=cascade, now=NOW, slots=[MONDAY_10],
                     bank_holidays=holidays)
    return rule_breaks(programme, sessions, moves, holidays)


def test_bringing_the_first_group_session_within_three_weeks_of_the_pre_group_one_to_one_breaks_the_gap(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    assert _breaks(building_choices, holidays_2026, "2.1", at("2026-04-07 10:00")) == [
        RuleBreak(GAP_AFTER, "2.1", date(2026, 4, 7), "1.1", date(2026, 3, 23), 15, 21)
    ]


def test_a_move_onto_easter_monday_breaks_the_gap_and_lands_on_a_bank_holiday(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    rules = [b.rule for b in _breaks(building_choices, holidays_2026, "2.1", at("2026-04-06 10:00"))]
    assert rules == [GAP_AFTER, BANK_HOLIDAY]


def test_postponing_the_last_group_session_alone_breaks_the_six_weeks_before_the_review(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    # 6.3 is on 19 Oct and the review on 30 Nov: moving 6.3 alone to 2 Nov leaves 4 weeks
    assert _breaks(building_choices, holidays_2026, "6.3", at("2026-11-02 10:00")) == [
        RuleBreak(GAP_BEFORE, "7.1", date(2026, 11, 30), "6.3", date(2026, 11, 2), 28, 42)
    ]


def test_with_cascade_the_same_postpone_keeps_the_gap_and_needs_no_confirmation(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    assert _breaks(building_choices, holidays_2026, "6.3", at("2026-11-02 10:00"), cascade=True) == []


def test_bringing_the_review_forward_breaks_the_gap_before_it(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    found = _breaks(building_choices, holidays_2026, "7.1", at("2026-11-09 10:00"))
    assert [(b.rule, b.key, b.earlier_key, b.days) for b in found] == [(GAP_BEFORE, "7.1", "6.3", 21)]


def test_a_session_moved_alone_onto_a_bank_holiday_needs_confirming(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    assert _breaks(building_choices, holidays_2026, "3.3", at("2026-05-25 10:00")) == [
        RuleBreak(BANK_HOLIDAY, "3.3", date(2026, 5, 25))
    ]


def test_a_gap_broken_before_is_not_asked_about_again(
    building_choices: ProgrammeSpec, holidays_2026: frozenset[date]
) -> None:
    sessions = timeline_for(building_choices, holidays_2026)
    first = postpone(building_choices, sessions, "2.1", at("2026-04-07 10:00"), None, cascade=False, now=NOW,
                     slots=[MONDAY_10], bank_holidays=holidays_2026)
    sessions = apply_moves(sessions, first)
    again = postpone(building_choices, sessions, "2.1", at("2026-04-08 10:00"), None, cascade=False, now=NOW,
                     slots=[MONDAY_10], bank_holidays=holidays_2026)
    assert rule_breaks(building_choices, sessions, again, holidays_2026) == []


def test_days_are_said_in_weeks_and_days() -> None:
    assert [days_label(n) for n in (0, 1, 7, 15, 28)] == ["0 days", "1 day", "1 week", "2 weeks 1 day", "4 weeks"]


@settings(max_examples=100, deadline=None)
@given(slots=slot_lists(), start=day_in_range, holidays=holiday_sets, data=st.data())
def test_a_cascade_by_the_slots_breaks_nothing_but_where_the_person_put_the_moved_session(
    building_choices: ProgrammeSpec, slots: list[Slot], start: date, holidays: frozenset[date],
    data: st.DataObject,
) -> None:
    sessions = timeline_for(building_choices, holidays, slots=slots, start=start)
    now = datetime.combine(start, time()) - timedelta(days=1)
    target = data.draw(st.sampled_from([s for s in sessions if s.session_type == GROUP]))
    new_start = target.starts_at + timedelta(minutes=15 * data.draw(st.integers(-14 * 96, 40 * 96)))
    assume(new_start > now)
    moves = postpone(building_choices, sessions, target.key, new_start, None, cascade=True, now=now,
                     slots=slots, bank_holidays=holidays)
    for found in rule_breaks(building_choices, sessions, moves, holidays):
        assert target.key in (found.key, found.earlier_key), found
    assert by_key(apply_moves(sessions, moves))[target.key].starts_at == new_start
