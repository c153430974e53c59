"""A group's stored timeline as plain values, and the moves that change it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.scheduling.template import ONE_TO_ONE, ProgrammeSpec, SessionSpec, TemplateKey

SCHEDULED = "scheduled"
"""A generated group session or one-to-one placeholder: it sits on the group's weekly slots."""
CATCH_UP = "catch_up"
"""An ad-hoc session for people who missed one: never moved by a cascade."""
INDIVIDUAL = "one_to_one"
"""An individually booked one-to-one: moves only with its placeholder, never by itself in a cascade."""
KINDS = (SCHEDULED, CATCH_UP, INDIVIDUAL)


class ScheduleRefused(ValueError):
    """A schedule change the rules do not allow; ``str(error)`` is a one-line reason for a person."""


@dataclass(frozen=True)
class ExistingSession:
    """One session on a group's timeline as stored. Times are naive local wall-clock times."""

    key: str
    module_number: int
    session_number: int
    name: str
    session_type: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    cancelled: bool = False
    # Has attendance recorded (an acceptable absence can be recorded in advance): like a session that has
    # started, it stays where it is (SPEC §3 late steps), so a plan must not count on moving it.
    recorded: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"session {self.key}: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")

    @property
    def template_key(self) -> TemplateKey:
        return (self.module_number, self.session_number)

    @property
    def duration(self) -> timedelta:
        return self.ends_at - self.starts_at

    @property
    def is_placeholder(self) -> bool:
        """A one-to-one template on the group timeline; individual one-to-ones are booked against it."""
        return self.kind == SCHEDULED and self.session_type == ONE_TO_ONE

    def has_started(self, now: datetime) -> bool:
        """A session has started (and is in the past for scheduling) once ``starts_at <= now``."""
        return self.starts_at <= now

    def stays(self, now: datetime) -> bool:
        """A postpone leaves it where it is: it has started or has attendance."""
        return self.recorded or self.has_started(now)


@dataclass(frozen=True)
class Move:
    """A session's old and new times."""

    key: str
    old_starts_at: datetime
    old_ends_at: datetime
    new_starts_at: datetime
    new_ends_at: datetime

    @property
    def offset(self) -> timedelta:
        return self.new_starts_at - self.old_starts_at


NewTimes = dict[str, tuple[datetime, datetime]]


def index_by_key(sessions: Sequence[ExistingSession]) -> dict[str, ExistingSession]:
    """Sessions by key; two sessions with one key is a caller error."""
    found: dict[str, ExistingSession] = {}
    for session in sessions:
        if session.key in found:
            raise ValueError(f"two sessions share the key {session.key!r}")
        found[session.key] = session
    return found


def spec_of(programme: ProgrammeSpec, session: ExistingSession) -> SessionSpec:
    """The session's template; refused when the programme version has no such template."""
    try:
        return programme.session(session.template_key)
    except KeyError:
        raise not_in_template(programme, session) from None


def not_in_template(programme: ProgrammeSpec, session: ExistingSession) -> ScheduleRefused:
    module, number = session.template_key
    return ScheduleRefused(
        f"'{session.name}' is session {module}.{number}, which the {programme.name} template does not have."
    )


def moves_from(
    sessions: Sequence[ExistingSession], new_times: Mapping[str, tuple[datetime, datetime]]
) -> list[Move]:
    """Moves for the sessions whose times change, earliest new start first (then by key)."""
    moves = [
        Move(session.key, session.starts_at, session.ends_at, *new_times[session.key])
        for session in sessions
        if session.key in new_times and new_times[session.key] != (session.starts_at, session.ends_at)
    ]
    return sorted(moves, key=lambda move: (move.new_starts_at, move.key))


def apply_moves(sessions: Sequence[ExistingSession], moves: Sequence[Move]) -> list[ExistingSession]:
    """The timeline after the moves (for previews and clash checks)."""
    by_key = {move.key: move for move in moves}
    result: list[ExistingSession] = []
    for session in sessions:
        move = by_key.get(session.key)
        if move is None:
            result.append(session)
        else:
            result.append(
                ExistingSession(
                    key=session.key,
                    module_number=session.module_number,
                    session_number=session.session_number,
                    name=session.name,
                    session_type=session.session_type,
                    kind=session.kind,
                    starts_at=move.new_starts_at,
                    ends_at=move.new_ends_at,
                    cancelled=session.cancelled,
                )
            )
    return result


def when(moment: datetime) -> str:
    """A date and time as people read it in messages, e.g. ``Mon 13 Apr 2026 10:00``."""
    return f"{moment:%a} {moment.day} {moment:%b %Y %H:%M}"
