"""Writing the nDelius outbox. Rows are added to the caller's transaction; the relay job sends them later,
so no web request ever waits on nDelius."""
from __future__ import annotations

from collections.abc import Iterable

from app.extensions import db
from app.models import Attendee, NDeliusAppointment, OutboxItem


def appointments_created(attendees: Iterable[Attendee]) -> None:
    """A new nDelius appointment (and its cache row) for each attendee."""
    for attendee in attendees:
        appointment = NDeliusAppointment(attendee=attendee, sync_state="pending")
        db.session.add(appointment)
        db.session.add(OutboxItem(appointment=appointment, action="create"))


def appointment_changed(appointment: NDeliusAppointment, action: str = "update") -> None:
    appointment.sync_state = "pending"
    db.session.add(OutboxItem(appointment=appointment, action=action))
