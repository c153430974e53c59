"""Dosage: each person against every session of the programme; a cell names the group(s) where the person
attended that session (Attended, or Attended but failed to comply), so someone who moved groups (bus stopping)
shows both, and a session attended twice (a catch-up in another group) names both. "Sessions complete" is the
stored progress the dashboard reads (complied sessions of their current attempt)."""
from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from app.extensions import db
from app.models import (
    Attendance,
    Attendee,
    Group,
    Membership,
    Module,
    Referral,
    ReferralProgress,
    Region,
    Session,
    SessionTemplate,
)
from app.services.progress import ATTENDED_OUTCOMES
from app.services.reports import Report, region_scope

FIXED = ["Region", "CRN", "Name", "Status", "Groups", "Sessions attended", "Sessions complete"]


def _columns(region_id: int | None) -> list[tuple[int, int, str]]:
    """(module number, session number, name) of every session of the programme versions the region's groups
    follow, in programme order (versions number their sessions alike, so they share a column)."""
    found: dict[tuple[int, int], str] = {}
    for module_number, session_number, name in db.session.execute(
        select(Module.module_number, SessionTemplate.session_number, SessionTemplate.name)
        .join(SessionTemplate, SessionTemplate.module_id == Module.id)
        .where(Module.template_id.in_(select(Group.template_id).where(region_scope(region_id))))
        .order_by(Module.module_number, SessionTemplate.session_number, Module.template_id.desc())
    ):
        found.setdefault((module_number, session_number), name)
    return [(m, s, name) for (m, s), name in found.items()]


def header(region_id: int | None) -> list[str]:
    return [*FIXED, *(f"{m}.{s} {name}" for m, s, name in _columns(region_id))]


def rows(region_id: int | None) -> Iterator[list[str]]:
    scope = region_scope(region_id)
    columns = {(m, s): n for n, (m, s, _) in enumerate(_columns(region_id))}
    in_scope = select(Membership.referral_id).join(Group, Group.id == Membership.group_id).where(scope)
    groups: dict[int, list[str]] = {}
    for referral_id, code in db.session.execute(
        select(Membership.referral_id, Group.code).join(Group, Group.id == Membership.group_id).where(scope)
        .order_by(Membership.referral_id, Membership.joined_at, Membership.id)
    ):
        if code not in groups.setdefault(referral_id, []):
            groups[referral_id].append(code)
    cells: dict[int, list[list[str]]] = {}
    for referral_id, module_number, session_number, code in db.session.execute(
        select(Attendee.referral_id, Module.module_number, SessionTemplate.session_number, Group.code)
        .join(Attendance, Attendance.attendee_id == Attendee.id)
        .join(Session, Session.id == Attendee.session_id).join(Group, Group.id == Session.group_id)
        .join(SessionTemplate, SessionTemplate.id == Session.session_template_id)
        .join(Module, Module.id == SessionTemplate.module_id)
        .where(scope, Attendance.outcome.in_(ATTENDED_OUTCOMES), Attendee.referral_id.in_(in_scope))
        .order_by(Attendee.referral_id, Session.starts_at, Session.id)
    ):
        at = columns.get((module_number, session_number))
        if at is None:
            continue
        row = cells.setdefault(referral_id, [[] for _ in columns])
        if code not in row[at]:
            row[at].append(code)
    for referral_id, region, crn, name, status, complete in db.session.execute(
        select(Referral.id, Region.name, Referral.crn, Referral.person_name, Referral.status,
               ReferralProgress.sessions_completed)
        .join(Region, Region.id == Referral.region_id)
        .outerjoin(ReferralProgress, ReferralProgress.referral_id == Referral.id)
        .where(Referral.id.in_(in_scope)).order_by(Region.name, Referral.person_name, Referral.id)
    ):
        row = cells.get(referral_id) or [[] for _ in columns]
        yield [region, crn, name, status, " / ".join(groups.get(referral_id, [])),
               str(sum(1 for cell in row if cell)), str(complete or 0), *(" / ".join(cell) for cell in row)]


REPORT = Report(
    slug="dosage", title="Dosage",
    description="Each person against every session of the programme: the group where they attended it (two groups "
                "for someone who moved group), with the sessions they attended and completed.",
    header=header, rows=rows, person_columns=(1, 2))
