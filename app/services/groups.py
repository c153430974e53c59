"""Creating groups and reading them, always within the signed-in user's region."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import selectinload

from app import clock
from app.extensions import db
from app.models import Facilitator, Group, GroupFacilitator, GroupSlot, Membership, User
from app.models.group import DAY_NAMES
from app.scheduling import Slot
from app.services import audit
from app.services.errors import ServiceError
from app.services.programme import current_template


@dataclass(frozen=True)
class GroupInput:
    code: str
    cohort: str
    sex: str
    learning_disability: bool
    delivery_location: str
    earliest_start_date: date
    slots: tuple[Slot, ...]
    lead_facilitator_id: int
    cover_facilitator_ids: tuple[int, ...] = field(default=())


def region_filter(user: User, region_id: int | None = None) -> ColumnElement[bool]:
    """Admins see every region, or the one they chose (`region_id`, app.web.region_choice); everybody else only
    their own, whatever they ask for."""
    if user.role != "admin":
        return Group.region_id == user.region_id
    return true() if region_id is None else Group.region_id == region_id


@dataclass(slots=True, eq=False)
class Listed:
    """A row of the groups list: plain columns, and the days and times already worded."""

    id: int
    code: str
    cohort: str
    learning_disability: bool
    sex: str
    started_at: datetime | None
    members: int
    slots: str
    state: str = "not_started"  # app.services.group_finish: not_started | started | finished | closed
    state_label: str = "Not started"
    state_tag: str = "grey"


def groups_for(user: User, region_id: int | None = None) -> list[Listed]:
    """The user's groups (an admin's: of the region chosen, or all) with their days and times and member counts,
    in two queries whatever their number."""
    members = (
        select(func.count(Membership.id)).where(Membership.group_id == Group.id, Membership.left_at.is_(None))
        .correlate(Group).scalar_subquery()
    )
    rows = db.session.execute(
        select(Group.id, Group.code, Group.cohort, Group.learning_disability, Group.sex, Group.started_at,
               Group.closed_at, members.label("members")).where(region_filter(user, region_id)).order_by(Group.code)
    ).all()
    slots: dict[int, list[str]] = {}
    for group_id, day, start in db.session.execute(
        select(GroupSlot.group_id, GroupSlot.day_of_week, GroupSlot.start_time).join(Group)
        .where(region_filter(user, region_id))
        .order_by(GroupSlot.group_id, GroupSlot.day_of_week, GroupSlot.start_time)
    ):
        slots.setdefault(group_id, []).append(f"{DAY_NAMES[day]} {start:%H:%M}")
    from app.services.group_finish import states

    finish = states((r.id, r.started_at, r.closed_at) for r in rows)
    return [Listed(r.id, r.code, r.cohort, bool(r.learning_disability), r.sex, r.started_at, r.members or 0,
                   ", ".join(slots.get(r.id, [])), finish[r.id].state, finish[r.id].label, finish[r.id].tag)
            for r in rows]


def get_group(user: User, group_id: int) -> Group | None:
    return db.session.scalar(
        select(Group).where(Group.id == group_id, region_filter(user)).options(
            selectinload(Group.slots),
            selectinload(Group.facilitators).selectinload(GroupFacilitator.facilitator),
            selectinload(Group.memberships).selectinload(Membership.referral),
        )
    )


def facilitators_for(user: User) -> list[Facilitator]:
    """The staff a manager may choose from: their region's, as nDelius lists them now (app/services/staff.py)."""
    query = select(Facilitator).where(Facilitator.in_ndelius.is_(True)).order_by(Facilitator.name)
    if user.role != "admin":
        query = query.where(Facilitator.region_id == user.region_id)
    return list(db.session.scalars(query))


def create_group(actor: User, data: GroupInput) -> Group:
    if not data.slots:
        raise ServiceError("Add at least one day and time", "slots")
    if len(set(data.slots)) != len(data.slots):
        raise ServiceError("Each day and time can only be added once", "slots")
    if data.lead_facilitator_id in data.cover_facilitator_ids:
        raise ServiceError("The lead facilitator cannot also be a cover facilitator", "cover_facilitator_ids")
    if db.session.scalar(select(Group.id).filter_by(region_id=actor.region_id, code=data.code)):
        raise ServiceError(f"A group with code {data.code} already exists in your region", "code")
    wanted = {data.lead_facilitator_id, *data.cover_facilitator_ids}
    found = set(db.session.scalars(
        select(Facilitator.id).where(Facilitator.id.in_(wanted), Facilitator.region_id == actor.region_id)
    ))
    if found != wanted:
        raise ServiceError("Choose facilitators from your region", "lead_facilitator_id")
    # The version valid on the day the group is created (issue 15.10): a version published for a later date
    # is used by groups created from that date; groups already created keep theirs.
    template = current_template(clock.today())
    if template is None:
        raise ServiceError("No programme template is valid today: ask an admin to publish one", "code")

    group = Group(
        region_id=actor.region_id, code=data.code, cohort=data.cohort, sex=data.sex,
        learning_disability=data.learning_disability, delivery_location=data.delivery_location,
        earliest_start_date=data.earliest_start_date, template_id=template.id,
        treatment_manager_id=actor.id if actor.role == "treatment_manager" else None, created_by_id=actor.id,
    )
    group.slots = [GroupSlot(day_of_week=s.weekday, start_time=s.start) for s in data.slots]
    group.facilitators = [GroupFacilitator(facilitator_id=data.lead_facilitator_id, role="lead")] + [
        GroupFacilitator(facilitator_id=f, role="cover") for f in data.cover_facilitator_ids
    ]
    db.session.add(group)
    db.session.flush()
    audit.record(actor, "group.created", group, group_id=group.id, after={
        "code": group.code, "cohort": group.cohort, "sex": group.sex,
        "earliest_start_date": group.earliest_start_date.isoformat(),
        "slots": [f"{s.weekday}@{s.start:%H:%M}" for s in data.slots],
    })
    db.session.commit()
    return group
