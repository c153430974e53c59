"""Reading the audit trail: what happened to a group, or to one session and its attendance."""
from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import Attendance, Attendee, AuditEvent, Group, Session, User
from app.services.groups import get_group, region_filter

LIMIT = 500


def group_history(user: User, group_id: int) -> tuple[Group, list[AuditEvent]] | None:
    group = get_group(user, group_id)
    if group is None:
        return None
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.group_id == group.id).options(selectinload(AuditEvent.user))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(LIMIT)
    ).all()
    return group, list(events)


def session_history(user: User, session_id: int) -> tuple[Session, list[AuditEvent]] | None:
    session = db.session.scalar(
        select(Session).join(Group, Group.id == Session.group_id)
        .where(Session.id == session_id, region_filter(user))
    )
    if session is None:
        return None
    attendances = select(Attendance.id).join(Attendee, Attendee.id == Attendance.attendee_id).where(
        Attendee.session_id == session.id)
    events = db.session.scalars(
        select(AuditEvent).where(or_(
            (AuditEvent.object_type == "programme_session") & (AuditEvent.object_id == session.id),
            (AuditEvent.object_type == "attendance") & AuditEvent.object_id.in_(attendances),
        )).options(selectinload(AuditEvent.user)).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(LIMIT)
    ).all()
    return session, list(events)
