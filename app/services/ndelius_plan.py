"""Planning a relay batch: what to send for each claimed appointment, as our records stand now (the rules are
in ``app.services.ndelius_sync``). One transaction per batch; its first statement renews the batch's lease
*fenced by the lease token* (and so locks the rows on PostgreSQL), and the same transaction records every
create (and every update carrying notes) as "uncertain" before it goes out: the recovery point for a lost
answer. An appointment whose lease another relay has taken is left out."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.interfaces import LoaderOption

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
    from app.services.ndelius_sync import Lease, Relay

PAST_WITHOUT_OUTCOME = ("The session has happened: record attendance so nDelius gets an outcome "
                        "(it does not take an appointment in the past without one)")
NO_LEAD = "The session has no lead facilitator: nDelius needs a staff member for the appointment"
# A session we cancelled (issue 15.2): an appointment nDelius already has keeps its contact with this outcome,
# "Rescheduled - Service Request" (the session's template is still to be done: a catch-up or the cascade
# replaces it); one nDelius never had is not created.
CANCELLED_OUTCOME = "RSSR"


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
    requirement_id: int | None = None
    licence_condition_id: int | None = None
    payload: dict[str, Any] | None = None
    notes: str | None = None  # notes to send (changed since last sent)
    current_notes: str | None = None
    past_without_outcome: bool = False
    search_dates: list[str] = field(default_factory=list)
    write: str | None = None  # "create" | "update" once decided
    remote_before_write: str | None = None
    notes_sent: bool = False
    # pending (not decided yet) | created | updated | deleted | unchanged | retry | attention
    # | deferred (not sent: out of time; nothing happened) | lost (another relay holds the lease now)
    outcome: str = "pending"
    error: str | None = None
    retry_after: float | None = None

    @property
    def kind(self) -> str | None:
        """The call this attempt still needs: "look" (search first), "create", "update", "delete" or None."""
        if self.outcome != "pending":
            return None
        if not self.wanted:
            return None if self.remote in ("absent", "deleted") else "delete"
        if self.write is None:
            return "look" if self.remote == "uncertain" else None
        return self.write


def _with_everything() -> LoaderOption:
    return joinedload(NDeliusAppointment.attendee).options(
        joinedload(Attendee.attendance), joinedload(Attendee.referral),
        joinedload(Attendee.session).options(
            selectinload(Session.facilitators).joinedload(SessionFacilitator.facilitator),
            joinedload(Session.session_template).joinedload(SessionTemplate.module),
            joinedload(Session.group).selectinload(Group.facilitators).joinedload(GroupFacilitator.facilitator)))


def plan(relay: Relay, lease: Lease) -> list[Attempt]:
    """What to send for each claimed appointment still leased to us, as our records stand now. Creates (and
    updates carrying notes) are committed as "uncertain" before they go out: the recovery point for a lost
    answer."""
    held = set(db.session.execute(
        update(NDeliusAppointment).where(NDeliusAppointment.id.in_(lease.ids),
                                         NDeliusAppointment.claimed_by == lease.token)
        .values(claimed_until=relay.now() + relay.lease_time).returning(NDeliusAppointment.id)
        .execution_options(synchronize_session=False)).scalars())
    appointment_ids = sorted(held)
    appointments = db.session.scalars(
        select(NDeliusAppointment).where(NDeliusAppointment.id.in_(appointment_ids))
        .order_by(NDeliusAppointment.id).options(_with_everything())).unique().all() if held else []
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
        wanted=(rows[-1].action != "delete" and getattr(attendee, "removed_at", None) is None
                and (session.status != "cancelled" or appointment.remote_state in ("present", "uncertain"))),
        requirement_id=attendee.referral.requirement_id,
        licence_condition_id=attendee.referral.licence_condition_id,
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
    from app.services.case_data import appointments_stopped

    stopped = appointments_stopped(referral)
    if stopped:
        raise NeedsPerson(stopped)
    lead = session.lead_facilitator or session.group.lead_facilitator
    if lead is None:
        raise NeedsPerson(NO_LEAD)
    attendance = attendee.attendance
    outcome = CANCELLED_OUTCOME if session.status == "cancelled" else attendance.outcome if attendance else None
    return expected_payload(
        reference=appointment.reference, requirement_id=referral.requirement_id,
        licence_condition_id=referral.licence_condition_id, starts_at=session.starts_at,
        ends_at=session.ends_at, module_role=session.session_template.module.role,
        staff_code=lead.staff_code, team_code=lead.team_code,
        location_code=session.office_code, outcome_code=outcome)


def expected_payload(*, reference: Any, requirement_id: int | None, licence_condition_id: int | None,
                     starts_at: datetime, ends_at: datetime, module_role: str | None, staff_code: str | None,
                     team_code: str | None, location_code: str | None, outcome_code: str | None) -> dict[str, Any]:
    """The create item from plain values (reconciliation reads them as rows, the relay from its objects)."""
    try:
        return build_appointment(
            reference_uuid=reference, requirement_id=requirement_id, licence_condition_id=licence_condition_id,
            starts_at=starts_at, ends_at=ends_at, module_role=module_role, staff_code=staff_code,  # type: ignore[arg-type]
            team_code=team_code, location_code=location_code, outcome_code=outcome_code)  # type: ignore[arg-type]
    except ValueError as exc:
        raise NeedsPerson(f"Cannot be sent to nDelius: {exc}") from exc


def _write_ahead(attempt: Attempt, write: str) -> None:
    attempt.write, attempt.remote_before_write, attempt.remote = write, attempt.remote, "uncertain"


def with_notes(attempt: Attempt) -> dict[str, Any]:
    payload = dict(attempt.payload or {})
    if attempt.notes:
        payload["notes"] = attempt.notes
    return payload

