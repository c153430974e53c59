"""Writing a relay batch back: rows done, back in the queue with a backoff, or needing attention; every lease
the batch held released."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.integrations.ndelius import backoff_delay
from app.models import Attendee, NDeliusAppointment, OutboxItem
from app.services import audit
from app.services.ndelius_plan import Attempt

if TYPE_CHECKING:
    from app.services.ndelius_sync import Lease, Relay


def finish(relay: Relay, lease: Lease, attempts: list[Attempt]) -> None:
    """Write what happened (rows done / back in the queue / needing attention) and release the lease - for
    the appointments still leased to us only: the fence and the release are one UPDATE, whose row locks (or
    SQLite's write lock) keep the rest of this transaction ours. An appointment another relay has taken over
    keeps its rows as they are: its new holder searches before it sends anything."""
    now = relay.now()
    held = set(db.session.execute(
        update(NDeliusAppointment).where(NDeliusAppointment.id.in_(lease.ids),
                                         NDeliusAppointment.claimed_by == lease.token)
        .values(claimed_by=None, claimed_until=None).returning(NDeliusAppointment.id)
        .execution_options(synchronize_session=False)).scalars())
    for attempt in attempts:
        if attempt.appointment_id not in held:
            attempt.outcome = "lost"
    mine = [a for a in attempts if a.appointment_id in held]
    if not mine:
        db.session.commit()
        return
    appointments = {a.id: a for a in db.session.scalars(
        select(NDeliusAppointment).where(NDeliusAppointment.id.in_([a.appointment_id for a in mine])).options(
            joinedload(NDeliusAppointment.attendee).joinedload(Attendee.session))
        .execution_options(populate_existing=True))}
    rows = {r.id: r for r in db.session.scalars(select(OutboxItem).where(
        OutboxItem.id.in_([i for a in mine for i in a.row_ids])))}
    others: dict[int, list[OutboxItem]] = defaultdict(list)  # rows this batch did not plan for
    for row in db.session.scalars(select(OutboxItem).where(
            OutboxItem.appointment_id.in_(list(appointments)),
            OutboxItem.status.in_(("pending", "needs_attention")))):
        if row.id not in rows:
            others[row.appointment_id].append(row)
    for attempt in mine:
        _finish_one(relay, appointments[attempt.appointment_id], attempt,
                    [rows[i] for i in attempt.row_ids if i in rows], others[attempt.appointment_id], now)
    db.session.commit()


def _finish_one(relay: Relay, appointment: NDeliusAppointment, attempt: Attempt, rows: list[OutboxItem],
                others: list[OutboxItem], now: datetime) -> None:
    appointment.remote_state = attempt.remote
    if attempt.outcome in ("deferred", "pending"):
        return  # not sent (out of time): due again at once, no attempt counted
    if attempt.outcome == "retry":
        for row in rows:
            row.attempts += 1
            delay = backoff_delay(row.attempts - 1, base=relay.retry_base, cap=relay.retry_cap)
            row.next_attempt_at = now + timedelta(seconds=max(delay, attempt.retry_after or 0))
            row.last_error = attempt.error
        appointment.last_error = attempt.error
        return
    if attempt.outcome == "attention":
        if "invalid requirement ids" in (attempt.error or "").lower():  # terminated in nDelius (issue 14.3)
            from app.services import case_data

            case_data.mark_terminated(appointment.attendee.referral, case_data.REFUSED_REASON)
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

