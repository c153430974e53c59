"""What a person must confirm before a move goes ahead (SPEC §3): breaking the gap after the pre-group
one-to-one (``gap_weeks_after``), breaking the gap before the post-programme review (``gap_weeks_before``), or
a session landing on a bank holiday. The rules place sessions so that none of these happens; a person moving
one session by hand (or a shift by an offset) can, and then must say so explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date
from itertools import pairwise

from app.scheduling.placement import gap_days
from app.scheduling.template import ProgrammeSpec
from app.scheduling.timeline import SCHEDULED, ExistingSession, Move, apply_moves

GAP_AFTER = "gap_after"
"""The gap after a module with ``gap_weeks_after`` (the 3 weeks after the pre-group one-to-one)."""
GAP_BEFORE = "gap_before"
"""The gap before a module with ``gap_weeks_before`` (the 6 weeks before the post-programme review)."""
BANK_HOLIDAY = "bank_holiday"
"""A moved session on an England and Wales bank holiday."""


@dataclass(frozen=True)
class RuleBreak:
    """One rule a move breaks. For a gap, ``key`` is the later session and ``earlier_key`` the one the gap
    counts from; ``days`` is how many days apart they would be and ``days_needed`` what the programme keeps."""

    rule: str
    key: str
    day: date
    earlier_key: str | None = None
    earlier_day: date | None = None
    days: int = 0
    days_needed: int = 0


def rule_breaks(
    programme: ProgrammeSpec,
    sessions: Sequence[ExistingSession],
    moves: Sequence[Move],
    bank_holidays: AbstractSet[date],
) -> list[RuleBreak]:
    """The gaps and bank holidays that ``moves`` break on the timeline ``sessions``.

    A gap counts only if it is broken after the moves and was not already broken before (a gap someone
    broke earlier, and confirmed then, is not asked about again), and one of its two sessions moves.
    """
    moved = {move.key for move in moves}
    before = _gap_breaks(programme, sessions)
    breaks = [
        found
        for pair, found in _gap_breaks(programme, apply_moves(sessions, moves)).items()
        if pair not in before and (pair[0] in moved or pair[1] in moved)
    ]
    breaks += [
        RuleBreak(BANK_HOLIDAY, move.key, move.new_starts_at.date())
        for move in sorted(moves, key=lambda m: (m.new_starts_at, m.key))
        if move.new_starts_at.date() in bank_holidays
    ]
    return breaks


def _gap_breaks(
    programme: ProgrammeSpec, sessions: Sequence[ExistingSession]
) -> dict[tuple[str, str], RuleBreak]:
    order = programme.template_order()
    timeline = sorted(
        (s for s in sessions if s.kind == SCHEDULED and not s.cancelled and s.template_key in order),
        key=lambda s: (order[s.template_key], s.starts_at, s.key),
    )
    found: dict[tuple[str, str], RuleBreak] = {}
    for earlier, later in pairwise(timeline):
        needed = gap_days(
            programme, programme.session(earlier.template_key), programme.session(later.template_key)
        )
        if not needed:
            continue
        apart = (later.starts_at.date() - earlier.starts_at.date()).days
        if apart >= needed:
            continue
        after = programme.module(earlier.module_number).gap_weeks_after
        rule = GAP_AFTER if after and 7 * after >= needed else GAP_BEFORE
        found[(earlier.key, later.key)] = RuleBreak(
            rule, later.key, later.starts_at.date(), earlier.key, earlier.starts_at.date(), apart, needed
        )
    return found


def days_label(days: int) -> str:
    """``17`` → ``2 weeks 3 days``: how far apart two sessions are, in the words the gap rules use."""
    weeks, rest = divmod(days, 7)
    parts = [f"{weeks} week{'s' if weeks != 1 else ''}"] if weeks else []
    if rest or not parts:
        parts.append(f"{rest} day{'s' if rest != 1 else ''}")
    return " ".join(parts)

