"""Whether a person may join a group (SPEC §2–3): the checks every way of allocating shares, so the allocate
page, "Find a group" and anything else that calls `membership.allocate` refuse the same people for the same
reasons. Where in the programme they may join (bus stopping) is `app.services.bus_stop.place_refusal`."""
from __future__ import annotations

from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import Group, Membership, Referral, Session
from app.models.group import GROUP_SIZE_LIMIT
from app.models.referral import CLOSED_STATUSES
from app.services import needs as needs_service

LDC = "an LDC group (learning disabilities and challenges)"


def places_free(members: int) -> int:
    """Places left in a group of `members` people (the limit is GROUP_SIZE_LIMIT; pages show this)."""
    return max(0, GROUP_SIZE_LIMIT - members)


def member_count(group: Group) -> int:
    return db.session.scalar(select(func.count(Membership.id)).where(
        Membership.group_id == group.id, Membership.left_at.is_(None))) or 0


def member_counts(group_ids: list[int]) -> dict[int, int]:
    """member_count of many groups in one query (lists of groups: no query per group)."""
    if not group_ids:
        return {}
    return dict(db.session.execute(
        select(Membership.group_id, func.count(Membership.id))
        .where(Membership.group_id.in_(group_ids), Membership.left_at.is_(None)).group_by(Membership.group_id)
    ).all())


def future_sessions(group: Group, kinds: tuple[str, ...] = ("scheduled",)) -> list[Session]:
    """The group's sessions not yet started (group sessions and one-to-one placeholders by default)."""
    return list(db.session.scalars(
        select(Session).where(Session.group_id == group.id, Session.kind.in_(kinds),
                              Session.status == "scheduled", Session.starts_at > clock.now_local())
        .order_by(Session.starts_at, Session.id)
    ))


def matching_mismatch(group: Group, referral: Referral) -> str | None:
    """Sex, offence cohort and the learning-disability flag must match the group (the real service's cohort
    is cohort and LDC together: GENERAL, GENERAL_LDC, SEXUAL, SEXUAL_LDC)."""
    if group.sex != "mixed" and group.sex != referral.sex:
        return f"Group {group.code} is a {group.sex} group and {referral.person_name} is {referral.sex}"
    if group.cohort != referral.cohort:
        return (f"Group {group.code} is for the {group.cohort} offence cohort and {referral.person_name} is in "
                f"the {referral.cohort} offence cohort")
    if bool(group.learning_disability) != bool(referral.learning_disability):
        if group.learning_disability:
            return f"Group {group.code} is {LDC} and {referral.person_name} does not need one"
        return f"Group {group.code} is not {LDC} and {referral.person_name} needs one"
    return None


def refusal(group: Group, referral: Referral, *, members: int | None = None, has_future: bool | None = None,
            needs: needs_service.Needs | None = None, minutes: int | None = None) -> str | None:
    """Why this person cannot join this group, or None (the point of the programme is checked apart, by
    bus_stop.place_refusal). `members` / `has_future` / `needs` (what the person cannot do) / `minutes` (how long
    the group's sessions last) may be given when already known, to save queries."""
    if referral.region_id != group.region_id:
        return f"{referral.person_name} is in another region"
    if referral.status in CLOSED_STATUSES:
        return f"{referral.person_name}'s referral is closed ({referral.status})"
    if referral.requirement_terminated_at is not None:  # issue 14.3
        return f"No further appointments can be made for {referral.person_name}: {referral.requirement_terminated_reason}"
    mismatch = matching_mismatch(group, referral)
    if mismatch:
        return mismatch
    if needs is None:
        needs = needs_service.of(referral)
    if needs.any:
        if minutes is None:
            minutes = needs_service.group_minutes([group.template_id])[group.template_id]
        stopped = needs_service.refusal(group, referral, needs, minutes)
        if stopped:
            return stopped
    if not places_free(member_count(group) if members is None else members):
        return f"Group {group.code} is full ({GROUP_SIZE_LIMIT} people)"
    if group.started_at is not None and not (bool(future_sessions(group)) if has_future is None else has_future):
        return f"Group {group.code} has no sessions left"
    return None
