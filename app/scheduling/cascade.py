"""Postpone a session, optionally cascading later sessions (SPEC §3 "Cascade reschedule"), and regenerate a
group's future after its days, times or start date change (SPEC §3 "Changing a group's days and times").
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from datetime import date, datetime, timedelta

from app.scheduling.placement import Anchor, place_in_order
from app.scheduling.slots import Slot
from app.scheduling.template import ONE_TO_ONE, ProgrammeSpec
from app.scheduling.timeline import (
    INDIVIDUAL,
    SCHEDULED,
    ExistingSession,
    Move,
    NewTimes,
    ScheduleRefused,
    index_by_key,
    moves_from,
    not_in_template,
    spec_of,
    when,
)

__all__ = ["ExistingSession", "Move", "ScheduleRefused", "postpone", "regenerate_future"]

DAY = timedelta(days=1)


def postpone(
    programme: ProgrammeSpec,
    sessions: Sequence[ExistingSession],
    key: str,
    new_start: datetime,
    new_end: datetime | None,
    *,
    cascade: bool,
    now: datetime,
    slots: Sequence[Slot],
    bank_holidays: AbstractSet[date],
) -> list[Move]:
    """Move session ``key`` to ``new_start``; ``new_end`` defaults to keeping its duration.

    Refused: a cancelled session; an end at or before the start; moving a session that has started
    (``starts_at <= now``) or making it longer; a new start at or before now. A started session may only have
    its end brought forward (a correction), which never cascades.

    Refused too: moving a session with attendance recorded (it stays, like a started one).

    With ``cascade``, every later session in template order (not date order) that is a group session or a
    one-to-one placeholder, not cancelled, not started and without attendance, is re-placed by rules 2-4 with slots restarting
    from the day after max(new date, today): bank holidays skipped, the pre-group gap kept when the moved
    session is the pre-group one, the post-programme gap kept even when the moved session is the last group
    session, and nothing before now. A postpone pushes, it never pulls: when the session moves later, each
    re-placed session also takes no slot date earlier than its own current start, so a gap the team made on
    purpose is kept and the end never comes forward (on an unchanged schedule this is the real service's
    result); when it moves earlier, the later sessions are re-packed without that floor. When the moved
    session is a one-to-one placeholder (the pre-group one included), or the group has no slots, later
    sessions shift by the same offset instead (SPEC §3).
    Catch-ups and individual one-to-ones never cascade, but a moved placeholder carries its individual
    one-to-ones (same template, not started) by its own offset.

    Returns only the sessions whose times change, earliest new start first.
    """
    by_key = index_by_key(sessions)
    target = by_key.get(key)
    if target is None:
        raise ScheduleRefused("That session is no longer on the group's schedule.")
    end = new_end if new_end is not None else new_start + target.duration
    _check_request(target, new_start, end, now)
    new_times: NewTimes = {target.key: (new_start, end)}
    if target.has_started(now):
        return moves_from(sessions, new_times)
    if cascade and target.kind == SCHEDULED:
        later = _later_on_timeline(programme, sessions, target, now)
        if not slots or target.session_type == ONE_TO_ONE:
            offset = new_start - target.starts_at
            new_times.update({s.key: (s.starts_at + offset, s.ends_at + offset) for s in later})
        else:
            starts = _place(
                programme,
                later,
                slots,
                bank_holidays,
                on_or_after=max(new_start.date(), now.date()) + DAY,
                anchor=Anchor(spec_of(programme, target), new_start.date()),
                now=now,
                floors=[s.starts_at for s in later] if new_start > target.starts_at else None,
            )
            new_times.update(
                {s.key: (start, start + s.duration) for s, start in zip(later, starts, strict=True)}
            )
    new_times.update(_carried_one_to_ones(sessions, new_times, now))
    _refuse_moves_into_past(by_key, new_times, now)
    return moves_from(sessions, new_times)


def regenerate_future(
    programme: ProgrammeSpec,
    sessions: Sequence[ExistingSession],
    *,
    now: datetime,
    slots: Sequence[Slot],
    restart_from: date | None,
    bank_holidays: AbstractSet[date],
) -> list[Move]:
    """Re-place the future of a group whose slots or start date changed.

    Sessions that have started stay, with their attendance, and so do future ones with attendance recorded
    (they are not re-placed; nothing is placed around them either). Future group sessions and placeholders for
    templates not yet delivered are re-placed in template order by rules 1-4, with slots starting from
    max(day after the last past session, ``restart_from``, today) and never at or before now. The 3-week
    pre-group gap applies again only if no session has happened yet (SPEC §3; once any session has happened,
    as in the real service, no gap is added after it). Individual one-to-ones
    and catch-ups are not moved here (the caller keeps or lists them for re-booking).

    Returns only the sessions whose times change, earliest new start first.
    """
    if not slots:
        raise ScheduleRefused("A group needs at least one weekly slot to schedule its sessions.")
    index_by_key(sessions)
    live = [session for session in sessions if not session.cancelled]
    past = [session for session in live if session.has_started(now)]
    delivered = [session for session in past if session.kind == SCHEDULED]
    delivered_keys = {session.template_key for session in delivered}
    order = programme.template_order()
    to_place = sorted(
        (
            session
            for session in live
            if session.kind == SCHEDULED
            and not session.stays(now)
            and session.template_key not in delivered_keys
        ),
        key=lambda session: (_position(programme, order, session), session.starts_at, session.key),
    )
    on_or_after = now.date()
    if past:
        on_or_after = max(on_or_after, max(session.starts_at for session in past).date() + DAY)
    if restart_from is not None:
        on_or_after = max(on_or_after, restart_from)
    anchor = None
    if delivered:
        last = max(delivered, key=lambda session: (_position(programme, order, session), session.starts_at))
        anchor = Anchor(spec_of(programme, last), max(session.starts_at for session in delivered).date())
    starts = _place(
        programme,
        to_place,
        slots,
        bank_holidays,
        on_or_after=on_or_after,
        anchor=anchor,
        now=now,
        gaps_after=not delivered,
    )
    new_times: NewTimes = {
        s.key: (start, start + s.duration) for s, start in zip(to_place, starts, strict=True)
    }
    return moves_from(sessions, new_times)


def _check_request(target: ExistingSession, new_start: datetime, new_end: datetime, now: datetime) -> None:
    if target.cancelled:
        raise ScheduleRefused(f"'{target.name}' is cancelled, so it cannot be moved.")
    if new_end <= new_start:
        raise ScheduleRefused("The end time must be after the start time.")
    if target.has_started(now):
        if new_start != target.starts_at:
            raise ScheduleRefused(f"'{target.name}' has already started, so it cannot be postponed.")
        if new_end - new_start > target.duration:
            raise ScheduleRefused(f"'{target.name}' has already started, so it cannot be made longer.")
        return
    if target.recorded and (new_start, new_end) != (target.starts_at, target.ends_at):
        raise ScheduleRefused(
            f"'{target.name}' has attendance recorded, so it cannot be moved: clear the attendance first."
        )
    if new_start <= now:
        raise ScheduleRefused(
            f"The new start, {when(new_start)}, is in the past: choose a later date or time."
        )


def _position(programme: ProgrammeSpec, order: dict[tuple[int, int], int], session: ExistingSession) -> int:
    position = order.get(session.template_key)
    if position is None:
        raise not_in_template(programme, session)
    return position


def _later_on_timeline(
    programme: ProgrammeSpec, sessions: Sequence[ExistingSession], target: ExistingSession, now: datetime
) -> list[ExistingSession]:
    """Group sessions and placeholders after ``target`` in template order that a cascade may move."""
    order = programme.template_order()
    from_position = _position(programme, order, target)
    candidates = [
        session
        for session in sessions
        if session.kind == SCHEDULED
        and session.key != target.key
        and not session.cancelled
        and not session.stays(now)
    ]
    later = [s for s in candidates if _position(programme, order, s) > from_position]
    return sorted(later, key=lambda s: (_position(programme, order, s), s.starts_at, s.key))


def _place(
    programme: ProgrammeSpec,
    to_place: Sequence[ExistingSession],
    slots: Sequence[Slot],
    bank_holidays: AbstractSet[date],
    *,
    on_or_after: date,
    anchor: Anchor | None,
    now: datetime,
    gaps_after: bool = True,
    floors: Sequence[datetime] | None = None,
) -> list[datetime]:
    specs = [spec_of(programme, session) for session in to_place]
    try:
        return place_in_order(
            programme,
            specs,
            slots,
            bank_holidays,
            on_or_after=on_or_after,
            anchor=anchor,
            not_before=now,
            gaps_after=gaps_after,
            floors=floors,
        )
    except ScheduleRefused:
        raise
    except ValueError as error:
        raise ScheduleRefused(str(error)) from None


def _carried_one_to_ones(sessions: Sequence[ExistingSession], new_times: NewTimes, now: datetime) -> NewTimes:
    """A moved placeholder carries its individual one-to-ones (same template, not started) by its offset."""
    carried: NewTimes = {}
    for placeholder in sessions:
        if not placeholder.is_placeholder or placeholder.key not in new_times:
            continue
        offset = new_times[placeholder.key][0] - placeholder.starts_at
        if not offset:
            continue
        for session in sessions:
            if (
                session.kind == INDIVIDUAL
                and session.template_key == placeholder.template_key
                and not session.cancelled
                and not session.stays(now)
                and session.key not in new_times
            ):
                carried[session.key] = (session.starts_at + offset, session.ends_at + offset)
    return carried


def _refuse_moves_into_past(by_key: dict[str, ExistingSession], new_times: NewTimes, now: datetime) -> None:
    """Moving earlier by an offset must not put any session at or before now."""
    for key, (start, _end) in sorted(new_times.items(), key=lambda item: item[1]):
        if start <= now:
            session = by_key[key]
            raise ScheduleRefused(
                f"This would move '{session.name}' to {when(start)}, which is in the past: "
                "choose a later time."
            )
