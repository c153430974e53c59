"""Group size over time: for each group, each week from its first member joining until its last session (or
this week), how many people were in it at the end of the week, and who joined and left that week. This week's
figure is the group's members now, as the groups list shows."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from sqlalchemy import and_, func, select

from app import clock
from app.extensions import db
from app.models import Facilitator, Group, GroupFacilitator, Membership, Region, Session
from app.services.reports import Report, local_day, region_scope, week_of

HEADER = ["Region", "Group", "Cohort", "Learning disability", "Sex", "Delivery location", "Lead facilitator",
          "Lead staff code", "Week beginning", "Members at end of week", "Joined that week", "Left that week"]


def header(_region_id: int | None) -> list[str]:
    return list(HEADER)


def rows(region_id: int | None) -> Iterator[list[str]]:
    scope = region_scope(region_id)
    groups = db.session.execute(
        select(Group.id, Region.name, Group.code, Group.cohort, Group.learning_disability, Group.sex,
               Group.delivery_location, Facilitator.name, Facilitator.staff_code)
        .join(Region, Region.id == Group.region_id)
        .outerjoin(GroupFacilitator, and_(GroupFacilitator.group_id == Group.id, GroupFacilitator.role == "lead"))
        .outerjoin(Facilitator, Facilitator.id == GroupFacilitator.facilitator_id)
        .where(scope).order_by(Region.name, Group.code)
    ).all()
    last_session = dict(db.session.execute(
        select(Session.group_id, func.max(Session.starts_at)).join(Group, Group.id == Session.group_id)
        .where(scope, Session.status == "scheduled").group_by(Session.group_id)
    ).all())
    today = clock.today()
    stays: dict[int, list[tuple[date, date | None]]] = {}
    for group_id, joined_at, left_at in db.session.execute(
        select(Membership.group_id, Membership.joined_at, Membership.left_at)
        .join(Group, Group.id == Membership.group_id).where(scope)
    ):
        joined = min(local_day(joined_at), today)  # never after today, whatever clock the row was written by
        stays.setdefault(group_id, []).append((joined, local_day(left_at) if left_at else None))
    for group_id, region, code, cohort, ld, sex, location, lead, staff_code in groups:
        periods = stays.get(group_id, [])
        if not periods:
            continue
        last = last_session.get(group_id)
        end = week_of(min(today, last.date()) if last else today)
        week = min(week_of(min(joined for joined, _ in periods)), end)
        fixed = [region, code, cohort.capitalize(), "Yes" if ld else "No", sex.capitalize(), location,
                 lead or "", staff_code or ""]
        while week <= end:
            closes = min(week + timedelta(days=6), today)
            members = sum(1 for joined, left in periods if joined <= closes and (left is None or left > closes))
            joined_n = sum(1 for joined, _ in periods if week <= joined <= closes)
            left_n = sum(1 for _, left in periods if left is not None and week <= left <= closes)
            yield [*fixed, week.isoformat(), str(members), str(joined_n), str(left_n)]
            week += timedelta(days=7)


REPORT = Report(
    slug="group-size", title="Group size over time",
    description="Each group, week by week from its first member joining to its last session: the people in it at "
                "the end of the week, and how many joined and left that week.",
    header=header, rows=rows)
