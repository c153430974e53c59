"""Writing a relay batch back: rows done, back in the queue with a backoff, or needing attention; every lease
the batch held released."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.integrations.ndelius import backoff_delay
from app.models import Attendee, NDeliusAppointment, OutboxItem
from app.services import audit
from app.services.ndelius_plan import Attempt

if TYPE_CHECKING:
    from app.services.ndelius_sync import Relay


def finish(relay: Relay, claimed: list[int], attempts: list[Attempt]) -> None:
    """Write what happened (rows done / back in the queue / needing attention) and release every lease."""
    now = relay.now()
    by_id = {a.appointment_id: a for a in attempts}
    appointments = {a.id: a for a in db.session.scalars(
        select(NDeliusAppointment).where(NDeliusAppointment.id.in_(claimed)).options(
            joinedload(NDeliusAppointment.attendee).joinedload(Attendee.session)))}
    rows = {r.id: r for r in db.session.scalars(select(OutboxItem).where(
        OutboxItem.id.in_([i for a in attempts for i in a.row_ids])))} if attempts else {}
    others: dict[int, list[OutboxItem]] = defaultdict(list)  # rows this batch did not plan for
    for row in db.session.scalars(select(OutboxItem).where(
            OutboxItem.appointment_id.in_(claimed), OutboxItem.status.in_(("pending", "needs_attention")))):
        if row.id not in rows:
            others[row.appointment_id].append(row)
    for appointment_id, appointment in appointments.items():
        if appointment.claimed_by == relay.token:
            appointment.claimed_by, appointment.claimed_until = None, None
        attempt = by_id.get(appointment_id)
        if attempt is not None:
            _finish_one(relay, appointment, attempt, [rows[i] for i in attempt.row_ids if i in rows],
                        others[appointment_id], now)
    db.session.commit()


def _finish_one(relay: Relay, appointment: NDeliusAppointment, attempt: Attempt, rows: list[OutboxItem],
                others: list[OutboxItem], now: datetime) -> None:
    appointment.remote_state = attempt.remote
    if attempt.outcome == "retry":
        for row in rows:
            row.attempts += 1
            delay = backoff_delay(row.attempts - 1, base=relay.retry_base, cap=relay.retry_cap)
            row.next_attempt_at = now + timedelta(seconds=max(delay, attempt.retry_after or 0))
            row.last_error = attempt.error
        appointment.last_error = attempt.error
        return
    if attempt.outcome == "attention":
        for row in rows:
            row.status, row.last_error, row.processed_at = "needs_attention", attempt.error, now
        appointment.sync_state, appointment.last_error = "needs_attention", attempt.error
        audit.record(None, "ndelius.needs_attention", appointment, group_id=appointment.attendee.session.group_id,
                     after={"reason": attempt.error, "actions": sorted({r.action for r in rows})})
        return
    newest = max(attempt.row_ids)
    for row in rows:
        row.status, row.last_error, row.processed_at = "done", None, now
    for row in others:  # earlier refusals are superseded: the appointment as it stands now was accepted
        if row.status == "needs_attention" and row.id < newest:
            row.status, row.processed_at = "done", now
    if attempt.wanted:
        appointment.sync_state = "synced"
        if attempt.payload is not None:
            appointment.last_sent = attempt.payload
        if attempt.notes_sent:
            appointment.last_sent_notes = attempt.current_notes
    else:
        appointment.sync_state = "deleted"
    appointment.last_error, appointment.last_synced_at = None, now
    if any(row.status == "pending" and row.id > newest for row in others):
        appointment.sync_state = "pending"  # changed again while this was being sent

