"""Properties of postpone/cascade over random schedules, slots, holidays, clocks and moves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.scheduling import (
    CATCH_UP,
    GROUP,
    INDIVIDUAL,
    SCHEDULED,
    ExistingSession,
    Move,
    ProgrammeSpec,
    ScheduleRefused,
    Slot,
    apply_moves,
    generate,
    postpone,
)

day_in_range = st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 6, 30))
holiday_sets = st.frozensets(day_in_range, max_size=30)
start_times = st.builds(time, st.integers(min_value=7, max_value=18), st.sampled_from([0, 15, 30, 45]))


@st.composite
def slot_lists(draw: st.DrawFn) -> list[Slot]:
    weekdays = draw(st.lists(st.integers(0, 6), min_size=1, max_size=3, unique=True))
    return [Slot(weekday, draw(start_times)) for weekday in weekdays]


def timeline_with_extras(
    programme: ProgrammeSpec, slots: Sequence[Slot], start: date, holidays: frozenset[date]
) -> list[ExistingSession]:
    """Generated sessions, two individual one-to-ones per placeholder, a catch-up after each group session."""
    sessions: list[ExistingSession] = []
    for p in generate(programme, list(slots), start, holidays):
        base = f"{p.module_number}.{p.session_number}"
        sessions.append(
            ExistingSession(
                base,
                p.module_number,
                p.session_number,
                p.name,
                p.session_type,
                SCHEDULED,
                p.starts_at,
                p.ends_at,
            )
        )
        if p.session_type == GROUP:
            catch_up_at = p.starts_at + timedelta(days=2)
            sessions.append(
                ExistingSession(
                    f"{base}/cu",
                    p.module_number,
                    p.session_number,
                    p.name,
                    p.session_type,
                    CATCH_UP,
                    catch_up_at,
                    catch_up_at + timedelta(minutes=150),
                )
            )
        else:
            for n in (1, 2):
                one_at = p.starts_at + timedelta(hours=n)
                sessions.append(
                    ExistingSession(
                        f"{base}/ind{n}",
                        p.module_number,
                        p.session_number,
                        p.name,
                        p.session_type,
                        INDIVIDUAL,
                        one_at,
                        one_at + timedelta(hours=1),
                    )
                )
    return sessions


@dataclass(frozen=True)
class Scenario:
    sessions: list[ExistingSession]
    slots: list[Slot]
    holidays: frozenset[date]
    now: datetime
    target: ExistingSession
    new_start: datetime
    cascade: bool


@st.composite
def scenarios(draw: st.DrawFn, programme: ProgrammeSpec) -> Scenario:
    slots = draw(slot_lists())
    start = draw(day_in_range)
    holidays = draw(holiday_sets)
    sessions = timeline_with_extras(programme, slots, start, holidays)
    now = datetime.combine(start, time()) + timedelta(minutes=draw(st.integers(-30 * 1440, 300 * 1440)))
    movable = [s for s in sessions if not s.has_started(now)]
    assume(movable)
    target = draw(st.sampled_from(movable))
    new_start = target.starts_at + timedelta(minutes=15 * draw(st.integers(-4 * 96, 40 * 96)))
    assume(new_start > now and new_start != target.starts_at)
    no_slots = draw(st.integers(0, 9)) == 0  # now and then a group without slots
    return Scenario(
        sessions, [] if no_slots else slots, holidays, now, target, new_start, draw(st.booleans())
    )


def template_position(programme: ProgrammeSpec, session: ExistingSession) -> int:
    return programme.template_order()[session.template_key]


@settings(max_examples=250, deadline=None)
@given(data=st.data())
def test_cascade_moves_only_what_the_rules_allow(
    building_choices: ProgrammeSpec, data: st.DataObject
) -> None:
    s = data.draw(scenarios(building_choices))
    sessions, target, now, new_start, holidays, slots, cascade = (
        s.sessions,
        s.target,
        s.now,
        s.new_start,
        s.holidays,
        s.slots,
        s.cascade,
    )

    def run() -> list[Move]:
        return postpone(
            building_choices,
            sessions,
            target.key,
            new_start,
            None,
            cascade=cascade,
            now=now,
            slots=slots,
            bank_holidays=holidays,
        )

    try:
        moves = run()
    except ScheduleRefused as refused:
        # the only refusal possible here: shifting earlier would push a carried/later session into the past
        assert "in the past" in str(refused)
        assert new_start < target.starts_at
        return
    assert moves == run()  # deterministic
    before = {x.key: x for x in sessions}
    moved = {m.key: m for m in moves}
    assert moved[target.key].new_starts_at == new_start
    assert moved[target.key].new_ends_at - new_start == target.duration  # duration kept by default
    for move in moves:
        old = before[move.key]
        assert not old.has_started(now)  # past sessions never move
        assert move.new_starts_at > now  # never placed before now
        assert move.new_starts_at != move.old_starts_at or move.new_ends_at != move.old_ends_at
        assert move.new_ends_at - move.new_starts_at == old.duration
        if move.key == target.key:
            continue
        assert old.kind != CATCH_UP  # catch-ups never move
        if old.kind == INDIVIDUAL:  # only with their placeholder, by its offset
            placeholder = next(
                x for x in sessions if x.kind == SCHEDULED and x.template_key == old.template_key
            )
            assert moved[placeholder.key].offset == move.offset
        else:
            assert cascade and target.kind == SCHEDULED
            assert template_position(building_choices, old) > template_position(building_choices, target)
    if not cascade or target.kind != SCHEDULED:
        assert {m.key for m in moves} <= {target.key} | {
            x.key for x in sessions if x.kind == INDIVIDUAL and x.template_key == target.template_key
        }
        return
    # with cascade, every later group session/placeholder ends up after the moved one, in template order
    after = {x.key: x for x in apply_moves(sessions, moves)}
    chain = sorted(
        (
            x
            for x in after.values()
            if x.kind == SCHEDULED
            and x.starts_at > now
            and template_position(building_choices, x) >= template_position(building_choices, target)
        ),
        key=lambda x: template_position(building_choices, x),
    )
    assert chain[0].key == target.key
    for previous, following in pairwise(chain):
        assert previous.starts_at < following.starts_at
        assert previous.ends_at <= following.starts_at
    replaced_by_slots = bool(slots) and target.session_type == GROUP  # a moved one-to-one shifts by offset
    if replaced_by_slots:
        for x in chain[1:]:
            assert x.starts_at.date() not in holidays
            assert x.starts_at.date() > max(new_start.date(), now.date())
            assert Slot(x.starts_at.weekday(), x.starts_at.time()) in slots
        if len(chain) > 1 and chain[-1].key == "7.1":  # the post-programme review
            assert chain[-1].starts_at.date() >= chain[-2].starts_at.date() + timedelta(days=42)
    else:
        offset = new_start - target.starts_at
        for x in chain[1:]:
            assert x.starts_at - before[x.key].starts_at == offset
