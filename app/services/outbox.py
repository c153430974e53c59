"""Writing the nDelius outbox. Rows are added to the caller's transaction; the relay job sends them, so no web
request ever waits on nDelius.

Sent at once: whichever service writes outbox rows, the session notes it as it flushes them, and when that
transaction commits a relay is queued (`jobs.ndelius.queue_relay_after_commit`; never failing the request). A
rolled-back transaction queues nothing. The scheduler's relay, every NDELIUS_RELAY_INTERVAL while work is due,
stays the safety net (Redis down, a relay that had already looked)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession

from app.extensions import db
from app.models import Attendee, NDeliusAppointment, OutboxItem

WRITTEN = "ndelius_outbox_written"


def appointments_created(attendees: Iterable[Attendee]) -> None:
    """A new nDelius appointment (and its cache row) for each attendee."""
    for attendee in attendees:
        appointment = NDeliusAppointment(attendee=attendee, sync_state="pending")
        db.session.add(appointment)
        db.session.add(OutboxItem(appointment=appointment, action="create"))


def appointment_changed(appointment: NDeliusAppointment, action: str = "update") -> None:
    appointment.sync_state = "pending"
    db.session.add(OutboxItem(appointment=appointment, action=action))


@event.listens_for(OrmSession, "before_flush")
def _note_outbox_rows(session: OrmSession, _context: Any, _instances: Any) -> None:
    if not session.info.get(WRITTEN) and any(isinstance(obj, OutboxItem) for obj in session.new):
        session.info[WRITTEN] = True


@event.listens_for(OrmSession, "after_rollback")
def _forget_outbox_rows(session: OrmSession) -> None:
    if not session.in_nested_transaction():  # a savepoint's rollback: the rows written before it stay
        session.info.pop(WRITTEN, None)


@event.listens_for(OrmSession, "after_commit")
def _relay_committed_rows(session: OrmSession) -> None:
    """After the commit; a savepoint's release (SQLAlchemy calls this for it too) commits nothing yet."""
    if session.in_nested_transaction():
        return
    if session.info.pop(WRITTEN, False) and has_app_context():
        from jobs.ndelius import queue_relay_after_commit

        queue_relay_after_commit()
