"""Audit events are added to the caller's transaction: the change and its record commit together."""
from __future__ import annotations

from typing import Any

from app.extensions import db
from app.models import AuditEvent, User


def record(actor: User | None, action: str, obj: Any, *, group_id: int | None = None,
           before: dict | None = None, after: dict | None = None) -> None:
    db.session.add(AuditEvent(
        user_id=actor.id if actor else None,
        role=actor.role if actor else None,
        region_id=actor.region_id if actor else None,
        group_id=group_id,
        action=action,
        object_type=type(obj).__tablename__,
        object_id=obj.id,
        before=before,
        after=after,
    ))
