"""Editing a group after it was created, and after it started (issue 15.1): code, cohort, sex, learning-disability
flag, delivery location (name and nDelius office code) and treatment manager.

One transaction: the change, its audit event and the nDelius outbox rows commit together. The rules:
- the code stays unique in the region;
- the members must still fit: a new sex, cohort or LDC flag that a current member does not match is refused,
  naming them (the same matching as allocation, ``app.services.joining``);
- the treatment manager is one of the region's treatment managers;
- a new delivery location applies to the sessions still to come: their location changes and, when the nDelius
  office code changes, each of their appointments is updated in nDelius. Sessions already past keep where they
  happened (their own office code is kept on the session);
- while the schedule is being generated or rescheduled, a change that touches sessions is refused
  (``schedule_guard``);
- two people editing at once: the second save is refused if the group changed since their page was opened.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Attendee, Group, NDeliusAppointment, Session, User
from app.services import audit, outbox
from app.services.errors import ServiceError
from app.services.schedule_guard import refuse_while_busy

LABELS = {  # as they read in a sentence ("Group BC1 saved: sex and delivery location changed.")
    "code": "group code", "cohort": "cohort", "sex": "sex", "learning_disability": "LDC setting",
    "delivery_location": "delivery location", "location_code": "nDelius office location code",
    "treatment_manager": "treatment manager",
}
STALE = ("Someone else changed this group while you were editing it. Check its details below and make your "
         "change again.")


@dataclass(frozen=True)
class GroupChanges:
    code: str
    cohort: str
    sex: str
    learning_disability: bool
    delivery_location: str
    location_code: str | None
    treatment_manager_id: int | None


@dataclass(frozen=True)
class Edited:
    changed: list[str] = field(default_factory=list)  # labels of the fields that changed
    sessions_moved: int = 0  # future sessions given the new location
    appointments_updated: int = 0


def treatment_managers(region_id: int) -> list[User]:
    return list(db.session.scalars(
        select(User).where(User.region_id == region_id, User.role == "treatment_manager",
                           User.active.is_(True))
        .order_by(User.name)))


def names_in_words(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _are(names: list[str]) -> str:
    return "is" if len(names) == 1 else "are"


def member_refusals(group: Group, data: GroupChanges) -> list[tuple[str, str]]:
    """(field, why) for each new matching rule a current member would not meet."""
    members = [m.referral for m in group.active_memberships]
    refusals: list[tuple[str, str]] = []
    if data.sex != group.sex and data.sex != "mixed":
        other = sorted(r.person_name for r in members if r.sex != data.sex)
        if other:
            theirs = "female" if data.sex == "male" else "male"
            why = (f"The group cannot become a {data.sex} group: {names_in_words(other)} {_are(other)} {theirs}. "
                   f"Remove them from the group first, or keep it {group.sex}.")
            refusals.append(("sex", why))
    if data.cohort != group.cohort:
        other = sorted(r.person_name for r in members if r.cohort != data.cohort)
        if other:
            why = (f"The group cannot be for the {data.cohort} offence cohort: {names_in_words(other)} "
                   f"{_are(other)} in the {group.cohort} offence cohort. Remove them from the group first, or keep "
                   f"its cohort.")
            refusals.append(("cohort", why))
    if bool(data.learning_disability) != bool(group.learning_disability):
        other = sorted(r.person_name for r in members
                       if bool(r.learning_disability) != bool(data.learning_disability))
        if other:
            one = len(other) == 1
            if data.learning_disability:
                what, need = "become an LDC group", "does not need one" if one else "do not need one"
            else:
                what, need = "stop being an LDC group", "needs one" if one else "need one"
            why = (f"The group cannot {what}: {names_in_words(other)} {need}. Remove them from the group first, "
                   f"or keep the LDC setting.")
            refusals.append(("learning_disability", why))
    return refusals


def edit_group(actor: User, group: Group, data: GroupChanges, *, seen_version: int | None = None) -> Edited:
    if actor.role != "admin" and group.region_id != actor.region_id:
        raise ServiceError("You can only change groups in your region")
    if group.closed_at is not None:
        raise ServiceError(f"Group {group.code} is closed: it can no longer be changed", "code")
    if seen_version is not None and seen_version != group.version:
        raise ServiceError(STALE, "code")
    code = data.code.strip()
    location = data.delivery_location.strip()
    location_code = (data.location_code or "").strip().upper() or None
    if not code:
        raise ServiceError("Enter a group code", "code")
    if not location:
        raise ServiceError("Enter where the group meets", "delivery_location")
    if code != group.code and db.session.scalar(
            select(Group.id).where(Group.region_id == group.region_id, Group.code == code, Group.id != group.id)):
        raise ServiceError(f"A group with code {code} already exists in your region", "code")
    for field_name, why in member_refusals(group, data):
        raise ServiceError(why, field_name)
    manager = None
    if data.treatment_manager_id is not None:
        manager = db.session.get(User, data.treatment_manager_id)
        if manager is None or manager.role != "treatment_manager" or manager.region_id != group.region_id:
            raise ServiceError("Choose a treatment manager from the group's region", "treatment_manager_id")

    old_manager = group.treatment_manager
    before = {"code": group.code, "cohort": group.cohort, "sex": group.sex,
              "learning_disability": bool(group.learning_disability), "delivery_location": group.delivery_location,
              "location_code": group.location_code,
              "treatment_manager": old_manager.name if old_manager else None}
    after = {"code": code, "cohort": data.cohort, "sex": data.sex,
             "learning_disability": bool(data.learning_disability), "delivery_location": location,
             "location_code": location_code, "treatment_manager": manager.name if manager else None}
    changed = [k for k in before if before[k] != after[k]]
    if not changed:
        return Edited()

    moves_location = "delivery_location" in changed or "location_code" in changed
    if moves_location and group.started_at is not None:
        refuse_while_busy(group.id, "delivery_location")
    moved, updated = (_move_location(group, location, location_code) if moves_location and group.started_at
                      else (0, 0))
    group.code, group.cohort, group.sex = code, data.cohort, data.sex
    group.learning_disability = bool(data.learning_disability)
    group.delivery_location, group.location_code = location, location_code
    group.treatment_manager_id = manager.id if manager else None
    audit.record(actor, "group.edited", group, group_id=group.id,
                 before={k: before[k] for k in changed},
                 after={**{k: after[k] for k in changed},
                        **({"future_sessions_moved": moved, "appointments_updated": updated}
                           if moves_location and group.started_at else {})})
    db.session.commit()
    return Edited([LABELS[k] for k in changed], moved, updated)


def _move_location(group: Group, location: str, location_code: str | None) -> tuple[int, int]:
    """Sessions to come take the new location; those already past keep the old one (pinned on the session)."""
    now = clock.now_local()
    old_name, old_code = group.delivery_location, group.location_code
    sessions = list(db.session.scalars(select(Session).where(Session.group_id == group.id)))
    future: list[Session] = []
    for session in sessions:
        if session.starts_at > now and session.status == "scheduled":
            if session.location in (None, old_name):
                session.location = location
            if session.location_code is None or session.location_code == (old_code or ""):
                session.location_code = None  # follows the group's new code
                future.append(session)
        elif session.location_code is None:
            session.location_code = old_code or ""
            if session.location is None:
                session.location = old_name
    appointments: list[NDeliusAppointment] = []
    if future and (location_code or None) != (old_code or None):
        appointments = list(db.session.scalars(
            select(NDeliusAppointment).join(Attendee, Attendee.id == NDeliusAppointment.attendee_id)
            .where(Attendee.session_id.in_([s.id for s in future]), Attendee.removed_at.is_(None),
                   NDeliusAppointment.sync_state != "deleted")))
        for appointment in appointments:
            outbox.appointment_changed(appointment, "update")
    return len(future), len(appointments)
