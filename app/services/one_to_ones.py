"""Booking individual one-to-ones against a placeholder (SPEC §3, Generate rule 5): a suggested, staggered time
per member — nobody double-booked, inside working hours, never on a bank holiday — accepted or changed one by
one. A booking is a Session of kind one_to_one whose parent is the placeholder."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError

from app import clock
from app.extensions import db
from app.models import Attendee, NDeliusAppointment, Referral, Session, SessionFacilitator, User
from app.scheduling import ONE_TO_ONE, suggest_one_to_ones
from app.services import audit, booking_rules, idempotency, needs, outbox
from app.services.bank_holidays import holiday_dates
from app.services.clashes import busy, first_clash
from app.services.errors import ServiceError
from app.services.schedule_guard import refuse_while_busy

if TYPE_CHECKING:
    from app.services.register import Header

SUGGESTION_WINDOW = timedelta(weeks=12)
DAY_START, DAY_END = time(9), time(17)


@dataclass
class BookingRow:
    attendee: Attendee
    booking: Session | None
    suggestion: tuple[datetime, datetime] | None


def is_placeholder(session: Session | Header) -> bool:
    return session.kind == "scheduled" and session.session_template.session_type == ONE_TO_ONE


def bookings(placeholder: Session) -> dict[int, Session]:
    """The live booking of each person against this placeholder, by referral id."""
    found: dict[int, Session] = {}
    for referral_id, session in db.session.execute(
        select(Attendee.referral_id, Session).join(Session, Session.id == Attendee.session_id)
        .where(Session.parent_id == placeholder.id, Session.kind == "one_to_one", Session.status == "scheduled",
               Attendee.removed_at.is_(None))
        .options(joinedload(Session.facilitators).joinedload(SessionFacilitator.facilitator))
        .order_by(Session.starts_at)
    ).unique():
        found.setdefault(referral_id, session)
    return found


def booking_rows(placeholder: Session, facilitator_id: int | None = None) -> list[BookingRow]:
    """Every member expected at the placeholder, with their booking or a suggested time. Suggestions start at
    the placeholder (or now, if that has passed) and go round everyone's existing sessions."""
    attendees = db.session.scalars(
        select(Attendee).join(Referral, Referral.id == Attendee.referral_id)
        .where(Attendee.session_id == placeholder.id, Attendee.removed_at.is_(None))
        .options(joinedload(Attendee.referral)).order_by(Referral.person_name, Attendee.id)
    ).all()
    booked = bookings(placeholder)
    to_suggest = [a for a in attendees if a.referral_id not in booked]
    facilitator_id = facilitator_id or _lead_id(placeholder)
    suggestions: dict[str, tuple[datetime, datetime]] = {}
    if to_suggest and facilitator_id:
        now = clock.now_local()
        start = max(placeholder.starts_at, now.replace(minute=0, second=0) + timedelta(hours=1))
        diary = busy(start - timedelta(days=1), start + SUGGESTION_WINDOW, facilitator_ids=[facilitator_id],
                     referral_ids=[a.referral_id for a in attendees], exclude=[placeholder.id])
        # the times each person has said they cannot attend (work, care) are busy too (issue 15.3)
        diary += needs.unavailable_busy([a.referral_id for a in to_suggest], start - timedelta(days=1),
                                        start + SUGGESTION_WINDOW)
        try:
            suggestions = suggest_one_to_ones(
                start, placeholder.session_template.duration_minutes,
                [f"person:{a.referral_id}" for a in to_suggest], f"facilitator:{facilitator_id}", diary,
                holiday_dates(start.date(), years_ahead=1), day_start=DAY_START, day_end=DAY_END,
            )
        except ValueError:
            suggestions = {}
    return [BookingRow(a, booked.get(a.referral_id), suggestions.get(f"person:{a.referral_id}")) for a in attendees]


def _lead_id(session: Session) -> int | None:
    return next((sf.facilitator_id for sf in session.facilitators if sf.role == "lead"), None)


def book(actor: User, placeholder: Session, *, referral_id: int, on: date | None, at: time | None,
         facilitator_id: int | None, key: str | None = None) -> Session | None:
    """Book one person's one-to-one. None when this request (its idempotency key) was already processed."""
    try:
        refuse_while_busy(placeholder.group_id)
        if key is not None and not idempotency.claim(actor, key, "one_to_one", placeholder.id):
            db.session.rollback()
            return None
        if not is_placeholder(placeholder) or placeholder.status != "scheduled":
            raise ServiceError("One-to-ones are booked against a one-to-one session of the group", "date")
        attendee = db.session.scalar(select(Attendee).where(
            Attendee.session_id == placeholder.id, Attendee.referral_id == referral_id, Attendee.removed_at.is_(None)))
        if attendee is None:
            raise ServiceError("Choose a member of this group", "date")
        existing = bookings(placeholder).get(referral_id)
        if existing is not None:
            raise ServiceError(f"{attendee.referral.person_name} already has this one-to-one on "
                               f"{existing.starts_at:%-d %B at %H:%M}: change that booking instead", "date")
        starts_at, ends_at = booking_rules.when(placeholder, on, at, "one-to-one")
        facilitator = booking_rules.facilitator_of_region(facilitator_id, placeholder.group.region_id)
        clash = first_clash(starts_at, ends_at, facilitator_ids=[facilitator.id], referral_ids=[referral_id],
                            exclude=[placeholder.id])
        if clash:
            raise ServiceError(clash[1], "start_time" if clash[0] == "people" else clash[0])
        session = Session(group_id=placeholder.group_id, session_template_id=placeholder.session_template_id,
                          kind="one_to_one", parent_id=placeholder.id, starts_at=starts_at, ends_at=ends_at,
                          location=placeholder.location or placeholder.group.delivery_location, status="scheduled")
        session.facilitators = [SessionFacilitator(facilitator_id=facilitator.id, role="lead")]
        booked = Attendee(session=session, referral_id=referral_id, membership_id=attendee.membership_id)
        db.session.add_all([session, booked])
        db.session.flush()
        outbox.appointments_created([booked])
        audit.record(actor, "session.one_to_one_booked", session, group_id=session.group_id, after={
            "placeholder_id": placeholder.id, "referral_id": referral_id, "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(), "facilitator_id": facilitator.id,
        })
        db.session.commit()
        return session
    except ServiceError:
        db.session.rollback()
        raise


def change(actor: User, booking: Session, *, on: date | None, at: time | None, facilitator_id: int | None,
           seen_version: int | None) -> Session:
    """Move a booked one-to-one (and its nDelius appointment). `seen_version` guards against a change made by
    someone else meanwhile."""
    try:
        refuse_while_busy(booking.group_id)
        if booking.kind != "one_to_one" or booking.parent is None:
            raise ServiceError("Only a booked one-to-one can be changed here", "date")
        if seen_version is not None and seen_version != booking.version:
            raise ServiceError("Someone else changed this booking after you opened the page: check it and try again",
                               "date")
        if booking.starts_at <= clock.now_local():
            raise ServiceError("This one-to-one has already started", "date")
        starts_at, ends_at = booking_rules.when(booking.parent, on, at, "one-to-one")
        facilitator = booking_rules.facilitator_of_region(facilitator_id, booking.parent.group.region_id)
        attendee_ids = [a.referral_id for a in booking.attendees]
        clash = first_clash(starts_at, ends_at, facilitator_ids=[facilitator.id], referral_ids=attendee_ids,
                            exclude=[booking.id, booking.parent.id])
        if clash:
            raise ServiceError(clash[1], "start_time" if clash[0] == "people" else clash[0])
        before = {"starts_at": booking.starts_at.isoformat(), "ends_at": booking.ends_at.isoformat(),
                  "facilitator_id": _lead_id(booking)}
        booking.starts_at, booking.ends_at = starts_at, ends_at
        lead = next((sf for sf in booking.facilitators if sf.role == "lead"), None)
        if lead is None:
            booking.facilitators.append(SessionFacilitator(facilitator_id=facilitator.id, role="lead"))
        elif lead.facilitator_id != facilitator.id:
            lead.facilitator_id = facilitator.id
        db.session.flush()
        for appointment in db.session.scalars(select(NDeliusAppointment).where(
                NDeliusAppointment.attendee_id.in_([a.id for a in booking.attendees]))):
            outbox.appointment_changed(appointment)
        audit.record(actor, "session.one_to_one_changed", booking, group_id=booking.group_id, before=before, after={
            "starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat(), "facilitator_id": facilitator.id})
        db.session.commit()
        return booking
    except StaleDataError:
        db.session.rollback()
        raise ServiceError("Someone else changed this booking at the same time: check it and try again",
                           "date") from None
    except ServiceError:
        db.session.rollback()
        raise
