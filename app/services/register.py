"""What the register and "My sessions" pages show. A fixed number of queries whatever the group size (no N+1):
the attendees with their records, then sync states, notes history and other attempts for all of them at once."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.orm import joinedload, selectinload

from app import clock
from app.extensions import db
from app.models import (
    Attendance,
    AttendanceHistory,
    Attendee,
    Group,
    NDeliusAppointment,
    Referral,
    Session,
    SessionFacilitator,
    SessionTemplate,
    TemplateCompletion,
    User,
)
from app.services.groups import region_filter

SYNC_LABELS = {
    "pending": ("Waiting to send to nDelius", "pending"),
    "synced": ("In nDelius", "synced"),
    "needs_attention": ("nDelius needs attention", "failed"),
    "deleted": ("Removed from nDelius", "offline"),
}


@dataclass
class Attempt:
    """Another session of the same template for this person: the original, a catch-up or a one-to-one."""

    session: Session
    outcome: str | None


@dataclass
class Row:
    attendee: Attendee
    sync_state: str | None = None
    history: list[AttendanceHistory] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    completed_elsewhere: bool = False

    @property
    def referral(self) -> Referral:
        return self.attendee.referral

    @property
    def attendance(self) -> Attendance | None:
        return self.attendee.attendance

    @property
    def outcome(self) -> str | None:
        return self.attendance.outcome if self.attendance else None

    @property
    def version(self) -> int | None:
        return self.attendance.version if self.attendance else None

    @property
    def notes_history(self) -> list[AttendanceHistory]:
        """The versions whose notes differ from the version before (newest first)."""
        kept, previous = [], None
        for entry in sorted(self.history, key=lambda h: h.version):
            if (entry.notes or None) != previous:
                kept.append(entry)
            previous = entry.notes or None
        return list(reversed(kept))


def get_session(user: User, session_id: int) -> Session | None:
    """The session if it is in the user's region (admins: any), with what the register header shows."""
    return db.session.scalar(
        select(Session).join(Group, Group.id == Session.group_id)
        .where(Session.id == session_id, region_filter(user))
        .options(joinedload(Session.group), joinedload(Session.parent),
                 joinedload(Session.session_template).joinedload(SessionTemplate.module),
                 selectinload(Session.facilitators).joinedload(SessionFacilitator.facilitator))
    )


def rows(session: Session, only: int | None = None) -> list[Row]:
    """One row per expected person (people who left the group before the session are not expected)."""
    query = (
        select(Attendee).join(Referral, Referral.id == Attendee.referral_id)
        .where(Attendee.session_id == session.id, Attendee.removed_at.is_(None))
        .options(joinedload(Attendee.referral), joinedload(Attendee.membership),
                 joinedload(Attendee.attendance).joinedload(Attendance.recorded_by))
        .order_by(Referral.person_name, Attendee.id)
    )
    if only is not None:
        query = query.where(Attendee.id == only)
    attendees = list(db.session.scalars(query).unique())
    result = {a.id: Row(attendee=a) for a in attendees}
    if not attendees:
        return []
    ids = list(result)
    for attendee_id, state in db.session.execute(
        select(NDeliusAppointment.attendee_id, NDeliusAppointment.sync_state)
        .where(NDeliusAppointment.attendee_id.in_(ids))
    ):
        result[attendee_id].sync_state = state
    for entry in db.session.scalars(
        select(AttendanceHistory).where(AttendanceHistory.attendee_id.in_(ids))
        .options(joinedload(AttendanceHistory.recorded_by)).order_by(AttendanceHistory.version)
    ):
        result[entry.attendee_id].history.append(entry)
    by_referral = {a.referral_id: result[a.id] for a in attendees}
    for other, session_row, outcome in db.session.execute(
        select(Attendee, Session, Attendance.outcome)
        .join(Session, Session.id == Attendee.session_id)
        .outerjoin(Attendance, Attendance.attendee_id == Attendee.id)
        .where(Attendee.referral_id.in_(list(by_referral)), Attendee.removed_at.is_(None),
               Session.session_template_id == session.session_template_id, Session.id != session.id,
               Session.status == "scheduled")
        .options(joinedload(Session.group)).order_by(Session.starts_at)
    ):
        by_referral[other.referral_id].attempts.append(Attempt(session=session_row, outcome=outcome))
    for (referral_id,) in db.session.execute(
        select(TemplateCompletion.referral_id).join(Attendee, Attendee.id == TemplateCompletion.attendee_id)
        .where(TemplateCompletion.referral_id.in_(list(by_referral)),
               TemplateCompletion.session_template_id == session.session_template_id,
               Attendee.session_id != session.id)
    ):
        by_referral[referral_id].completed_elsewhere = True
    return [result[a.id] for a in attendees]


def recorded_count(session: Session) -> tuple[int, int]:
    """(recorded, expected) for the register header."""
    recorded, expected = db.session.execute(
        select(func.count(Attendance.id), func.count(Attendee.id))
        .select_from(Attendee).outerjoin(Attendance, and_(Attendance.attendee_id == Attendee.id,
                                                          Attendance.outcome.is_not(None)))
        .where(Attendee.session_id == session.id, Attendee.removed_at.is_(None))
    ).one()
    return recorded, expected


# ------------------------------------------------------------------------------------------------ My sessions

@dataclass
class Listed:
    session: Session
    recorded: int
    expected: int


@dataclass
class MySessions:
    today: list[Listed]
    upcoming: list[Listed]
    to_finish: list[Listed]


def my_sessions(user: User, *, days_ahead: int = 28, days_back: int = 28, limit: int = 100) -> MySessions:
    """Today's sessions first, then upcoming ones; and earlier sessions whose register is not finished.
    Facilitators see the sessions they facilitate (lead or cover); treatment managers (and admins) their
    region's."""
    now = clock.now_local()
    midnight = datetime.combine(now.date(), datetime.min.time())
    expected = (
        select(func.count(Attendee.id)).where(Attendee.session_id == Session.id, Attendee.removed_at.is_(None))
        .correlate(Session).scalar_subquery()
    )
    recorded = (
        select(func.count(Attendance.id)).join(Attendee, Attendee.id == Attendance.attendee_id)
        .where(Attendee.session_id == Session.id, Attendee.removed_at.is_(None), Attendance.outcome.is_not(None))
        .correlate(Session).scalar_subquery()
    )
    base = (
        select(Session, recorded, expected).join(Group, Group.id == Session.group_id)
        .where(Session.status == "scheduled", region_filter(user))
        .options(joinedload(Session.group),
                 joinedload(Session.session_template).joinedload(SessionTemplate.module))
        .order_by(Session.starts_at, Session.id)
    )
    if user.role == "facilitator":
        mine = select(SessionFacilitator.id).where(SessionFacilitator.session_id == Session.id,
                                                   SessionFacilitator.facilitator_id == (user.facilitator_id or 0))
        base = base.where(mine.exists())

    def listed(query) -> list[Listed]:  # type: ignore[no-untyped-def]
        return [Listed(s, r, e) for s, r, e in db.session.execute(query.limit(limit))]

    soon = listed(base.where(Session.starts_at >= midnight,
                             Session.starts_at < midnight + timedelta(days=days_ahead + 1)))
    tomorrow = midnight + timedelta(days=1)
    to_finish = listed(base.where(Session.starts_at >= midnight - timedelta(days=days_back),
                                  Session.starts_at < midnight, recorded < expected))
    return MySessions(today=[x for x in soon if x.session.starts_at < tomorrow],
                      upcoming=[x for x in soon if x.session.starts_at >= tomorrow], to_finish=to_finish)
