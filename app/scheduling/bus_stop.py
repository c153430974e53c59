"""Bus stopping (SPEC §3): a person who leaves a group may join another group running the same programme,
within 12 weeks of leaving, at the point they reached.

The point they reached (the *resume point*) is their first incomplete session template in template order. A
group fits when its next session is that template, or an earlier one of the same module: they repeat a little
of the module rather than miss any of it. After the window, or if they never completed anything, they start
again from the first template, so only groups that have not gone past it fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, timedelta

from app.scheduling.template import TemplateKey

WINDOW_DAYS = 84
"""12 weeks. Day 84 after leaving is still inside the window; day 85 is not."""


def within_window(left_on: date, today: date) -> bool:
    """Whether someone who left on `left_on` may still rejoin at the point they reached."""
    return (today - left_on).days <= WINDOW_DAYS


def last_day_to_rejoin(left_on: date) -> date:
    return left_on + timedelta(days=WINDOW_DAYS)


def first_incomplete(order: Sequence[TemplateKey], completed: AbstractSet[TemplateKey]) -> TemplateKey | None:
    """The first template (in template order) not completed; None when every one is."""
    return next((key for key in order if key not in completed), None)


@dataclass(frozen=True)
class Fit:
    """How a group's next session relates to the person's resume point.

    `fits`: the group may take them. `behind`: how many templates before the resume point the group's next
    session is (0 = exactly there); `repeats`: the templates they would take again."""

    fits: bool
    behind: int
    repeats: tuple[TemplateKey, ...]


def fit(order: Sequence[TemplateKey], resume: TemplateKey, next_key: TemplateKey) -> Fit:
    """A group whose next session is `next_key`, for a person resuming at `resume`."""
    position = {key: i for i, key in enumerate(order)}
    if next_key not in position or resume not in position:
        return Fit(False, 0, ())
    behind = position[resume] - position[next_key]
    same_module = next_key[0] == resume[0]
    if behind < 0 or not same_module:
        return Fit(False, behind, ())
    return Fit(True, behind, tuple(order[position[next_key]:position[resume]]))
