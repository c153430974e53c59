"""Idempotency keys (RELIABILITY §1.2): the client picks one key per logical change (a tap on the register, a
booking) and sends it again on every retry. The key is claimed with a unique insert inside the transaction of
the change itself, never check-then-insert, so two copies of one request cannot both apply; if the change
fails and rolls back, the claim goes with it and a retry is judged afresh."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import delete
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import ProcessedRequest, User
from app.models.base import utcnow

HEADER = "Idempotency-Key"
FIELD = "idempotency_key"
_VALID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def clean(value: str | None) -> str | None:
    """The key if it is well formed (8–64 letters, digits, '-' or '_'), else None."""
    value = (value or "").strip()
    return value if _VALID.match(value) else None


def claim(actor: User, key: str, scope: str, object_id: int | None = None) -> bool:
    """True when this key is new and is now claimed in the current transaction; False when a request with it
    has already been processed (or is being processed and commits first)."""
    try:
        with db.session.begin_nested():
            db.session.add(ProcessedRequest(key=key, user_id=actor.id, scope=scope, object_id=object_id))
    except IntegrityError:
        return False
    return True


def forget_older_than(days: int = 7) -> int:
    """Drop keys nobody will retry any more (a tablet retries within minutes or hours, not weeks)."""
    result = cast(CursorResult[Any], db.session.execute(delete(ProcessedRequest).where(
        ProcessedRequest.created_at < utcnow() - timedelta(days=days))))
    db.session.commit()
    return result.rowcount or 0
