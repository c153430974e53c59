"""Catch-ups (SPEC §3): an ad-hoc session of the same session template for people who missed one. It counts for
completion exactly like the original; more than one attempt is allowed and every attempt stays visible (the
catch-up's parent is the session that was missed)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import (
    Attendance,
    Attendee,
    Membership,
    Session,
    SessionFacilitator,
    TemplateCompletion,
    User,
)
from app.scheduling import ATTENDED_COMPLIED
from app.services import audit, booking_rules, idempotency, outbox
from app.services.clashes import first_clash
from app.services.errors import ServiceError
from app.services.schedule_guard import refuse_while_busy


def may_have_catch_up(outcome: str | None, completed_elsewhere: bool, cancelled: bool = False) -> bool:
    """The one rule for who may have a catch-up of a session (the register's links and the booking page ask
    it): anyone whose recorded outcome is not ATTC missed the session's content - did not attend (UAAB),
    attended but failed to comply (AFTC), or was absent for an acceptable reason (AA…) - unless they have
    completed the same session template at another session since. Nothing recorded yet: not yet. At a
    cancelled session (issue 15.2) nobody did it: everyone who was expected may, unless completed elsewhere."""
    if cancelled:
        return not completed_elsewhere
    return outcome is not None and outcome != ATTENDED_COMPLIED and not completed_elsewhere


CANCELLED = "cancelled"  # a candidate's "outcome" when the session itself was cancelled


@dataclass(frozen=True)
class Candidate:
    attendee: Attendee
    outcome: str
    pending: Session | None
    """A catch-up of this template already booked for them and not yet recorded."""


def candidates(missed: Session) -> list[Candidate]:
    """People of this session who may have a catch-up (`may_have_catch_up`), with any catch-up already booked;
    at a cancelled session, everyone who was expected (issue 15.2). Only people still in the group: someone who
    has left catches up wherever they go next, not in a group they are no longer expected at."""
    cancelled = missed.status == "cancelled"
    members = select(Membership.referral_id).where(Membership.group_id == missed.group_id,
                                                   Membership.left_at.is_(None))
    query = (select(Attendee).outerjoin(Attendance, Attendance.attendee_id == Attendee.id)
             .where(Attendee.session_id == missed.id, Attendee.removed_at.is_(None),
                    Attendee.referral_id.in_(members))
             .options(joinedload(Attendee.referral), joinedload(Attendee.attendance)))
    if not cancelled:
        query = query.where(Attendance.outcome.is_not(None))
    attendees = db.session.scalars(query).unique().all()
    if not attendees:
        return []
    referral_ids = [a.referral_id for a in attendees]
    completed = set(db.session.scalars(select(TemplateCompletion.referral_id).where(
        TemplateCompletion.referral_id.in_(referral_ids),
        TemplateCompletion.session_template_id == missed.session_template_id)))
    pending: dict[int, Session] = {}
    for referral_id, session in db.session.execute(
        select(Attendee.referral_id, Session).join(Session, Session.id == Attendee.session_id)
        .outerjoin(Attendance, Attendance.attendee_id == Attendee.id)
        .where(Attendee.referral_id.in_(referral_ids), Attendee.removed_at.is_(None),
               Session.kind == "catch_up", Session.status == "scheduled",
               Session.session_template_id == missed.session_template_id, Attendance.outcome.is_(None))
    ):
        pending.setdefault(referral_id, session)
    return sorted(
        (Candidate(a, a.attendance.outcome if a.attendance else CANCELLED, pending.get(a.referral_id))  # type: ignore[arg-type]
         for a in attendees
         if may_have_catch_up(a.attendance.outcome if a.attendance else None, a.referral_id in completed,
                              cancelled)),
        key=lambda c: c.attendee.referral.person_name,
    )


def schedule(actor: User, missed: Session, *, referral_ids: list[int], on: date | None, at: time | None,
             facilitator_id: int | None, key: str | None = None) -> Session | None:
    """Book a catch-up for the chosen people. Returns None when this request (its idempotency key) was already
    processed. Raises ServiceError naming the field for anything the rules refuse; nothing is written then."""
    try:
        refuse_while_busy(missed.group_id)
        if key is not None and not idempotency.claim(actor, key, "catch_up", missed.id):
            db.session.rollback()
            return None
        session = _schedule(actor, missed, referral_ids, on, at, facilitator_id)
        db.session.commit()
        return session
    except ServiceError:
        db.session.rollback()
        raise


def _schedule(actor: User, missed: Session, referral_ids: list[int], on: date | None, at: time | None,
              facilitator_id: int | None) -> Session:
    if missed.deleted_at is not None:
        raise ServiceError("This session was deleted", "people")
    by_referral = {c.attendee.referral_id: c for c in candidates(missed)}
    chosen = list(dict.fromkeys(referral_ids))
    if not chosen:
        raise ServiceError("Choose at least one person", "people")
    for referral_id in chosen:
        candidate = by_referral.get(referral_id)
        if candidate is None:
            raise ServiceError("Choose people who missed this session, are still in the group and have not "
                               "completed it since", "people")
        if candidate.pending is not None:
            raise ServiceError(
                f"{candidate.attendee.referral.person_name} already has a catch-up on "
                f"{candidate.pending.starts_at:%-d %B at %H:%M}", "people")
    starts_at, ends_at = booking_rules.when(missed, on, at, "catch-up")
    facilitator = booking_rules.facilitator_of_region(facilitator_id, missed.group.region_id)
    clash = first_clash(starts_at, ends_at, facilitator_ids=[facilitator.id], referral_ids=chosen)
    if clash:
        raise ServiceError(clash[1], clash[0])

    session = Session(group_id=missed.group_id, session_template_id=missed.session_template_id, kind="catch_up",
                      parent_id=missed.id, starts_at=starts_at, ends_at=ends_at,
                      location=missed.location or missed.group.delivery_location, status="scheduled")
    session.facilitators = [SessionFacilitator(facilitator_id=facilitator.id, role="lead")]
    db.session.add(session)
    attendees = [Attendee(session=session, referral_id=r, membership_id=by_referral[r].attendee.membership_id)
                 for r in chosen]
    db.session.add_all(attendees)
    db.session.flush()
    outbox.appointments_created(attendees)
    audit.record(actor, "session.catch_up_scheduled", session, group_id=session.group_id, after={
        "missed_session_id": missed.id, "starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat(),
        "facilitator_id": facilitator.id, "referral_ids": chosen,
    })
    return session
