"""Recording attendance (SPEC §4): the current record, its history, progress and the nDelius outbox, in one
transaction."""
from __future__ import annotations

from datetime import time

from sqlalchemy import select

from app.extensions import db
from app.models import Attendance, AttendanceHistory, Attendee, NDeliusAppointment, User
from app.models.base import utcnow
from app.services import audit, outbox, progress
from app.services.errors import ServiceError

NOT_STARTED = ("Awaiting allocation", "Scheduled")


class StaleAttendance(ServiceError):
    """Someone else saved this row since the form was shown; `current` is what they saved."""

    def __init__(self, current: Attendance) -> None:
        super().__init__("Someone else changed this record after you opened it")
        self.current = current


def record(actor: User, attendee: Attendee, *, outcome: str | None, did_not_engage: bool = False,
           arrived_at: time | None = None, departed_at: time | None = None, notes: str | None = None,
           seen_version: int | None = None) -> Attendance:
    """Save an attendee's attendance. `seen_version` is the version the person saw (None: they saw no
    record); if the stored one differs, nothing is written and StaleAttendance is raised."""
    current = attendee.attendance
    if (current.version if current else None) != seen_version:
        raise StaleAttendance(current)  # type: ignore[arg-type]
    before = _snapshot(current)
    if current is None:
        current = Attendance(attendee=attendee)
        db.session.add(current)
    current.outcome = outcome
    current.did_not_engage = did_not_engage
    current.arrived_at, current.departed_at = arrived_at, departed_at
    notes_changed = (notes or None) != (current.notes or None)
    current.notes = notes or None
    current.recorded_by_id = actor.id
    current.recorded_at = utcnow()
    db.session.flush()  # assigns/bumps the version
    db.session.add(AttendanceHistory(
        attendee_id=attendee.id, version=current.version, outcome=outcome, did_not_engage=did_not_engage,
        arrived_at=arrived_at, departed_at=departed_at, notes=current.notes, recorded_by_id=actor.id,
        recorded_at=current.recorded_at,
    ))
    progress.attendee_changed(attendee, current)
    _move_status(attendee)
    appointment = db.session.scalar(select(NDeliusAppointment).filter_by(attendee_id=attendee.id))
    if appointment is not None and (before is None or before["outcome"] != outcome or notes_changed):
        outbox.appointment_changed(appointment)
    audit.record(actor, "attendance.recorded", current, group_id=attendee.session.group_id,
                 before=before, after=_snapshot(current))
    return current


def _move_status(attendee: Attendee) -> None:
    referral = attendee.referral
    stored = referral.progress
    if stored is not None and stored.complete:
        referral.status = "Programme complete"
    elif attendee.attendance and attendee.attendance.outcome in ("ATTC", "AFTC") and referral.status in NOT_STARTED:
        referral.status = "On programme"


def _snapshot(attendance: Attendance | None) -> dict | None:
    if attendance is None:
        return None
    return {
        "outcome": attendance.outcome, "did_not_engage": attendance.did_not_engage,
        "arrived_at": attendance.arrived_at.isoformat() if attendance.arrived_at else None,
        "departed_at": attendance.departed_at.isoformat() if attendance.departed_at else None,
        "notes": attendance.notes, "version": attendance.version,
    }
