"""Planning a relay batch: what to send for each claimed appointment, as our records stand now (see
``app.services.ndelius_sync`` for the rules). One transaction per batch, which also records every create (and
every update carrying notes) as "uncertain" before it goes out: the recovery point for a lost answer."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from app import clock
from app.extensions import db
from app.integrations.ndelius import build_appointment
from app.models import (
    Attendee,
    Group,
    GroupFacilitator,
    NDeliusAppointment,
    OutboxItem,
    Session,
    SessionFacilitator,
    SessionTemplate,
)

if TYPE_CHECKING:
    from app.services.ndelius_sync import Relay

PAST_WITHOUT_OUTCOME = ("The session has happened: record attendance so nDelius gets an outcome "
                        "(it does not take an appointment in the past without one)")


class NeedsPerson(Exception):
    """We cannot send this change until someone acts (record attendance, fix a code...)."""


@dataclass
class Attempt:
    """One pass at one appointment: what to send, and then what happened."""

    appointment_id: int
    reference: str
    row_ids: list[int]
    remote: str
    wanted: bool
    payload: dict[str, Any] | None = None
    notes: str | None = None  # notes to send (changed since last sent)
    current_notes: str | None = None
    past_without_outcome: bool = False
    search_dates: list[str] = field(default_factory=list)
    write: str | None = None  # "create" | "update" once decided
    remote_before_write: str | None = None
    notes_sent: bool = False
    outcome: str = "retry"  # created | updated | deleted | unchanged | retry | attention
    error: str | None = None
    retry_after: float | None = None


def _with_everything():  # type: ignore[no-untyped-def]
    return joinedload(NDeliusAppointment.attendee).options(
        joinedload(Attendee.attendance), joinedload(Attendee.referral),
        joinedload(Attendee.session).options(
            selectinload(Session.facilitators).joinedload(SessionFacilitator.facilitator),
            joinedload(Session.session_template).joinedload(SessionTemplate.module),
            joinedload(Session.group).selectinload(Group.facilitators).joinedload(GroupFacilitator.facilitator)))


def plan(relay: Relay, appointment_ids: list[int]) -> list[Attempt]:
    """What to send for each claimed appointment, as our records stand now. Creates (and updates carrying
    notes) are committed as "uncertain" before they go out: the recovery point for a lost answer."""
    appointments = db.session.scalars(
        select(NDeliusAppointment).where(NDeliusAppointment.id.in_(appointment_ids),
                                         NDeliusAppointment.claimed_by == relay.token)
        .options(_with_everything())).unique().all()
    rows: dict[int, list[OutboxItem]] = defaultdict(list)
    for row in db.session.scalars(select(OutboxItem).where(
            OutboxItem.appointment_id.in_(appointment_ids), OutboxItem.status == "pending").order_by(OutboxItem.id)):
        rows[row.appointment_id].append(row)
    now_local = clock.now_local()
    attempts = [_plan_one(appointment, rows[appointment.id], now_local)
                for appointment in appointments if rows[appointment.id]]
    db.session.commit()
    return attempts


def _plan_one(appointment: NDeliusAppointment, rows: list[OutboxItem], now_local: datetime) -> Attempt:
    attendee = appointment.attendee
    session = attendee.session
    attempt = Attempt(
        appointment_id=appointment.id, reference=str(appointment.reference), row_ids=[r.id for r in rows],
        remote=appointment.remote_state,
        wanted=(rows[-1].action != "delete" and session.status != "cancelled"
                and getattr(attendee, "removed_at", None) is None),
    )
    if appointment.last_sent and appointment.last_sent.get("date"):
        attempt.search_dates.append(appointment.last_sent["date"])
    if not attempt.wanted:
        return attempt
    try:
        attempt.payload = appointment_payload(appointment)
    except NeedsPerson as exc:
        attempt.outcome, attempt.error = "attention", str(exc)
        return attempt
    notes = (attendee.attendance.notes or "").strip() if attendee.attendance else ""
    attempt.current_notes = notes or None
    if notes and notes != (appointment.last_sent_notes or ""):
        attempt.notes = notes
    attempt.past_without_outcome = session.starts_at < now_local and "outcome" not in attempt.payload
    attempt.search_dates.append(attempt.payload["date"])
    if attempt.remote in ("absent", "deleted"):
        if attempt.past_without_outcome:
            attempt.outcome, attempt.error = "attention", PAST_WITHOUT_OUTCOME
        else:
            _write_ahead(attempt, "create")
    elif attempt.remote == "present":
        if attempt.notes:
            _write_ahead(attempt, "update")  # notes are appended: never send them twice blindly
        else:
            attempt.write = "update"
    if attempt.write is not None and attempt.remote == "uncertain":
        appointment.remote_state, appointment.last_sent = "uncertain", with_notes(attempt)
    return attempt


def appointment_payload(appointment: NDeliusAppointment) -> dict[str, Any]:
    """The create item for the appointment as our records stand now (no notes: see ``plan``)."""
    attendee = appointment.attendee
    session: Session = attendee.session
    referral = attendee.referral
    lead = session.lead_facilitator or session.group.lead_facilitator
    if lead is None:
        raise NeedsPerson("The session has no lead facilitator: nDelius needs a staff member for the appointment")
    attendance = attendee.attendance
    try:
        return build_appointment(
            reference_uuid=appointment.reference, requirement_id=referral.requirement_id,
            licence_condition_id=referral.licence_condition_id, starts_at=session.starts_at,
            ends_at=session.ends_at, module_role=session.session_template.module.role,
            staff_code=lead.staff_code, team_code=lead.team_code, location_code=session.group.location_code,
            outcome_code=attendance.outcome if attendance else None,
        )
    except ValueError as exc:
        raise NeedsPerson(f"Cannot be sent to nDelius: {exc}") from exc


def _write_ahead(attempt: Attempt, write: str) -> None:
    attempt.write, attempt.remote_before_write, attempt.remote = write, attempt.remote, "uncertain"


def with_notes(attempt: Attempt) -> dict[str, Any]:
    payload = dict(attempt.payload or {})
    if attempt.notes:
        payload["notes"] = attempt.notes
    return payload

