"""What a finished reschedule left for a person to do: the sessions its late steps did not move (and why), and
the booked one-to-ones and catch-ups a change of days and times could not keep, listed until each is re-booked
(moved, cancelled) or its time has passed (SPEC §3: never silently deleted)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app import clock
from app.extensions import db
from app.models import Attendee, Group, Operation, Session
from app.services.reschedule.wording import not_moved_lines, session_label
from app.services.schedule_guard import RESCHEDULE_KINDS


@dataclass
class Outcome:
    operation: Operation | None
    not_moved: list[str] = field(default_factory=list)
    rebook: list[Session] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.not_moved or self.rebook)


def rebook_entries(sessions: Sequence[Session]) -> list[dict[str, Any]]:
    """What is stored with the operation for each session to re-book: where it was when the plan was made."""
    return [{"session_id": s.id, "label": session_label(s), "starts_at": s.starts_at.isoformat(),
             "ends_at": s.ends_at.isoformat()} for s in sessions]


def still_to_rebook(entries: Sequence[dict[str, Any]]) -> list[Session]:
    """The listed sessions that are still where they were, still booked, and still to come."""
    ids = [e["session_id"] for e in entries]
    if not ids:
        return []
    rows = {s.id: s for s in db.session.scalars(
        select(Session).where(Session.id.in_(ids)).options(
            selectinload(Session.session_template), selectinload(Session.attendees).selectinload(Attendee.referral))
    )}
    now = clock.now_local()
    found: dict[int, Session] = {}
    for entry in entries:
        session = rows.get(entry["session_id"])
        if (session is None or session.status == "cancelled" or session.starts_at <= now
                or session.starts_at != datetime.fromisoformat(entry["starts_at"])
                or session.ends_at != datetime.fromisoformat(entry["ends_at"])):
            continue
        found.setdefault(session.id, session)
    return sorted(found.values(), key=lambda s: (s.starts_at, s.id))


def latest_outcome(group: Group) -> Outcome:
    """For the group page: what the latest finished reschedule did not move, and every session the group's
    changes of days and times listed for re-booking that is still to re-book."""
    finished = list(db.session.scalars(
        select(Operation).where(Operation.group_id == group.id, Operation.kind.in_(RESCHEDULE_KINDS),
                                Operation.status == "succeeded").order_by(Operation.id.desc())
    ))
    latest = finished[0] if finished else None
    not_moved = not_moved_lines((latest.result or {}).get("not_moved", [])) if latest else []
    entries = [e for op in finished for e in (op.result or {}).get("rebook", [])]
    return Outcome(latest, not_moved, still_to_rebook(entries))
