"""Starting a group: the background generation of its whole schedule (SPEC §3, Generate).

Starting has no confirmation step, so the facilitator double bookings the new schedule makes (the group's
facilitators in sessions overlapping another booking of theirs) are kept with the operation's result and listed
on the group page once the schedule is there, the way a change of facilitators names them."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import (
    Attendee,
    Group,
    GroupFacilitator,
    Membership,
    Operation,
    Session,
    SessionFacilitator,
    SessionTemplate,
    User,
)
from app.models.base import utcnow
from app.scheduling import Slot, generate
from app.services import audit, operations, outbox
from app.services.bank_holidays import holiday_dates
from app.services.clashes import Clash, already_booked, facilitator_clashes, still_clashing
from app.services.errors import ServiceError
from app.services.programme import load_template, programme_spec, session_templates_by_key

log = logging.getLogger(__name__)
ACTIVE = ("queued", "running")


def active_operation(group_id: int, kinds: tuple[str, ...]) -> Operation | None:
    return db.session.scalar(
        select(Operation).where(Operation.group_id == group_id, Operation.kind.in_(kinds),
                                Operation.status.in_(ACTIVE)).order_by(Operation.id.desc())
    )


def latest_operation(group_id: int, kinds: tuple[str, ...]) -> Operation | None:
    return db.session.scalar(
        select(Operation).where(Operation.group_id == group_id, Operation.kind.in_(kinds))
        .order_by(Operation.id.desc()).limit(1)
    )


def request_start(actor: User, group: Group) -> Operation:
    """Record the start request as an Operation and queue the generation. Asking twice returns the
    operation already under way; a started group is refused."""
    if group.started_at is not None:
        raise ServiceError("This group has already started")
    if not group.slots:
        raise ServiceError("Add at least one day and time before starting the group")
    existing = active_operation(group.id, ("generate",))
    if existing:
        return existing
    operation = Operation(kind="generate", user_id=actor.id, region_id=group.region_id, group_id=group.id,
                          status="queued", message="Waiting to start")
    db.session.add(operation)
    db.session.flush()
    audit.record(actor, "group.start_requested", group, group_id=group.id)
    db.session.commit()
    return operation


def generate_schedule(operation_id: int, redis: Redis | None = None, *, retries_left: int = 0,
                      retry_in: float | None = None) -> None:
    """The job body. The whole schedule is written in one transaction; if the group already has one (a
    retried or duplicated job), nothing more is written. A failed attempt with retries left says so and waits
    for the next attempt; the operation is marked failed only when none is left."""
    operation = db.session.get(Operation, operation_id)
    if operation is None or operation.finished:
        return
    operation.status = "running"
    operation.message = "Working out the dates"
    db.session.commit()
    try:
        _generate(operation, redis)
    except Exception as exc:  # the job failed: say why on the page, then let RQ record it (and retry it)
        log.exception("schedule generation failed", extra={"operation_id": operation_id,
                                                           "retries_left": retries_left})
        if retries_left > 0:
            _will_retry(operation_id, exc, retry_in)
        else:
            operations.fail(operation_id, f"The schedule could not be generated: {exc}")
        raise


def _will_retry(operation_id: int, exc: Exception, retry_in: float | None) -> None:
    db.session.rollback()
    operation = db.session.get(Operation, operation_id)
    if operation is None:
        return
    operation.status = "queued"
    when = f" in {retry_in:g} seconds" if retry_in else ""
    operation.message = f"That attempt did not work ({exc}); trying again{when}"
    db.session.commit()


def _generate(operation: Operation, redis: Redis | None) -> None:
    group = db.session.scalars(
        select(Group).where(Group.id == operation.group_id).with_for_update()
        .options(selectinload(Group.slots),
                 selectinload(Group.facilitators).selectinload(GroupFacilitator.facilitator),
                 selectinload(Group.memberships).selectinload(Membership.referral))
    ).one()
    already = db.session.scalar(select(Session.id).where(Session.group_id == group.id,
                                                         Session.kind == "scheduled").limit(1))
    if already is not None:
        operation.status, operation.message = "succeeded", "The schedule had already been generated"
        db.session.commit()
        return

    template = load_template(group.template_id)
    spec = programme_spec(template)
    slots = [Slot(weekday=s.day_of_week, start=s.start_time) for s in group.slots]
    planned = generate(spec, slots, group.earliest_start_date, holiday_dates(group.earliest_start_date))
    templates = session_templates_by_key(template)
    members = group.active_memberships
    total = len(planned)
    operation.total = total

    created: list[Session] = []
    for done, item in enumerate(planned, start=1):
        session = Session(
            group=group, session_template=templates[(item.module_number, item.session_number)],
            kind="scheduled", starts_at=item.starts_at, ends_at=item.ends_at, location=group.delivery_location,
        )
        session.facilitators = [SessionFacilitator(facilitator_id=gf.facilitator_id, role=gf.role)
                                for gf in group.facilitators]
        attendees = [Attendee(session=session, referral_id=m.referral_id, membership_id=m.id) for m in members]
        db.session.add(session)
        db.session.add_all(attendees)
        created.append(session)
        outbox.appointments_created(attendees)
        operations.report_live(redis, operation, done, total, f"Scheduled {done} of {total} sessions")

    db.session.flush()
    double_booked = facilitator_clashes([(sf.facilitator_id, s) for s in created for sf in s.facilitators])
    group.started_at = utcnow()
    actor = db.session.get(User, operation.user_id) if operation.user_id else None
    audit.record(actor, "group.schedule_generated", group, group_id=group.id, after={
        "sessions": total, "first": planned[0].starts_at.isoformat(), "last": planned[-1].starts_at.isoformat(),
        "double_bookings": [c.text for c in double_booked],
    })
    operation.done = total
    operation.status = "succeeded"
    operation.message = f"{total} sessions scheduled, {planned[0].starts_at:%-d %b %Y} to {planned[-1].starts_at:%-d %b %Y}"
    if double_booked:
        n = len(double_booked)
        operation.message += f"; {n} facilitator double booking{'s' if n != 1 else ''} to check"
    operation.result = {"sessions": total, "clashes": [c.entry for c in double_booked]}
    db.session.commit()


@dataclass(frozen=True)
class StartClashes:
    clashes: list[Clash] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.clashes)

    @property
    def message(self) -> str:
        return f"{already_booked(self.clashes)} as sessions of this group"


def start_clashes(operation: Operation | None) -> StartClashes:
    """The facilitator double bookings a group's start made that still hold (the group page lists them until
    each is resolved: another facilitator, or a session moved)."""
    if operation is None or operation.kind != "generate" or operation.status != "succeeded":
        return StartClashes()
    return StartClashes(still_clashing((operation.result or {}).get("clashes", [])))


def schedule_rows(group: Group) -> list[Session]:
    """The group's timeline (scheduled sessions, catch-ups and one-to-ones, cancelled ones included; not those
    deleted as booked in error) in date order."""
    return list(db.session.scalars(
        select(Session).where(Session.group_id == group.id, Session.deleted_at.is_(None))
        .order_by(Session.starts_at, Session.id)
        .options(selectinload(Session.session_template).selectinload(SessionTemplate.module),
                 selectinload(Session.facilitators).selectinload(SessionFacilitator.facilitator))
    ))
