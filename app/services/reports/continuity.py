"""Facilitator continuity: for each group, the share of its delivered sessions led by its lead facilitator.
Delivered is the dashboard's word: a session of the group's schedule (not a catch-up or a booked one-to-one)
that has started and is not cancelled, so "Sessions delivered" is the dashboard's figure for the group."""
from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import and_, select

from app import clock
from app.extensions import db
from app.models import Facilitator, Group, GroupFacilitator, Region, Session, SessionFacilitator
from app.services.reports import Report, region_scope

HEADER = ["Region", "Group", "Lead facilitator", "Lead staff code", "Sessions delivered",
          "Led by the group's lead", "Led by someone else", "No lead recorded", "Share led by the group's lead (%)",
          "Others who led (sessions)"]


def header(_region_id: int | None) -> list[str]:
    return list(HEADER)


def rows(region_id: int | None) -> Iterator[list[str]]:
    scope = region_scope(region_id)
    groups = db.session.execute(
        select(Group.id, Region.name, Group.code, GroupFacilitator.facilitator_id)
        .join(Region, Region.id == Group.region_id)
        .outerjoin(GroupFacilitator, and_(GroupFacilitator.group_id == Group.id, GroupFacilitator.role == "lead"))
        .where(scope).order_by(Region.name, Group.code)
    ).all()
    led: dict[int, dict[int | None, int]] = {}
    for group_id, facilitator_id in db.session.execute(
        select(Session.group_id, SessionFacilitator.facilitator_id)
        .join(Group, Group.id == Session.group_id)
        .outerjoin(SessionFacilitator, and_(SessionFacilitator.session_id == Session.id,
                                            SessionFacilitator.role == "lead"))
        .where(scope, Session.kind == "scheduled", Session.status == "scheduled",
               Session.starts_at <= clock.now_local())
    ):
        counts = led.setdefault(group_id, {})
        counts[facilitator_id] = counts.get(facilitator_id, 0) + 1
    people = {f.id: f for f in db.session.scalars(
        select(Facilitator).where(Facilitator.region_id.in_(select(Group.region_id).where(scope))))}
    for group_id, region, code, lead_id in groups:
        counts = led.get(group_id, {})
        delivered = sum(counts.values())
        by_lead = counts.get(lead_id, 0) if lead_id is not None else 0
        unrecorded = counts.get(None, 0)
        others = sorted(((people[f].name if f in people else f"Facilitator {f}", n)
                         for f, n in counts.items() if f is not None and f != lead_id), key=lambda p: (-p[1], p[0]))
        lead = people.get(lead_id) if lead_id is not None else None
        share = round(100 * by_lead / delivered) if delivered else 0
        yield [region, code, lead.name if lead else "", lead.staff_code if lead else "", str(delivered),
               str(by_lead), str(delivered - by_lead - unrecorded), str(unrecorded),
               str(share) if delivered else "", "; ".join(f"{name} ({n})" for name, n in others)]


REPORT = Report(
    slug="facilitator-continuity", title="Facilitator continuity",
    description="Each group's delivered sessions (those that have started), how many its lead facilitator led and "
                "who led the others.",
    header=header, rows=rows)
