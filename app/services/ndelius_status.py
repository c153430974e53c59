"""What people see of the nDelius sync, and what they can do about it: backlog, failures (retry),
disagreements found by reconciliation (send ours again, dismiss), and the sync state of sessions and attendees
for other pages. Everything is region-scoped like the rest of the service (admins see all regions)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, and_, case, exists, func, or_, select, true

from app.extensions import db
from app.models import (
    Attendance,
    Attendee,
    Group,
    NDeliusAppointment,
    NDeliusDisagreement,
    NDeliusReconciliation,
    OutboxItem,
    Referral,
    Session,
    SessionTemplate,
    User,
)
from app.models.base import utcnow
from app.services import audit, outbox
from app.services.errors import ServiceError
from app.services.groups import region_filter
from app.services.ndelius_plan import PAST_WITHOUT_OUTCOME


@dataclass(frozen=True)
class Backlog:
    waiting: int
    retrying: int
    needs_attention: int
    in_progress: int
    disagreements: int
    oldest_waiting: datetime | None


@dataclass(frozen=True)
class Row:
    """One appointment as the integration page lists it."""

    appointment_id: int
    person: str
    crn: str
    group_id: int
    group_code: str
    session: str
    starts_at: datetime
    action: str
    reason: str | None
    since: datetime | None
    attempts: int = 0
    next_attempt_at: datetime | None = None
    session_id: int | None = None
    attendee_id: int | None = None

    @property
    def needs_outcome(self) -> bool:
        """Only recording the outcome fixes it: no Retry, a link to the register instead."""
        return self.reason == PAST_WITHOUT_OUTCOME


def _scoped(query: Select, user: User, region_id: int | None = None) -> Select:
    """`region_id`: the region an admin chose (app.web.region_choice); ignored for everyone else."""
    return (query.join(Attendee, Attendee.id == NDeliusAppointment.attendee_id)
            .join(Session, Session.id == Attendee.session_id).join(Group, Group.id == Session.group_id)
            .where(region_filter(user, region_id)))


def _disagreement_scope(user: User, region_id: int | None = None) -> ColumnElement[bool]:
    if user.role != "admin":
        return NDeliusDisagreement.region_id == user.region_id
    return true() if region_id is None else NDeliusDisagreement.region_id == region_id


def backlog(user: User, now: datetime | None = None, region_id: int | None = None) -> Backlog:
    now = now or utcnow()
    pending = exists().where(OutboxItem.appointment_id == NDeliusAppointment.id, OutboxItem.status == "pending")
    retrying = exists().where(OutboxItem.appointment_id == NDeliusAppointment.id, OutboxItem.status == "pending",
                              OutboxItem.attempts > 0)
    counts = db.session.execute(_scoped(select(
        func.count(case((pending, 1))),
        func.count(case((retrying, 1))),
        func.count(case((NDeliusAppointment.sync_state == "needs_attention", 1))),
        func.count(case((NDeliusAppointment.claimed_until > now, 1))),
    ).select_from(NDeliusAppointment), user, region_id)).one()
    oldest = db.session.scalar(_scoped(
        select(func.min(OutboxItem.created_at)).select_from(NDeliusAppointment)
        .join(OutboxItem, and_(OutboxItem.appointment_id == NDeliusAppointment.id, OutboxItem.status == "pending")),
        user, region_id))
    disagreements = db.session.scalar(select(func.count(NDeliusDisagreement.id)).where(
        NDeliusDisagreement.resolved_at.is_(None), _disagreement_scope(user, region_id)))
    return Backlog(waiting=counts[0], retrying=counts[1], needs_attention=counts[2], in_progress=counts[3],
                   disagreements=disagreements or 0, oldest_waiting=oldest)


def _rows(user: User, status: str, where: ColumnElement[bool], order: tuple[SQLColumnExpression[Any], ...],
          limit: int, region_id: int | None = None) -> list[Row]:
    latest = (select(OutboxItem.appointment_id, func.max(OutboxItem.id).label("row_id"))
              .where(OutboxItem.status == status).group_by(OutboxItem.appointment_id).subquery())
    query = _scoped(
        select(NDeliusAppointment, OutboxItem, Session, SessionTemplate.name, Group.code, Referral)
        .select_from(NDeliusAppointment)
        .join(latest, latest.c.appointment_id == NDeliusAppointment.id)
        .join(OutboxItem, OutboxItem.id == latest.c.row_id), user, region_id,
    ).join(SessionTemplate, SessionTemplate.id == Session.session_template_id).join(
        Referral, Referral.id == Attendee.referral_id).where(where).order_by(*order).limit(limit)
    return [
        Row(appointment_id=a.id, person=r.person_name, crn=r.crn, group_id=s.group_id, group_code=code,
            session=name, starts_at=s.starts_at, action=o.action, reason=o.last_error or a.last_error,
            since=o.processed_at or o.created_at, attempts=o.attempts, next_attempt_at=o.next_attempt_at,
            session_id=s.id, attendee_id=a.attendee_id)
        for a, o, s, name, code, r in db.session.execute(query)
    ]


def failures(user: User, limit: int = 100, region_id: int | None = None) -> list[Row]:
    """Appointments nDelius refused (or we could not send), newest first, with the reason."""
    return _rows(user, "needs_attention", NDeliusAppointment.sync_state == "needs_attention",
                 (OutboxItem.processed_at.desc(), OutboxItem.id.desc()), limit, region_id)


def retrying(user: User, limit: int = 50, region_id: int | None = None) -> list[Row]:
    """Appointments whose last attempt failed for a passing reason (nDelius down, a timeout): retried."""
    return _rows(user, "pending", OutboxItem.attempts > 0, (OutboxItem.next_attempt_at, OutboxItem.id), limit,
                 region_id)


def disagreements(user: User, limit: int = 200,
                  region_id: int | None = None) -> list[tuple[NDeliusDisagreement, Row | None]]:
    found = list(db.session.scalars(
        select(NDeliusDisagreement).where(NDeliusDisagreement.resolved_at.is_(None),
                                          _disagreement_scope(user, region_id))
        .order_by(NDeliusDisagreement.first_seen_at.desc(), NDeliusDisagreement.id).limit(limit)))
    ids = {d.appointment_id for d in found if d.appointment_id is not None}
    rows: dict[int, Row] = {}
    if ids:
        query = (select(NDeliusAppointment, Session, SessionTemplate.name, Group.code, Referral)
                 .join(Attendee, Attendee.id == NDeliusAppointment.attendee_id)
                 .join(Session, Session.id == Attendee.session_id).join(Group, Group.id == Session.group_id)
                 .join(SessionTemplate, SessionTemplate.id == Session.session_template_id)
                 .join(Referral, Referral.id == Attendee.referral_id).where(NDeliusAppointment.id.in_(ids)))
        for a, s, name, code, r in db.session.execute(query):
            rows[a.id] = Row(appointment_id=a.id, person=r.person_name, crn=r.crn, group_id=s.group_id,
                             group_code=code, session=name, starts_at=s.starts_at, action="", reason=None,
                             since=a.last_synced_at)
    return [(d, rows.get(d.appointment_id) if d.appointment_id else None) for d in found]


def last_reconciliation(user: User | None = None, region_id: int | None = None) -> NDeliusReconciliation | None:
    """The last finished run that covered the user's region (a national run, or one of that region); an admin's:
    any run, or one that covered the region they chose."""
    query = select(NDeliusReconciliation).where(NDeliusReconciliation.finished_at.is_not(None))
    region = user.region_id if user is not None and user.role != "admin" else region_id
    if user is not None and region is not None:
        query = query.where(or_(NDeliusReconciliation.region_id.is_(None),
                                NDeliusReconciliation.region_id == region))
    return db.session.scalar(query.order_by(NDeliusReconciliation.id.desc()).limit(1))


# --- sync state for other pages -------------------------------------------------------------------------------


def _state_columns() -> tuple[ColumnElement[int], ...]:
    waiting_row = exists().where(OutboxItem.appointment_id == NDeliusAppointment.id, OutboxItem.status == "pending")
    attention = NDeliusAppointment.sync_state == "needs_attention"
    for_outcome = NDeliusAppointment.last_error == PAST_WITHOUT_OUTCOME
    return (
        func.max(case((and_(attention, or_(NDeliusAppointment.last_error.is_(None), ~for_outcome)), 1), else_=0)),
        func.max(case((and_(attention, for_outcome), 1), else_=0)),
        func.max(case((or_(NDeliusAppointment.sync_state == "pending", waiting_row), 1), else_=0)),
        func.max(case((NDeliusAppointment.sync_state == "synced", 1), else_=0)),
    )


def _state(attention: int, outcome: int, waiting: int, synced: int) -> str:
    """Furthest behind first: an nDelius problem, then an outcome to record, then waiting, then sent."""
    if attention:
        return "needs_attention"
    if outcome:
        return "needs_outcome"
    if waiting:
        return "pending"
    return "synced" if synced else "deleted"


def shown_state(sync_state: str | None, last_error: str | None, *, past: bool, recorded: bool) -> str | None:
    """One appointment's state as a page shows it: a session that is over with no outcome recorded says
    what to do ("needs_outcome") whatever nDelius holds, since only the outcome completes it there."""
    if sync_state is None:
        return None
    if sync_state == "needs_attention":
        return "needs_outcome" if last_error == PAST_WITHOUT_OUTCOME else "needs_attention"
    if past and not recorded and sync_state != "deleted":
        return "needs_outcome"
    return sync_state


def page_states(session_ids: list[int] | set[int], now_local: datetime) -> dict[int, str]:
    """{session id: shown state} for the sessions a page lists (schedule, calendar), in one query: like
    session_sync_states, and a session that has started with anyone expected and no outcome recorded for
    them needs its outcomes once it is over."""
    if not session_ids:
        return {}
    states = session_sync_states(session_ids)
    unrecorded = set(db.session.scalars(
        select(Attendee.session_id).join(Session, Session.id == Attendee.session_id)
        .outerjoin(Attendance, Attendance.attendee_id == Attendee.id)
        .where(Attendee.session_id.in_(list(session_ids)), Session.ends_at <= now_local,
               Session.status != "cancelled", Attendee.removed_at.is_(None),
               Attendance.outcome.is_(None))
        .distinct()))
    for session_id in unrecorded:
        if states.get(session_id) != "needs_attention" and session_id in states:
            states[session_id] = "needs_outcome"
    return states


def session_sync_states(session_ids: list[int] | set[int]) -> dict[int, str]:
    """{session id: "synced" | "pending" | "needs_attention" | "deleted"} in one query; sessions with no
    nDelius appointments are left out. A session is as far behind as its furthest-behind attendee."""
    if not session_ids:
        return {}
    rows = db.session.execute(
        select(Attendee.session_id, *_state_columns()).join(Attendee, Attendee.id == NDeliusAppointment.attendee_id)
        .where(Attendee.session_id.in_(list(session_ids))).group_by(Attendee.session_id))
    return {session_id: _state(*flags) for session_id, *flags in rows}


def attendee_sync_states(attendee_ids: list[int] | set[int]) -> dict[int, str]:
    """{attendee id: sync state} in one query (e.g. for the rows of an attendance register)."""
    if not attendee_ids:
        return {}
    rows = db.session.execute(
        select(NDeliusAppointment.attendee_id, *_state_columns())
        .where(NDeliusAppointment.attendee_id.in_(list(attendee_ids))).group_by(NDeliusAppointment.attendee_id))
    return {attendee_id: _state(*flags) for attendee_id, *flags in rows}


def register_states(session_id: int, now_local: datetime) -> dict[int, str]:
    """{attendee id: shown state} for one register's rows, in one query."""
    rows = db.session.execute(
        select(Attendee.id, NDeliusAppointment.sync_state, NDeliusAppointment.last_error, Session.ends_at,
               Attendance.outcome)
        .join(NDeliusAppointment, NDeliusAppointment.attendee_id == Attendee.id)
        .join(Session, Session.id == Attendee.session_id)
        .outerjoin(Attendance, Attendance.attendee_id == Attendee.id)
        .where(Attendee.session_id == session_id, Attendee.removed_at.is_(None)))
    shown = {}
    for attendee_id, state, error, ends_at, outcome in rows:
        value = shown_state(state, error, past=ends_at <= now_local, recorded=outcome is not None)
        if value is not None:
            shown[attendee_id] = value
    return shown


# --- what a person can do -------------------------------------------------------------------------------------


def _appointment(user: User, appointment_id: int) -> NDeliusAppointment | None:
    return db.session.scalar(_scoped(select(NDeliusAppointment), user).where(NDeliusAppointment.id == appointment_id))


def retry(actor: User, appointment_id: int) -> NDeliusAppointment | None:
    """Put a refused appointment back in the queue (after someone fixed the cause). None: not theirs to see."""
    appointment = _appointment(actor, appointment_id)
    if appointment is None:
        return None
    rows = list(db.session.scalars(select(OutboxItem).where(
        OutboxItem.appointment_id == appointment.id, OutboxItem.status == "needs_attention")))
    if not rows and appointment.sync_state != "needs_attention":
        return appointment
    now = utcnow()
    for row in rows:
        row.status, row.attempts, row.next_attempt_at = "pending", 0, now
    if not rows:
        db.session.add(OutboxItem(appointment=appointment, action="update"))
    before = {"sync_state": appointment.sync_state, "reason": appointment.last_error}
    appointment.sync_state = "pending"
    audit.record(actor, "ndelius.retry", appointment, group_id=appointment.attendee.session.group_id,
                 before=before, after={"sync_state": "pending"})
    db.session.commit()
    return appointment


def retry_all(actor: User, region_id: int | None = None) -> int:
    """Every refused appointment but those only an outcome can fix (retrying them would fail the same way)."""
    ids = list(db.session.scalars(_scoped(select(NDeliusAppointment.id), actor, region_id).where(
        NDeliusAppointment.sync_state == "needs_attention",
        or_(NDeliusAppointment.last_error.is_(None), NDeliusAppointment.last_error != PAST_WITHOUT_OUTCOME))))
    for appointment_id in ids:
        retry(actor, appointment_id)
    return len(ids)


def _disagreement(user: User, disagreement_id: int) -> NDeliusDisagreement | None:
    return db.session.scalar(select(NDeliusDisagreement).where(
        NDeliusDisagreement.id == disagreement_id, NDeliusDisagreement.resolved_at.is_(None),
        _disagreement_scope(user)))


def send_ours(actor: User, disagreement_id: int) -> NDeliusDisagreement | None:
    """Queue our version of the appointment for nDelius again; the disagreement is closed as "ours sent" (the
    next reconciliation opens it again if nDelius still differs)."""
    disagreement = _disagreement(actor, disagreement_id)
    if disagreement is None:
        return None
    appointment = disagreement.appointment
    if appointment is None:
        raise ServiceError("We hold no appointment with this reference, so there is nothing of ours to send. "
                           "Dismiss it once it has been checked in nDelius.")
    if disagreement.field == "duplicates":
        raise ServiceError("nDelius holds more than one copy of this appointment. Remove the extra copy in "
                           "nDelius, then dismiss this.")
    action = "delete" if appointment.sync_state == "deleted" else "update"
    if disagreement.field == "appointment":
        appointment.remote_state = "uncertain"  # the relay looks before it creates or deletes
    outbox.appointment_changed(appointment, action)
    _close(actor, disagreement, "ours sent")
    return disagreement


def dismiss(actor: User, disagreement_id: int) -> NDeliusDisagreement | None:
    disagreement = _disagreement(actor, disagreement_id)
    if disagreement is None:
        return None
    _close(actor, disagreement, "dismissed")
    return disagreement


def _close(actor: User, disagreement: NDeliusDisagreement, resolution: str) -> None:
    disagreement.resolved_at, disagreement.resolution = utcnow(), resolution
    audit.record(actor, f"ndelius.disagreement_{resolution.replace(' ', '_')}", disagreement,
                 before={"field": disagreement.field, "ours": disagreement.ours, "theirs": disagreement.theirs},
                 after={"resolution": resolution})
    db.session.commit()
