"""While a group's schedule is being generated or rescheduled, nothing else may change its sessions (SPEC §3,
late steps): one-to-one booking and moving, catch-ups, session facilitators, days and times, allocation and
removal all ask this one guard first, in the service, whichever page or job calls them.

On PostgreSQL the guard also locks the group's row until the caller commits, and storing a reschedule plan
takes the same lock: a writer that passed the guard finishes before a plan can be stored, and a plan stored
first is seen by the writer. (SQLite has one writer at a time anyway.) A plan's steps still check each session
is where the plan found it, so nothing is lost if a change slips in between a preview and the plan.
"""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Group, Operation
from app.services.errors import ServiceError

RESCHEDULE_KINDS = ("cascade", "reslot")
BLOCKING_KINDS = ("generate", *RESCHEDULE_KINDS)
ACTIVE = ("queued", "running")
IN_PROGRESS = "A reschedule of this group is in progress. Wait for it to finish, then try again."
GENERATING = "This group's schedule is still being made. Wait for it to finish, then try again."


class ScheduleBusy(ServiceError):
    """The group's schedule is being generated or rescheduled (HTTP 409)."""


def busy_operation(group_id: int) -> Operation | None:
    """The generation or reschedule of the group that is queued or running, if any."""
    return db.session.scalar(
        select(Operation).where(Operation.group_id == group_id, Operation.kind.in_(BLOCKING_KINDS),
                                Operation.status.in_(ACTIVE)).order_by(Operation.id.desc()).limit(1)
    )


def lock_group(group_id: int) -> None:
    """Hold the group's row until the transaction ends (PostgreSQL; a no-op on SQLite)."""
    db.session.execute(select(Group.id).where(Group.id == group_id).with_for_update())


def refuse_while_busy(group_id: int, field: str | None = None) -> None:
    """Refuse a change to the group's sessions while its schedule is being generated or rescheduled; ``field``
    is the form field the message goes next to."""
    lock_group(group_id)
    operation = busy_operation(group_id)
    if operation is not None:
        raise ScheduleBusy(GENERATING if operation.kind == "generate" else IN_PROGRESS, field)
