"""What the detailUrl of each event we publish answers (the real service's StatusInfo and completion data)."""
from __future__ import annotations

from datetime import UTC
from typing import Any

from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Attendance, Attendee, Referral, ReferralStatusChange, Session
from app.services.events_out import COMPLETE, status_code

_UTC_MILLIS = "%Y-%m-%dT%H:%M:%S.%f"


def _sourced_from(referral: Referral) -> tuple[str, int | None]:
    if referral.licence_condition_id is not None:
        return "LICENCE_CONDITION", referral.licence_condition_id
    return "REQUIREMENT", referral.requirement_id


def status_change_details(referral_id: int, change_id: int) -> dict[str, Any] | None:
    change = db.session.scalar(select(ReferralStatusChange).where(
        ReferralStatusChange.id == change_id, ReferralStatusChange.referral_id == referral_id))
    if change is None:
        return None
    kind, entity_id = _sourced_from(change.referral)
    return {
        "newStatus": status_code(change.to_status),
        "sourcedFromEntityType": kind,
        "sourcedFromEntityId": entity_id,
        "notes": change.notes,
        "description": f"Status changed from {change.from_status or 'none'} to {change.to_status}",
    }


def completion_data(referral_id: int) -> dict[str, Any] | None:
    """When the programme was completed: the start of the last session they attended (the post-programme
    review), as the real service reports it."""
    referral = db.session.get(Referral, referral_id)
    if referral is None or referral.status != COMPLETE:
        return None
    last = db.session.scalar(
        select(Session.starts_at).join(Attendee, Attendee.session_id == Session.id)
        .join(Attendance, Attendance.attendee_id == Attendee.id)
        .where(Attendee.referral_id == referral_id, Attendance.outcome == "ATTC")
        .order_by(Session.starts_at.desc()).limit(1))
    kind, entity_id = _sourced_from(referral)
    completed = last.replace(tzinfo=clock.LONDON).astimezone(UTC) if last else None
    return {
        "licReqId": entity_id,
        "licReqCompletedAt": completed.strftime(_UTC_MILLIS)[:-3] + "Z" if completed else None,
        "sourcedFromEntityType": kind,
    }
