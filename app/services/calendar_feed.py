"""Each facilitator's sessions as an iCalendar feed behind a secret link (subscribe from Outlook).

The link carries a random token; only its SHA-256 is stored. A new link replaces the old one, and revoking
deletes it: the old link then answers 404. Each session keeps one UID for life, and its SEQUENCE and
LAST-MODIFIED move on when it changes, so calendar clients update a moved session instead of adding another."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from icalendar import Calendar, Event
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app import clock
from app.clock import LONDON
from app.extensions import db
from app.models import AuditEvent, CalendarFeed, Group, Session, SessionFacilitator, SessionTemplate, User
from app.models.base import utcnow
from app.services import audit

UID_DOMAIN = "programme-delivery.justice.gov.uk"
HISTORY = timedelta(days=90)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def current(user: User) -> CalendarFeed | None:
    return db.session.scalar(select(CalendarFeed).where(CalendarFeed.user_id == user.id))


def create_link(user: User) -> str:
    """A new secret token for the user's feed (any earlier link stops working). Shown once, never stored."""
    token = secrets.token_urlsafe(32)
    existing = current(user)
    if existing is not None:
        db.session.delete(existing)
        db.session.flush()
    feed = CalendarFeed(user_id=user.id, token_hash=_hash(token))
    db.session.add(feed)
    db.session.flush()
    audit.record(user, "calendar_feed.created" if existing is None else "calendar_feed.replaced", feed)
    db.session.commit()
    return token


def revoke(user: User) -> bool:
    existing = current(user)
    if existing is None:
        return False
    audit.record(user, "calendar_feed.revoked", existing)
    db.session.delete(existing)
    db.session.commit()
    return True


def user_for_token(token: str) -> User | None:
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.token_hash == _hash(token)))
    if feed is None or not feed.user.active:
        return None
    return feed.user


def feed(user: User) -> bytes:
    """The user's sessions (as facilitator) from 90 days ago onwards, cancelled ones marked CANCELLED."""
    calendar = Calendar()
    calendar.add("prodid", "-//HMPPS//Programme Delivery//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", "Programme Delivery sessions")
    calendar.add("x-wr-timezone", "Europe/London")
    sessions = _sessions(user)
    changed = _last_changes([s.id for s in sessions])
    stamp = utcnow().replace(microsecond=0)
    for session in sessions:
        calendar.add_component(_event(session, user, changed.get(session.id), stamp))
    if sessions:
        calendar.add_missing_timezones(first_date=min(s.starts_at for s in sessions).date(),
                                       last_date=max(s.ends_at for s in sessions).date() + timedelta(days=1))
    return calendar.to_ical()


def _sessions(user: User) -> list[Session]:
    if user.facilitator_id is None:
        return []
    since = datetime.combine(clock.today() - HISTORY, datetime.min.time())
    return list(db.session.scalars(
        select(Session).join(SessionFacilitator, SessionFacilitator.session_id == Session.id)
        .where(SessionFacilitator.facilitator_id == user.facilitator_id, Session.starts_at >= since)
        .order_by(Session.starts_at, Session.id)
        .options(selectinload(Session.session_template).selectinload(SessionTemplate.module),
                 selectinload(Session.group).selectinload(Group.template), selectinload(Session.facilitators))
    ))


def _last_changes(session_ids: list[int]) -> dict[int, datetime]:
    if not session_ids:
        return {}
    rows = db.session.execute(
        select(AuditEvent.object_id, func.max(AuditEvent.at))
        .where(AuditEvent.object_type == Session.__tablename__, AuditEvent.object_id.in_(session_ids))
        .group_by(AuditEvent.object_id)
    ).all()
    return {object_id: at for object_id, at in rows if object_id is not None}


def _event(session: Session, user: User, changed_at: datetime | None, stamp: datetime) -> Event:
    template = session.session_template
    group = session.group
    role = next((sf.role for sf in session.facilitators if sf.facilitator_id == user.facilitator_id), "cover")
    kind = {"catch_up": "Catch-up", "one_to_one": "One-to-one"}.get(session.kind, "")
    label = f"{kind}: {template.name}" if kind else template.name
    event = Event()
    event.add("uid", f"programme-session-{session.id}@{UID_DOMAIN}")
    event.add("dtstamp", stamp)
    event.add("last-modified", (changed_at or session.created_at).replace(microsecond=0))
    event.add("sequence", max(session.version - 1, 0))
    event.add("dtstart", session.starts_at.replace(tzinfo=LONDON))
    event.add("dtend", session.ends_at.replace(tzinfo=LONDON))
    event.add("summary", f"{label} (group {group.code})")
    event.add("location", session.location or group.delivery_location)
    event.add("description", f"{group.template.name}: module {template.module.module_number}, session "
                             f"{template.session_number}. You are the {role} facilitator.")
    event.add("status", "CANCELLED" if session.status == "cancelled" else "CONFIRMED")
    event.add("transp", "OPAQUE")
    return event
