"""Nobody double-booked (SPEC §3): who is already committed at a time, and where."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import Attendee, Facilitator, Referral, Session, SessionFacilitator
from app.scheduling import Busy


def _describe(session: Session) -> str:
    return (f"{session.session_template.name} (group {session.group.code}) on "
            f"{session.starts_at:%a %-d %b} {session.starts_at:%H:%M}–{session.ends_at:%H:%M}")


def _overlapping(starts_at: datetime, ends_at: datetime, exclude: Iterable[int]) -> Select[Session]:
    return (
        select(Session).where(Session.status == "scheduled", Session.starts_at < ends_at,
                              Session.ends_at > starts_at, Session.id.not_in(list(exclude) or [0]))
        .options(joinedload(Session.group), joinedload(Session.session_template))
    )


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
    exclude = list(exclude) or [0]
    window = (Session.status == "scheduled", Session.starts_at < until, Session.ends_at > since,
              Session.id.not_in(exclude))
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

