"""Nobody double-booked (SPEC §3): who is already committed at a time, and where.

One definition of a clash: two live (scheduled) sessions overlap when each starts before the other ends. A
facilitator's clash names where they are already booked (group, session, date, time and location); a change of
facilitators refuses until it is accepted, and starting a group lists the clashes its schedule made."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload, selectinload

from app.extensions import db
from app.models import Attendee, Facilitator, Referral, Session, SessionFacilitator, SessionTemplate
from app.scheduling import Busy


def _describe(session: Session) -> str:
    return (f"{session.session_template.name} (group {session.group.code}) on "
            f"{session.starts_at:%a %-d %b} {session.starts_at:%H:%M}–{session.ends_at:%H:%M}")


def _window(starts_at: datetime, ends_at: datetime, exclude: Iterable[int] = ()) -> tuple[Any, ...]:
    """SQL: a live session overlapping [starts_at, ends_at), not one of `exclude`."""
    return (Session.status == "scheduled", Session.starts_at < ends_at, Session.ends_at > starts_at,
            Session.id.not_in(list(exclude) or [0]))


def _overlapping(starts_at: datetime, ends_at: datetime, exclude: Iterable[int]) -> Select[Session]:
    return (
        select(Session).where(*_window(starts_at, ends_at, exclude))
        .options(joinedload(Session.group), joinedload(Session.session_template))
    )


@dataclass(frozen=True)
class Clash:
    facilitator: Facilitator
    booked: Session  # where they are already booked
    wanted: Session  # the session they would be (or have been) added to

    @property
    def text(self) -> str:
        b = self.booked
        kind = {"catch_up": " (catch-up)", "one_to_one": " (one-to-one)"}.get(b.kind, "")
        where = b.location or b.group.delivery_location
        return (f"{self.facilitator.name} is already booked on group {b.group.code}, "
                f"{b.session_template.label} {b.session_template.name}{kind}, "
                f"{b.starts_at:%a %-d %b %Y} {b.starts_at:%H:%M}–{b.ends_at:%H:%M}"
                + (f" at {where}" if where else ""))

    @property
    def line(self) -> str:
        """The clash as a list item: where they are booked, and which of the sessions it overlaps."""
        w = self.wanted
        when = (f"at {w.starts_at:%H:%M}" if w.starts_at.date() == self.booked.starts_at.date()
                else f"on {w.starts_at:%a %-d %b %H:%M}")
        return f"{self.text} – overlaps {w.session_template.label} {when}"

    @property
    def entry(self) -> dict[str, Any]:
        """What an operation's result keeps of the clash (ids, and the words as they were then)."""
        return {"facilitator_id": self.facilitator.id, "booked_id": self.booked.id, "wanted_id": self.wanted.id,
                "text": self.text}


def already_booked(found: Sequence[Clash]) -> str:
    """"Nia New is already booked at the same time" (each facilitator named once)."""
    names = sorted({c.facilitator.name for c in found})
    return f"{' and '.join(names)} {'is' if len(names) == 1 else 'are'} already booked at the same time"


def clash_key(found: Sequence[Clash]) -> str:
    """Identifies a set of clashes: saving anyway accepts exactly the clashes the person was shown."""
    return ",".join(sorted(f"{c.facilitator.id}:{c.booked.id}:{c.wanted.id}" for c in found))


def facilitator_clashes(pairs: Iterable[tuple[int, Session]]) -> list[Clash]:
    """For each (facilitator id, session) they are to be on: the other live sessions that facilitator is booked
    on and that overlap it. One query per facilitator, whatever the number of sessions."""
    found: list[Clash] = []
    by_facilitator: dict[int, list[Session]] = {}
    for facilitator_id, session in pairs:
        by_facilitator.setdefault(facilitator_id, []).append(session)
    for facilitator_id, wanted in by_facilitator.items():
        first = min(s.starts_at for s in wanted)
        last = max(s.ends_at for s in wanted)
        booked = list(db.session.scalars(
            select(Session).join(SessionFacilitator, SessionFacilitator.session_id == Session.id)
            .where(*_window(first, last), SessionFacilitator.facilitator_id == facilitator_id)
            .options(selectinload(Session.group),
                     selectinload(Session.session_template).selectinload(SessionTemplate.module))
            .order_by(Session.starts_at, Session.id)
        ))
        if not booked:
            continue
        facilitator = db.session.get(Facilitator, facilitator_id)
        assert facilitator is not None
        for w in sorted(wanted, key=lambda s: (s.starts_at, s.id)):
            found += [Clash(facilitator, b, w) for b in booked if b.id != w.id and _overlap(b, w)]
    return found


def still_clashing(entries: Sequence[dict[str, Any]]) -> list[Clash]:
    """The stored clashes (Clash.entry) that still hold: the facilitator is still on both sessions and they
    still overlap. A clash someone has since resolved (another facilitator, a moved session) is not listed."""
    wanted_ids = {e["wanted_id"] for e in entries}
    if not wanted_ids:
        return []
    on = {(f, s) for f, s in db.session.execute(
        select(SessionFacilitator.facilitator_id, SessionFacilitator.session_id)
        .where(SessionFacilitator.session_id.in_(wanted_ids)))}
    sessions = {s.id: s for s in db.session.scalars(
        select(Session).where(Session.id.in_(wanted_ids), Session.status == "scheduled"))}
    pairs = [(e["facilitator_id"], sessions[e["wanted_id"]]) for e in entries
             if e["wanted_id"] in sessions and (e["facilitator_id"], e["wanted_id"]) in on]
    stored = {(e["facilitator_id"], e["booked_id"], e["wanted_id"]) for e in entries}
    return [c for c in facilitator_clashes(pairs)
            if (c.facilitator.id, c.booked.id, c.wanted.id) in stored]


def _overlap(a: Session, b: Session) -> bool:
    """The rule of _window, for two sessions already loaded."""
    return a.starts_at < b.ends_at and b.starts_at < a.ends_at


def first_clash(starts_at: datetime, ends_at: datetime, *, facilitator_ids: Iterable[int] = (),
                referral_ids: Iterable[int] = (), exclude: Iterable[int] = ()) -> tuple[str, str] | None:
    """(field, message) for the first facilitator or person already booked in [starts_at, ends_at)."""
    facilitator_ids, referral_ids, exclude = list(facilitator_ids), list(referral_ids), list(exclude)
    if facilitator_ids:
        row = db.session.execute(
            _overlapping(starts_at, ends_at, exclude).add_columns(Facilitator.name)
            .join(SessionFacilitator, SessionFacilitator.session_id == Session.id)
            .join(Facilitator, Facilitator.id == SessionFacilitator.facilitator_id)
            .where(SessionFacilitator.facilitator_id.in_(facilitator_ids)).order_by(Session.starts_at).limit(1)
        ).first()
        if row:
            return "facilitator_id", f"{row[1]} is already facilitating {_describe(row[0])}"
    if referral_ids:
        row = db.session.execute(
            _overlapping(starts_at, ends_at, exclude).add_columns(Referral.person_name)
            .join(Attendee, Attendee.session_id == Session.id)
            .join(Referral, Referral.id == Attendee.referral_id)
            .where(Attendee.referral_id.in_(referral_ids), Attendee.removed_at.is_(None))
            .order_by(Session.starts_at).limit(1)
        ).first()
        if row:
            return "people", f"{row[1]} is already expected at {_describe(row[0])}"
    return None


def busy(since: datetime, until: datetime, *, facilitator_ids: Iterable[int], referral_ids: Iterable[int],
         exclude: Iterable[int] = ()) -> list[Busy]:
    """Everyone's commitments in a window, as the scheduling rules want them (owner "facilitator:<id>" or
    "person:<referral id>"). Two queries, whatever the number of people."""
    window = _window(since, until, exclude)
    entries = [
        Busy(f"facilitator:{fid}", s, e) for fid, s, e in db.session.execute(
            select(SessionFacilitator.facilitator_id, Session.starts_at, Session.ends_at)
            .join(Session, Session.id == SessionFacilitator.session_id)
            .where(*window, SessionFacilitator.facilitator_id.in_(list(facilitator_ids)))
            .order_by(Session.starts_at))
    ]
    entries += [
        Busy(f"person:{rid}", s, e) for rid, s, e in db.session.execute(
            select(Attendee.referral_id, Session.starts_at, Session.ends_at)
            .join(Session, Session.id == Attendee.session_id)
            .where(*window, Attendee.referral_id.in_(list(referral_ids)), Attendee.removed_at.is_(None))
            .order_by(Session.starts_at))
    ]
    return entries

