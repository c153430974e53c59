"""Changing one session after the schedule was made (issue 15.2), each in one transaction with its audit event
and nDelius outbox rows, and refused while the group's schedule is being generated or rescheduled.

- **Cancel** a session: it stays on the schedule, struck through, with the reason. Its appointments that nDelius
  has keep their contact, with outcome RSSR "Rescheduled - Service Request" (``ndelius_plan``); none is created.
  Nobody completes its template by it, so the template is still to be done: the register offers a catch-up for
  everyone who was expected (``catch_ups.candidates``), and a postpone (the cascade) can move the rest of the
  programme on. A session with outcomes recorded happened, and is not cancelled.
- **Delete** a catch-up or a booked one-to-one made in error: it disappears from every page and its nDelius
  appointments are deleted. Generated sessions are never deleted (cancel them); nor is anything with an outcome.
- **Who is expected**: add a member of the group to one session, or take someone off it; nDelius gets an
  appointment created or deleted for that person only.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Attendance, Attendee, Membership, NDeliusAppointment, Session, User
from app.services import audit, outbox
from app.services.errors import ServiceError
from app.services.membership import now_utc
from app.services.schedule_guard import refuse_while_busy

REASON_LIMIT = 500


def _in_region(actor: User, session: Session) -> None:
    if actor.role != "admin" and session.group.region_id != actor.region_id:
        raise ServiceError("You can only change sessions in your region")


def _recorded(session: Session) -> list[Attendee]:
    """The people with an outcome recorded at this session."""
    return list(db.session.scalars(
        select(Attendee).join(Attendance, Attendance.attendee_id == Attendee.id)
        .where(Attendee.session_id == session.id, Attendee.removed_at.is_(None), Attendance.outcome.is_not(None))
    ).unique())


def _live_appointments(attendee_ids: list[int]) -> list[NDeliusAppointment]:
    if not attendee_ids:
        return []
    return list(db.session.scalars(select(NDeliusAppointment).where(
        NDeliusAppointment.attendee_id.in_(attendee_ids), NDeliusAppointment.sync_state != "deleted")))


def _is_placeholder(session: Session) -> bool:
    return session.kind == "scheduled" and session.session_template.session_type == "one_to_one"


def describe(session: Session) -> str:
    when = f"{session.starts_at:%-d %B %Y} at {session.starts_at:%H:%M}"
    name = session.session_template.name
    kind = {"catch_up": "catch-up", "one_to_one": "one-to-one"}.get(session.kind, "session")
    if name.lower().endswith(kind):  # "Managing myself one-to-one", not "… one-to-one one-to-one"
        return f"the {name} on {when}"
    return f"the {name} {kind} on {when}"


@dataclass(frozen=True)
class Cancelled:
    appointments: int  # nDelius appointments given the outcome RSSR


def cancel(actor: User, session: Session, *, reason: str) -> Cancelled:
    _in_region(actor, session)
    if session.deleted_at is not None or session.status == "cancelled":
        raise ServiceError("This session has already been cancelled", "reason")
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("Enter why the session is cancelled", "reason")
    if len(reason) > REASON_LIMIT:
        raise ServiceError(f"The reason must be {REASON_LIMIT} characters or fewer", "reason")
    refuse_while_busy(session.group_id, "reason")
    recorded = _recorded(session)
    if recorded:
        names = ", ".join(sorted(a.referral.person_name for a in recorded))
        raise ServiceError(f"Outcomes are recorded for this session ({names}): it happened, so it cannot be "
                           "cancelled. Clear the outcomes on the register first if it did not.", "reason")
    if _is_placeholder(session):
        booked = db.session.scalar(select(Session.id).where(Session.parent_id == session.id,
                                                            Session.kind == "one_to_one",
                                                            Session.status == "scheduled").limit(1))
        if booked is not None:
            raise ServiceError("One-to-ones are booked against this session: delete or cancel them first",
                               "reason")
    session.status, session.cancel_reason = "cancelled", reason
    session.cancelled_at, session.cancelled_by_id = now_utc(), actor.id
    appointments = _live_appointments([a.id for a in session.attendees])
    for appointment in appointments:
        outbox.appointment_changed(appointment, "update")
    audit.record(actor, "session.cancelled", session, group_id=session.group_id,
                 before={"status": "scheduled"},
                 after={"status": "cancelled", "reason": reason, "appointments_updated": len(appointments),
                        "ndelius_outcome": "RSSR"})
    db.session.commit()
    return Cancelled(len(appointments))


def delete(actor: User, session: Session) -> int:
    """Delete a catch-up or a booked one-to-one made in error; the number of nDelius appointments to delete."""
    _in_region(actor, session)
    if session.deleted_at is not None:
        raise ServiceError("This session has already been deleted")
    if session.kind not in ("catch_up", "one_to_one"):
        raise ServiceError("Only a catch-up or a booked one-to-one can be deleted. Cancel a session of the "
                           "schedule instead: it stays on the schedule with the reason.")
    refuse_while_busy(session.group_id)
    recorded = _recorded(session)
    if recorded:
        raise ServiceError("An outcome is recorded for this session: it happened, so it cannot be deleted")
    now = now_utc()
    attendees = list(session.attendees)
    for attendee in attendees:
        attendee.removed_at = now
    appointments = _live_appointments([a.id for a in attendees])
    for appointment in appointments:
        outbox.appointment_changed(appointment, "delete")
    before = {"kind": session.kind, "starts_at": session.starts_at.isoformat(), "status": session.status,
              "people": [a.referral.person_name for a in attendees]}
    session.status, session.deleted_at = "cancelled", now
    session.cancel_reason = session.cancel_reason or "Deleted: booked in error"
    audit.record(actor, "session.deleted", session, group_id=session.group_id, before=before,
                 after={"appointments_deleted": len(appointments)})
    db.session.commit()
    return len(appointments)


def addable(session: Session) -> list[Membership]:
    """Members of the group not expected at this session now (new members, or people taken off it)."""
    expected = {a.referral_id for a in session.attendees}
    return sorted((m for m in db.session.scalars(select(Membership).where(
        Membership.group_id == session.group_id, Membership.left_at.is_(None))) if m.referral_id not in expected),
        key=lambda m: m.referral.person_name)


def _changeable(actor: User, session: Session) -> None:
    _in_region(actor, session)
    if session.deleted_at is not None or session.status == "cancelled":
        raise ServiceError("This session was cancelled: nobody is expected at it", "referral_id")
    if session.starts_at <= clock.now_local():
        raise ServiceError("This session has already started: record attendance on its register instead",
                           "referral_id")
    refuse_while_busy(session.group_id, "referral_id")


def add_attendee(actor: User, session: Session, referral_id: int) -> Attendee:
    _changeable(actor, session)
    membership = next((m for m in addable(session) if m.referral_id == referral_id), None)
    if membership is None:
        raise ServiceError("Choose a member of the group who is not expected at this session", "referral_id")
    if session.kind == "one_to_one" and session.attendees:
        raise ServiceError("A one-to-one is for one person: book another for them", "referral_id")
    from app.services.case_data import appointments_stopped

    stopped = appointments_stopped(membership.referral)
    if stopped:
        raise ServiceError(stopped, "referral_id")
    attendee = db.session.scalar(select(Attendee).where(Attendee.session_id == session.id,
                                                        Attendee.referral_id == referral_id))
    if attendee is None:
        attendee = Attendee(session=session, referral_id=referral_id, membership=membership)
        db.session.add(attendee)
        db.session.flush()
        outbox.appointments_created([attendee])
    else:  # taken off before: expected again, their appointment made again
        attendee.removed_at, attendee.membership = None, membership
        appointment = db.session.scalar(select(NDeliusAppointment).filter_by(attendee_id=attendee.id))
        if appointment is None:
            outbox.appointments_created([attendee])
        else:
            outbox.appointment_changed(appointment, "create")
    audit.record(actor, "session.attendee_added", session, group_id=session.group_id,
                 after={"referral_id": referral_id, "person": membership.referral.person_name})
    db.session.commit()
    return attendee


def remove_attendee(actor: User, session: Session, referral_id: int) -> None:
    _changeable(actor, session)
    attendee = next((a for a in session.attendees if a.referral_id == referral_id), None)
    if attendee is None:
        raise ServiceError("Choose someone who is expected at this session", "referral_id")
    if attendee.attendance is not None and attendee.attendance.outcome is not None:
        raise ServiceError(f"An outcome is recorded for {attendee.referral.person_name} at this session: clear it "
                           "on the register first", "referral_id")
    if session.kind == "one_to_one":
        raise ServiceError("A one-to-one is for one person: delete the booking instead", "referral_id")
    attendee.removed_at = now_utc()
    appointments = _live_appointments([attendee.id])
    for appointment in appointments:
        outbox.appointment_changed(appointment, "delete")
    audit.record(actor, "session.attendee_removed", session, group_id=session.group_id,
                 before={"referral_id": referral_id, "person": attendee.referral.person_name},
                 after={"appointments_deleted": len(appointments)})
    db.session.commit()
