"""The waiting list: a region's referrals awaiting allocation to a group, with how long each has waited."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, func, or_, select, true

from app import clock
from app.extensions import db
from app.models import Membership, Referral, User
from app.models.base import UTCDateTime
from app.scheduling.bus_stop import last_day_to_rejoin, within_window

WAITING = "Awaiting allocation"
PAGE_SIZE = 50


@dataclass(frozen=True)
class Filters:
    sex: str = ""
    cohort: str = ""
    ldc: str = ""  # "yes" | "no" | ""
    q: str = ""
    page: int = 1

    @property
    def active(self) -> bool:
        return bool(self.sex or self.cohort or self.ldc or self.q)


@dataclass(frozen=True)
class Row:
    referral: Referral
    waiting_since: date
    days_waiting: int
    rejoin_until: date | None  # set while they can still rejoin a group at the point they reached


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    total: int
    page: int
    pages: int

    @property
    def first(self) -> int:
        return (self.page - 1) * PAGE_SIZE + 1 if self.total else 0

    @property
    def last(self) -> int:
        return min(self.page * PAGE_SIZE, self.total)


def referral_scope(user: User) -> ColumnElement[bool]:
    """Admins see every region; everybody else only their own."""
    return true() if user.role == "admin" else Referral.region_id == user.region_id


def get_referral(user: User, referral_id: int) -> Referral | None:
    return db.session.scalar(select(Referral).where(Referral.id == referral_id, referral_scope(user)))


def _local_date(instant: datetime) -> date:
    return instant.astimezone(clock.LONDON).date()


def waiting_list(user: User, filters: Filters) -> Page:
    """Longest waiting first. Someone who left a group waits from the day they left it."""
    last_left = (
        select(Membership.referral_id, func.max(Membership.left_at).label("left_at"))
        .group_by(Membership.referral_id).subquery()
    )
    in_group = select(Membership.id).where(Membership.referral_id == Referral.id, Membership.left_at.is_(None))
    since = func.coalesce(last_left.c.left_at, Referral.created_at, type_=UTCDateTime())
    query = (
        select(Referral, last_left.c.left_at, since.label("since"))
        .outerjoin(last_left, last_left.c.referral_id == Referral.id)
        .where(referral_scope(user), Referral.status == WAITING, ~in_group.exists())
    )
    if filters.sex:
        query = query.where(Referral.sex == filters.sex)
    if filters.cohort:
        query = query.where(Referral.cohort == filters.cohort)
    if filters.ldc:
        query = query.where(Referral.learning_disability.is_(filters.ldc == "yes"))
    if filters.q.strip():
        term = f"%{filters.q.strip().lower()}%"
        query = query.where(or_(func.lower(Referral.person_name).like(term), func.lower(Referral.crn).like(term)))

    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, filters.page), pages)
    today = clock.today()
    rows = []
    for referral, left_at, since_at in db.session.execute(
        query.order_by(since.asc(), Referral.id).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ):
        waiting_since = _local_date(since_at)
        left_on = _local_date(left_at) if left_at else None
        rejoin = last_day_to_rejoin(left_on) if left_on and within_window(left_on, today) else None
        rows.append(Row(referral, waiting_since, max(0, (today - waiting_since).days), rejoin))
    return Page(rows, total, page, pages)
