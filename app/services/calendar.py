"""The calendar: a week or a month of sessions for one group, one facilitator or the whole region (SPEC §7).

Every query is scoped to the signed-in person's region (admins see every region)."""
from __future__ import annotations

import calendar as stdlib_calendar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app import clock, labels
from app.extensions import db
from app.models import Facilitator, Group, Session, SessionFacilitator, SessionTemplate, User
from app.services.bank_holidays import lookup as holiday_lookup
from app.services.groups import region_filter
from app.services.programme import SessionTemplateInfo, session_template_info

VIEWS = ("week", "month")
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Scope:
    """What the calendar shows: a group, a facilitator, or (neither) the whole region."""

    group: Group | None = None
    facilitator: Facilitator | None = None
    region_name: str | None = None  # the region shown (an admin's "All regions" when they chose none)

    @property
    def label(self) -> str:
        if self.group is not None:
            return f"Group {self.group.code}"
        if self.facilitator is not None:
            return self.facilitator.name
        return self.region_name or "Whole region"


@dataclass(slots=True, eq=False)
class GroupCode:
    id: int
    code: str


@dataclass(slots=True, eq=False)
class CalendarSession:
    """What the calendar shows of a session (plain columns; the template from the per-process catalogue)."""

    id: int
    group_id: int
    kind: str
    status: str
    starts_at: datetime
    ends_at: datetime
    group: GroupCode
    session_template: SessionTemplateInfo


@dataclass
class Day:
    day: date
    sessions: list[CalendarSession] = field(default_factory=list)
    holiday: str | None = None
    today: bool = False
    in_period: bool = True

    @property
    def weekend(self) -> bool:
        return self.day.weekday() >= 5


@dataclass
class CalendarPage:
    view: str
    anchor: date
    first: date
    last: date
    weeks: list[list[Day]]
    title: str
    previous: date
    following: date
    session_count: int
    holiday_source: str = ""  # where the bank holidays marked came from (stored data, or the holidays library)


def session_kind(session: Session | CalendarSession) -> tuple[str, str]:
    """(css modifier, text label): the type is always said in words, colour only repeats it (app.labels)."""
    return labels.session_kind(session.kind, session.session_template.session_type)


def period(view: str, anchor: date) -> tuple[date, date, date, date, str]:
    """(first, last, previous anchor, next anchor, title) of the week (Monday to Sunday) or of the month laid
    out in whole weeks."""
    if view == "week":
        first = anchor - timedelta(days=anchor.weekday())
        last = first + 6 * DAY
        if first.month == last.month:
            title = f"{first.day} to {last.day} {last:%B %Y}"
        elif first.year == last.year:
            title = f"{first.day} {first:%B} to {last.day} {last:%B %Y}"
        else:
            title = f"{first.day} {first:%B %Y} to {last.day} {last:%B %Y}"
        return first, last, first - 7 * DAY, first + 7 * DAY, f"Week of {title}"
    month_start = anchor.replace(day=1)
    month_end = anchor.replace(day=stdlib_calendar.monthrange(anchor.year, anchor.month)[1])
    first = month_start - timedelta(days=month_start.weekday())
    last = month_end + timedelta(days=6 - month_end.weekday())
    previous = (month_start - DAY).replace(day=1)
    following = month_end + DAY
    return first, last, previous, following, f"{anchor:%B %Y}"


def group_for(user: User, group_id: int) -> Group | None:
    return db.session.scalar(select(Group).where(Group.id == group_id, region_filter(user)))


def facilitator_for(user: User, facilitator_id: int) -> Facilitator | None:
    query = select(Facilitator).where(Facilitator.id == facilitator_id)
    if user.role != "admin":
        query = query.where(Facilitator.region_id == user.region_id)
    return db.session.scalar(query)


def session_for(user: User, session_id: int) -> Session | None:
    """A session of the user's region, or None (the route answers 404)."""
    return db.session.scalar(
        select(Session).join(Group, Group.id == Session.group_id)
        .where(Session.id == session_id, region_filter(user))
        .options(selectinload(Session.session_template).selectinload(SessionTemplate.module),
                 selectinload(Session.group).selectinload(Group.slots))
    )


@dataclass(slots=True, eq=False)
class FacilitatorName:
    id: int
    name: str


def scope_choices(user: User, region_id: int | None = None) -> tuple[list[GroupCode], list[FacilitatorName]]:
    """The region's groups (by code) and facilitators (by name) to choose from: plain values. `region_id`: the
    region an admin chose (None: every region)."""
    groups = [GroupCode(i, code) for i, code in db.session.execute(
        select(Group.id, Group.code).where(region_filter(user, region_id)).order_by(Group.code))]
    query = select(Facilitator.id, Facilitator.name).order_by(Facilitator.name)
    region = user.region_id if user.role != "admin" else region_id
    if region is not None:
        query = query.where(Facilitator.region_id == region)
    return groups, [FacilitatorName(i, name) for i, name in db.session.execute(query)]


def sessions_between(user: User, first: date, last: date, scope: Scope,
                     region_id: int | None = None) -> list[CalendarSession]:
    query = (
        select(Session.id, Session.group_id, Session.kind, Session.status, Session.starts_at, Session.ends_at,
               Session.session_template_id, Group.code)
        .join(Group, Group.id == Session.group_id)
        .where(region_filter(user, region_id), Session.deleted_at.is_(None),
               Session.starts_at >= datetime.combine(first, time.min),
               Session.starts_at < datetime.combine(last + DAY, time.min))
        .order_by(Session.starts_at, Group.code, Session.id)
    )
    if scope.group is not None:
        query = query.where(Session.group_id == scope.group.id)
    if scope.facilitator is not None:
        query = query.where(Session.id.in_(
            select(SessionFacilitator.session_id).where(SessionFacilitator.facilitator_id == scope.facilitator.id)
        ))
    return [CalendarSession(r.id, r.group_id, r.kind, r.status, r.starts_at, r.ends_at, GroupCode(r.group_id, r.code),
                            session_template_info(r.session_template_id)) for r in db.session.execute(query)]


def heading(view: str, anchor: date) -> CalendarPage:
    """The period's title and neighbours without its sessions (for what surrounds the kept weeks)."""
    first, last, previous, following, title = period(view, anchor)
    return CalendarPage(view=view, anchor=anchor, first=first, last=last, weeks=[], title=title, previous=previous,
                        following=following, session_count=0)


def calendar_page(user: User, view: str, anchor: date, scope: Scope, region_id: int | None = None) -> CalendarPage:
    first, last, previous, following, title = period(view, anchor)
    sessions = sessions_between(user, first, last, scope, region_id)
    holidays, holiday_source = holiday_lookup(first, last)
    today = clock.today()
    by_day: dict[date, list[CalendarSession]] = {}
    for session in sessions:
        by_day.setdefault(session.starts_at.date(), []).append(session)
    weeks: list[list[Day]] = []
    day = first
    while day <= last:
        week = []
        for _ in range(7):
            week.append(Day(day, by_day.get(day, []), holidays.get(day), day == today,
                            view == "week" or day.month == anchor.month))
            day += DAY
        weeks.append(week)
    return CalendarPage(view=view, anchor=anchor, first=first, last=last, weeks=weeks, title=title,
                        previous=previous, following=following, session_count=len(sessions),
                        holiday_source=holiday_source.sentence())
