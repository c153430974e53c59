"""Allocating people to groups and removing them (SPEC §2–3, issue 6). One transaction per use case: the
membership, attendee rows, referral status, nDelius outbox rows and audit commit together.

A person joins a group's *future* sessions only (what already happened belongs to the people who were there);
their completed sessions are per referral, so joining another group keeps every one of them. Leaving keeps
the past: attendance stays, future attendee rows are marked removed (not deleted) so the outbox can delete
their nDelius appointments by reference."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError

from app import clock
from app.extensions import db
from app.models import Attendee, Group, Membership, NDeliusAppointment, Referral, Session, User
from app.services import audit, bus_stop, outbox, progress
from app.services.errors import ServiceError
from app.services.joining import future_sessions, member_count, refusal
from app.services.schedule import active_operation
from app.services.schedule_guard import refuse_while_busy

__all__ = ["active_membership", "allocate", "future_sessions", "member_count", "refusal", "remove"]

# Statuses a person can be given when they leave a group: "Awaiting allocation" keeps them on the waiting
# list (and able to bus stop for 12 weeks); the others follow the real service's transitions.
REMOVAL_STATUSES = (
    "Awaiting allocation", "Deferred", "Suitable but not ready", "Withdrawn", "Breach", "Recall", "Return to court",
)
REMOVAL_STATUS_HINTS = {
    "Awaiting allocation": "They cannot continue with this group but may join another in the next 12 weeks "
                           "at the point they reached",
    "Deferred": "They will come back to the programme later",
    "Suitable but not ready": "They are suitable but not ready to take part yet",
    "Withdrawn": "They will not continue with the programme (closes the referral)",
    "Breach": "Breach of the order or licence (closes the referral)",
    "Recall": "Recalled to prison (closes the referral)",
    "Return to court": "Returned to court (closes the referral)",
}


def now_utc() -> datetime:
    """The service clock's "now" as a UTC instant (tests move it with clock.freeze)."""
    return clock.now_local().replace(tzinfo=clock.LONDON).astimezone(UTC)


def active_membership(referral: Referral) -> Membership | None:
    return db.session.scalar(select(Membership).where(Membership.referral_id == referral.id,
                                                      Membership.left_at.is_(None)))


@dataclass(frozen=True)
class Allocated:
    membership: Membership
    sessions: int  # future sessions the person now attends (0 before the group starts)


def allocate(actor: User, group: Group, referral: Referral) -> Allocated:
    """Put a person in a group. Before the group starts they get every session when it is generated; after,
    they attend its future sessions only, each with a new nDelius appointment. Every page allocates through
    here, so the group must fit them (joining.refusal) and be at their point of the programme
    (bus_stop.place_refusal). Someone joining more than 12 weeks after leaving a group restarts the programme."""
    if actor.role != "admin" and group.region_id != actor.region_id:
        raise ServiceError("You can only allocate people to groups in your region", "group_id")
    # Serialise allocations to one group, so two people cannot both take the last place.
    db.session.execute(select(Group.id).where(Group.id == group.id).with_for_update())
    current = active_membership(referral)
    if current is not None:
        where = "this group" if current.group_id == group.id else f"group {current.group.code}"
        raise ServiceError(f"{referral.person_name} is already in {where}. Remove them from it first.",
                           "referral_id")
    reason = refusal(group, referral)
    if reason:
        raise ServiceError(reason, "referral_id")
    if group.started_at is None and active_operation(group.id, ("generate",)):
        raise ServiceError(f"Group {group.code}'s schedule is being worked out. Try again when it has finished.",
                           "referral_id")
    refuse_while_busy(group.id, "referral_id")  # before the point it is at is read from a schedule on the move
    reason, position = bus_stop.place_refusal(group, referral)
    if reason:
        raise ServiceError(reason, "referral_id")

    now = now_utc()
    before = {"status": referral.status}
    restarts = position.restarts and position.last_membership is not None
    membership = Membership(group=group, referral=referral, joined_at=now, added_by_id=actor.id,
                            restarts_programme=restarts)
    db.session.add(membership)
    try:
        db.session.flush()
    except IntegrityError:  # someone else allocated them a moment ago (one active membership per referral)
        db.session.rollback()
        raise ServiceError(f"{referral.person_name} has just been allocated to another group", "referral_id") from None

    if restarts:
        progress.restart(referral, group.template_id)
    sessions = future_sessions(group) if group.started_at is not None else []
    new_attendees, revived = _attend(sessions, referral, membership)
    outbox.appointments_created(new_attendees)
    for appointment in revived:
        outbox.appointment_changed(appointment, "create")
    referral.status = "Scheduled"
    audit.record(actor, "membership.allocated", membership, group_id=group.id, before=before, after={
        "referral_id": referral.id, "crn": referral.crn, "group": group.code, "status": referral.status,
        "future_sessions": len(sessions),
        "first_session": sessions[0].starts_at.isoformat() if sessions else None,
        "restarts_programme": restarts,
    })
    db.session.commit()
    return Allocated(membership, len(sessions))


def _attend(sessions: list[Session], referral: Referral,
            membership: Membership) -> tuple[list[Attendee], list[NDeliusAppointment]]:
    """Attendee rows for these sessions. Someone who left this same group and comes back gets their old
    (removed) rows back, and their appointments are created in nDelius again."""
    existing = {a.session_id: a for a in db.session.scalars(
        select(Attendee).where(Attendee.referral_id == referral.id,
                               Attendee.session_id.in_([s.id for s in sessions]))
    )} if sessions else {}
    new, revived = [], []
    for session in sessions:
        old = existing.get(session.id)
        if old is None:
            attendee = Attendee(session=session, referral_id=referral.id, membership=membership)
            db.session.add(attendee)
            new.append(attendee)
            continue
        old.removed_at = None
        old.membership = membership
        appointment = db.session.scalar(select(NDeliusAppointment).filter_by(attendee_id=old.id))
        if appointment is None:
            new.append(old)
        else:
            revived.append(appointment)
    db.session.flush()
    return new, revived


@dataclass(frozen=True)
class Removed:
    sessions: int  # future sessions they no longer attend
    cancelled: int  # future catch-ups / one-to-ones that had nobody else and were cancelled


def remove(actor: User, membership: Membership, *, reason: str, new_status: str) -> Removed:
    """Take a person out of a group: the membership ends (kept), their future appointments are deleted in
    nDelius, and their referral gets the status chosen. Past sessions and attendance stay as they were."""
    group, referral = membership.group, membership.referral
    if actor.role != "admin" and group.region_id != actor.region_id:
        raise ServiceError("You can only remove people from groups in your region")
    if membership.left_at is not None:
        raise ServiceError(f"{referral.person_name} has already left group {group.code}")
    if not reason.strip():
        raise ServiceError("Enter why they are leaving the group", "reason")
    if new_status not in REMOVAL_STATUSES:
        raise ServiceError("Choose their new status", "new_status")
    if group.started_at is None and active_operation(group.id, ("generate",)):
        raise ServiceError(f"Group {group.code}'s schedule is being worked out. Try again when it has finished.")
    refuse_while_busy(group.id)

    now = now_utc()
    before = {"status": referral.status}
    membership.left_at = max(now, membership.joined_at)
    membership.left_reason = reason.strip()
    membership.left_status = new_status
    membership.removed_by_id = actor.id

    leaving = list(db.session.scalars(
        select(Attendee).join(Session, Session.id == Attendee.session_id)
        .where(Session.group_id == group.id, Attendee.referral_id == referral.id, Attendee.removed_at.is_(None),
               Session.starts_at > clock.now_local())
    ))
    for attendee in leaving:
        attendee.removed_at = now
    appointments = list(db.session.scalars(
        select(NDeliusAppointment).where(NDeliusAppointment.attendee_id.in_([a.id for a in leaving]),
                                         NDeliusAppointment.sync_state != "deleted")
    )) if leaving else []
    for appointment in appointments:
        outbox.appointment_changed(appointment, "delete")
    db.session.flush()
    cancelled = _cancel_empty_individual_sessions({a.session_id for a in leaving})
    referral.status = new_status
    audit.record(actor, "membership.removed", membership, group_id=group.id, before=before, after={
        "referral_id": referral.id, "crn": referral.crn, "group": group.code, "status": new_status,
        "reason": membership.left_reason, "future_sessions_left": len(leaving),
        "appointments_deleted": len(appointments), "sessions_cancelled": cancelled,
    })
    db.session.commit()
    return Removed(len(leaving), len(cancelled))


def _cancel_empty_individual_sessions(session_ids: set[int]) -> list[int]:
    """A future catch-up or one-to-one booked for people who have all left has nobody to see: cancel it."""
    if not session_ids:
        return []
    still_expected = select(Attendee.id).where(Attendee.session_id == Session.id, Attendee.removed_at.is_(None))
    empty = list(db.session.scalars(
        select(Session).where(Session.id.in_(session_ids), Session.kind.in_(("catch_up", "one_to_one")),
                              Session.status == "scheduled", ~still_expected.exists())
    ))
    for session in empty:
        session.status = "cancelled"
    return [s.id for s in empty]


def group_membership(group: Group, membership_id: int) -> Membership | None:
    """One membership of this group (None for another group's, or none)."""
    membership = db.session.get(Membership, membership_id)
    return membership if membership is not None and membership.group_id == group.id else None


def sessions_summary(membership: Membership) -> dict[str, int]:
    """How many of the group's sessions the person has had, and how many are still to come."""
    now = clock.now_local()
    future = func.coalesce(func.sum(case((Session.starts_at > now, 1), else_=0)), 0)
    total, upcoming = db.session.execute(
        select(func.count(Attendee.id), future).join(Session, Session.id == Attendee.session_id)
        .where(Attendee.referral_id == membership.referral_id, Session.group_id == membership.group_id,
               Attendee.removed_at.is_(None), Session.status == "scheduled")
    ).one()
    return {"past_sessions": total - upcoming, "future_sessions": upcoming}
