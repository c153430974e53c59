"""Status out: every change of a referral's status is recorded (the person's status history) and announced as an
HMPPS domain event, in the transaction that makes the change.

The rule is enforced where it cannot be forgotten: a ``before_flush`` hook sees every Referral whose status
changed, whichever service changed it (allocation, removal, attendance, a domain event), and adds the history row
and the outbox rows to that same flush - so the change and its announcement commit together or not at all, and
nothing is lost while the broker is down (``app.services.events_publish`` sends the outbox later).

``programme.complete`` is written once per referral (a unique ``dedupe_key``): a correction that takes the
person back to On programme and completion again does not announce it twice.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, has_app_context, has_request_context
from sqlalchemy import event, exists, select
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import attributes

from app import clock
from app.models import DomainEventOutbox, Referral, ReferralStatusChange
from app.models.base import utcnow

STATUS_UPDATED = "accredited-programmes-community.referral.status-updated"
PROGRAMME_COMPLETE = "accredited-programmes-community.programme.complete"
COMPLETE = "Programme complete"
DESCRIPTIONS = {
    STATUS_UPDATED: "The status of a referral to an accredited programme in the community has changed",
    PROGRAMME_COMPLETE: "A person has completed an accredited programme in the community",
}


def status_code(label: str) -> str:
    """The real service's enum name for a status label: "On programme" -> ON_PROGRAMME."""
    return label.upper().replace(" ", "_")


def _actor_id() -> int | None:
    if not has_request_context():
        return None
    from flask_login import current_user

    return current_user.id if getattr(current_user, "is_authenticated", False) else None


@event.listens_for(OrmSession, "before_flush")
def _referral_status_changes(session: OrmSession, _context: Any, _instances: Any) -> None:
    changed = [obj for obj in (*session.new, *session.dirty) if isinstance(obj, Referral)]
    if not changed:
        return
    now = utcnow()
    for referral in changed:
        history = attributes.get_history(referral, "status")
        if referral in session.new:
            session.add(ReferralStatusChange(referral=referral, from_status=None,
                                             to_status=referral.status or "Awaiting allocation",
                                             changed_at=now, changed_by_id=_actor_id()))
            continue
        if not history.added or not history.deleted or history.added[0] == history.deleted[0]:
            continue
        before, after = history.deleted[0], history.added[0]
        change = ReferralStatusChange(referral=referral, from_status=before, to_status=after, changed_at=now,
                                      changed_by_id=_actor_id())
        session.add(change)
        session.add(DomainEventOutbox(event_type=STATUS_UPDATED, referral=referral, status_change=change,
                                      crn=referral.crn, occurred_at=now, next_attempt_at=now))
        if after == COMPLETE:
            key = f"{PROGRAMME_COMPLETE}:{referral.id}"
            with session.no_autoflush:
                already = session.scalar(select(exists().where(DomainEventOutbox.dedupe_key == key)))
            if not already:
                session.add(DomainEventOutbox(event_type=PROGRAMME_COMPLETE, referral=referral,
                                              status_change=change, dedupe_key=key, crn=referral.crn,
                                              occurred_at=now, next_attempt_at=now))
    if has_app_context():
        session.info["domain_events_written"] = True


def message(row: DomainEventOutbox, base_url: str | None = None) -> dict[str, Any]:
    """The HMPPS domain event for an outbox row (HMPPS.md §5: DomainEventsMessage)."""
    base = (base_url or current_app.config["API_BASE_URL"]).rstrip("/")
    if row.event_type == PROGRAMME_COMPLETE:
        detail = f"{base}/api/referral/{row.referral_id}/completion-data"
        extra: dict[str, Any] = {"referralId": row.referral_id}
    else:
        detail = f"{base}/api/referral/{row.referral_id}/status-change-details/{row.status_change_id}"
        extra = {"referralId": row.referral_id}
        if row.status_change is not None:
            extra["newStatus"] = status_code(row.status_change.to_status)
    return {
        "eventType": row.event_type,
        "version": 1,
        "detailUrl": detail,
        "occurredAt": _zoned(row.occurred_at),
        "description": DESCRIPTIONS.get(row.event_type, row.event_type),
        "additionalInformation": extra,
        "personReference": {"identifiers": [{"type": "CRN", "value": row.crn}]},
    }


def _zoned(instant: datetime) -> str:
    return instant.astimezone(clock.LONDON).isoformat(timespec="milliseconds")
