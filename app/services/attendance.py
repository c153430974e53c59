"""Recording attendance (SPEC §4): the current record, its history, progress and the nDelius outbox, in one
transaction.

Lost updates are prevented twice over: the version of the record the person saw travels with every save and
a different stored version refuses the save (StaleAttendance, with what is stored now, so the person chooses);
and the row UPDATE itself is guarded by the version column, so two saves racing past that check cannot both
win. A save also carries an idempotency key: a retried tap is recognised and not applied twice."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import Executable, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app import clock
from app.extensions import db
from app.models import (
    Attendance,
    AttendanceHistory,
    Attendee,
    AuditEvent,
    NDeliusAppointment,
    Session,
    User,
)
from app.models.base import utcnow
from app.models.session import OUTCOMES
from app.services import audit, idempotency, outbox, progress
from app.services.errors import ServiceError

if TYPE_CHECKING:
    from app.services.register import Header

NOT_STARTED = ("Awaiting allocation", "Scheduled")
ATTENDED = ("ATTC", "AFTC")
NOTES_LIMIT = 4000


class StaleAttendance(ServiceError):
    """Someone else saved this row since the form was shown; `current` is what they saved."""

    def __init__(self, current: Attendance) -> None:
        super().__init__("Someone else changed this record after you opened it")
        self.current = current


class SavedAtTheSameMoment(ServiceError):
    """The save lost a race that was not about this row: its version is still the one the person saw, but the
    person's progress (a completion of the same session, recorded from another register: the original session
    or its catch-up) was being written by another save at the same moment, twice over. Nothing was written;
    nobody else changed the row, so it is not a conflict to resolve: saving again works."""

    def __init__(self, attendee: Attendee, completion: bool) -> None:
        name, label = attendee.referral.person_name, attendee.session.session_template.label
        if completion:
            text = (f"{label} was recorded as complete for {name} from another register at the same moment "
                    "(their progress already shows it). Nobody changed this row: save it again.")
        else:
            text = (f"Another save for {name} was being recorded at the same moment. Nobody changed this row: "
                    "save it again.")
        super().__init__(text, "outcome")


class StaleSessionNotes(ServiceError):
    """The shared session notes changed since the form was shown; `current` is what is stored now."""

    def __init__(self, current: str | None, changed_by: str | None) -> None:
        super().__init__("Someone else changed the session notes after you opened them")
        self.current = current
        self.changed_by = changed_by


@dataclass(frozen=True)
class RowInput:
    """What a person entered on one register row."""

    outcome: str | None
    did_not_engage: bool = False
    arrived_at: time | None = None
    departed_at: time | None = None
    notes: str | None = None

    @classmethod
    def of(cls, attendance: Attendance | None) -> RowInput:
        if attendance is None:
            return cls(outcome=None)
        return cls(outcome=attendance.outcome, did_not_engage=bool(attendance.did_not_engage),
                   arrived_at=attendance.arrived_at, departed_at=attendance.departed_at,
                   notes=attendance.notes or None)


# ------------------------------------------------------------------------------------------------ who may

def can_record(user: User, session: Session | Header) -> bool:
    """Facilitators of the session (lead or cover), treatment managers of its region, admins."""
    if user.role == "admin":
        return True
    if user.role == "treatment_manager":
        return session.group.region_id == user.region_id
    if user.role == "facilitator":
        return user.facilitator_id is not None and any(
            sf.facilitator_id == user.facilitator_id for sf in session.facilitators)
    return False


def can_view(user: User, session: Session | Header) -> bool:
    """Everyone who may record, and leads of the region (read only)."""
    if user.role == "lead":
        return session.group.region_id == user.region_id
    return can_record(user, session)


# ------------------------------------------------------------------------------------------------ rules

def check(session: Session, data: RowInput) -> None:
    """The rules a row must satisfy; the first broken one is raised with the field it belongs to."""
    if session.status == "cancelled":
        raise ServiceError("This session was cancelled: attendance cannot be recorded", "outcome")
    if data.outcome is not None and data.outcome not in OUTCOMES:
        raise ServiceError("Choose an outcome from the list", "outcome")
    if data.outcome in ("ATTC", "AFTC", "UAAB") and session.starts_at > clock.now_local():
        raise ServiceError(
            f"The session starts at {session.starts_at:%H:%M} on {session.starts_at:%-d %B}: "
            "record attendance once it has started (an acceptable absence can be recorded in advance)", "outcome")
    absent = data.outcome is not None and data.outcome not in ATTENDED
    if absent and (data.arrived_at or data.departed_at):
        raise ServiceError("Clear the arrival and departure times for someone who did not attend",
                           "arrived_at" if data.arrived_at else "departed_at")
    if absent and data.did_not_engage:
        raise ServiceError("“Did not engage” is only for someone who attended", "did_not_engage")
    if data.arrived_at and data.departed_at and data.departed_at <= data.arrived_at:
        raise ServiceError("The departure time must be after the arrival time", "departed_at")
    if data.notes and len(data.notes) > NOTES_LIMIT:
        raise ServiceError(f"Notes must be {NOTES_LIMIT:,} characters or fewer", "notes")


# ------------------------------------------------------------------------------------------------ writes

def record(actor: User, attendee: Attendee, *, outcome: str | None, did_not_engage: bool = False,
           arrived_at: time | None = None, departed_at: time | None = None, notes: str | None = None,
           seen_version: int | None = None) -> Attendance:
    """Save an attendee's attendance. `seen_version` is the version the person saw (None: they saw no
    record); if the stored one differs, nothing is written and StaleAttendance is raised. The caller commits."""
    current = attendee.attendance
    if (current.version if current else None) != seen_version:
        raise StaleAttendance(current)  # type: ignore[arg-type]
    before = _snapshot(current)
    actor_id = actor.id
    with db.session.no_autoflush:  # one INSERT or UPDATE with every field, so one version per save
        if current is None:
            current = Attendance(attendee=attendee)
            db.session.add(current)
        current.outcome = outcome
        current.did_not_engage = did_not_engage
        current.arrived_at, current.departed_at = arrived_at, departed_at
        notes_changed = (notes or None) != (current.notes or None)
        current.notes = notes or None
        current.recorded_by_id = actor_id
        current.recorded_at = utcnow()
    db.session.flush()  # assigns/bumps the version; a concurrent save of the same version fails here
    db.session.add(AttendanceHistory(
        attendee_id=attendee.id, version=current.version, outcome=outcome, did_not_engage=did_not_engage,
        arrived_at=arrived_at, departed_at=departed_at, notes=current.notes, recorded_by_id=actor_id,
        recorded_at=current.recorded_at,
    ))
    stored = progress.attendee_changed(attendee, current)
    _move_status(actor, attendee, stored.complete)
    appointment = db.session.scalar(_appointment_query(), {"attendee_id": attendee.id})
    if appointment is not None and (before is None or before["outcome"] != outcome or notes_changed):
        outbox.appointment_changed(appointment)
    audit.record(actor, "attendance.recorded", current, group_id=attendee.session.group_id,
                 before=before, after=_snapshot(current))
    return current


@cache
def _appointment_query() -> Executable:
    """Built once per process (every save runs it)."""
    return select(NDeliusAppointment).where(NDeliusAppointment.attendee_id == bindparam("attendee_id"))


def save_row(actor: User, attendee: Attendee, data: RowInput, *, seen_version: int | None,
             key: str | None) -> str:
    """One tap on the register, in its own transaction. Returns "saved", "unchanged" (the row already says
    this) or "repeated" (this key was processed before: nothing applied again). Raises ServiceError for a
    broken rule and StaleAttendance when someone else saved this row first; either way nothing is written.

    A database conflict that is not about this row (another save for the same person committed a completion
    at the same moment) is not someone else's edit: the save is tried once more, from what is stored now, and
    if that loses a race again it is refused as SavedAtTheSameMoment, never as StaleAttendance."""
    for attempt in (1, 2):
        try:
            return _save_row_once(actor, attendee, data, seen_version=seen_version, key=key)
        except (StaleDataError, IntegrityError) as exc:
            db.session.rollback()
            db.session.expire_all()
            current = db.session.scalar(select(Attendance).where(Attendance.attendee_id == attendee.id))
            if isinstance(exc, IntegrityError) and (current.version if current else None) == seen_version:
                if attempt == 1:
                    continue
                raise SavedAtTheSameMoment(attendee, _on_completion(exc)) from None
            # Another save of the same version committed between our check and our write.
            raise StaleAttendance(current) from None  # type: ignore[arg-type]
        except ServiceError:
            db.session.rollback()
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _on_completion(exc: IntegrityError) -> bool:
    """The unique violation is uq_template_completion, one completion per person and session template (SQLite
    names the table, PostgreSQL the constraint)."""
    return "template_completion" in str(exc.orig)


def _save_row_once(actor: User, attendee: Attendee, data: RowInput, *, seen_version: int | None,
                   key: str | None) -> str:
    if key is not None and not idempotency.claim(actor, key, "attendance", attendee.id):
        db.session.rollback()
        return "repeated"
    check(attendee.session, data)
    current = attendee.attendance
    if (current.version if current else None) == seen_version and RowInput.of(current) == data:
        db.session.rollback()
        return "unchanged"
    record(actor, attendee, outcome=data.outcome, did_not_engage=data.did_not_engage,
           arrived_at=data.arrived_at, departed_at=data.departed_at, notes=data.notes,
           seen_version=seen_version)
    db.session.commit()
    return "saved"


def save_session_notes(actor: User, session: Session, notes: str | None, *, seen_notes: str | None) -> bool:
    """The shared notes above the register rows. `seen_notes` is the text the person started from: if the
    stored text has changed since, nothing is written and StaleSessionNotes says what is there now. Returns
    False when there was nothing to change."""
    notes = (notes or "").strip() or None
    if notes and len(notes) > NOTES_LIMIT:
        raise ServiceError(f"Session notes must be {NOTES_LIMIT:,} characters or fewer", "session_notes")
    stored = session.notes or None
    if stored != ((seen_notes or "").strip() or None):
        raise StaleSessionNotes(stored, _last_notes_author(session))
    if stored == notes:
        return False
    session.notes = notes
    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        db.session.expire_all()
        raise StaleSessionNotes(session.notes, _last_notes_author(session)) from None
    audit.record(actor, "session.notes_changed", session, group_id=session.group_id,
                 before={"notes": stored}, after={"notes": notes})
    db.session.commit()
    return True


def _last_notes_author(session: Session) -> str | None:
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.object_type == Session.__tablename__, AuditEvent.object_id == session.id,
                                 AuditEvent.action == "session.notes_changed").order_by(AuditEvent.id.desc()).limit(1)
    )
    if event is None or event.user is None:
        return None
    return f"{event.user.name} at {event.at.astimezone(clock.LONDON):%H:%M} on {event.at.astimezone(clock.LONDON):%-d %B}"


def _move_status(actor: User, attendee: Attendee, complete: bool) -> None:
    """On programme at the first attended session; Programme complete when every module is complete (and back to
    On programme if a correction undoes that). Other statuses (withdrawn, breach…) are people's decisions."""
    referral = attendee.referral
    before = referral.status
    active = attendee.membership is None or attendee.membership.left_at is None
    if complete and before in (*NOT_STARTED, "On programme"):
        referral.status = "Programme complete"
    elif not complete and before == "Programme complete" or active and before in NOT_STARTED and attendee.attendance and attendee.attendance.outcome in ATTENDED:
        referral.status = "On programme"
    if referral.status != before:
        audit.record(actor, "referral.status_changed", referral, group_id=attendee.session.group_id,
                     before={"status": before}, after={"status": referral.status})


def _snapshot(attendance: Attendance | None) -> dict | None:
    if attendance is None:
        return None
    return {
        "outcome": attendance.outcome, "did_not_engage": attendance.did_not_engage,
        "arrived_at": attendance.arrived_at.isoformat() if attendance.arrived_at else None,
        "departed_at": attendance.departed_at.isoformat() if attendance.departed_at else None,
        "notes": attendance.notes, "version": attendance.version,
    }
