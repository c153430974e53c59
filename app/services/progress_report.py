"""What leads read: the regional dashboard and its CSV export (the group grid is app.services.progress_grid).

Everything comes from the stored per-referral progress, TemplateCompletion and aggregate SQL: a fixed number
of queries for a group of any size, and no Python loops over national row sets."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, case, func, select, true

from app import clock
from app.extensions import db
from app.labels import NOT_RECORDED, OUTCOME_LABELS
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
    User,
)
from app.services.groups import region_filter

ATTENDED = ("ATTC", "AFTC")


# ------------------------------------------------------------------------------------------------ dashboard

NOT_STARTED, STARTING_SOON, FINISHED = "Not started", "Starting soon", "Finished"


@dataclass
class GroupStage:
    group_id: int
    code: str
    stage: str
    delivered: int
    total: int
    rank: int = 0
    """Where the stage falls in the programme, for ordering: before the first module, the module's number
    (from the template data, never a list of module names), after the last."""


@dataclass
class Rate:
    sex: str
    cohort: str
    numerator: int
    denominator: int

    @property
    def percent(self) -> int:
        return round(100 * self.numerator / self.denominator) if self.denominator else 0


@dataclass
class Dashboard:
    stages: list[GroupStage]
    stage_counts: list[tuple[str, int]]
    attendance: list[Rate]
    compliance: list[Rate]
    completion: list[Rate]
    average_percent: list[Rate]
    people: int
    recorded: int


def _region_scope(user: User, region_id: int | None) -> ColumnElement[bool]:
    if user.role == "admin":
        return Group.region_id == region_id if region_id else true()
    return region_filter(user)


def group_stages(user: User, region_id: int | None = None) -> list[GroupStage]:
    now = clock.now_local()
    scheduled = and_(Session.group_id == Group.id, Session.kind == "scheduled", Session.status == "scheduled")
    total = select(func.count(Session.id)).where(scheduled).correlate(Group).scalar_subquery()
    delivered = select(func.count(Session.id)).where(scheduled, Session.starts_at <= now).correlate(Group) \
        .scalar_subquery()
    last = (
        select(Module.module_number).select_from(Session)
        .join(SessionTemplate, SessionTemplate.id == Session.session_template_id)
        .join(Module, Module.id == SessionTemplate.module_id)
        .where(scheduled, Session.starts_at <= now).order_by(Session.starts_at.desc()).limit(1)
        .correlate(Group).scalar_subquery()
    )
    last_role = (
        select(func.coalesce(Module.role, "") + "|" + Module.name).select_from(Session)
        .join(SessionTemplate, SessionTemplate.id == Session.session_template_id)
        .join(Module, Module.id == SessionTemplate.module_id)
        .where(scheduled, Session.starts_at <= now).order_by(Session.starts_at.desc()).limit(1)
        .correlate(Group).scalar_subquery()
    )
    stages = []
    for group_id, code, started_at, n_total, n_delivered, module_number, role in db.session.execute(
        select(Group.id, Group.code, Group.started_at, total, delivered, last, last_role)
        .where(_region_scope(user, region_id)).order_by(Group.code)
    ):
        if started_at is None or not n_total:
            stage, rank = NOT_STARTED, -2
        elif not n_delivered:
            stage, rank = STARTING_SOON, -1
        elif n_delivered >= n_total:
            stage, rank = FINISHED, 10_000
        else:
            module_role, _, module_name = (role or "|").partition("|")
            # A module with a role (pre-group, post-programme) is named as in the template; the group modules
            # by number, as facilitators speak of them.
            stage, rank = (module_name if module_role else f"Module {module_number}"), module_number or 0
        stages.append(GroupStage(group_id, code, stage, n_delivered or 0, n_total or 0, rank))
    return stages


def dashboard(user: User, region_id: int | None = None) -> Dashboard:
    stages = group_stages(user, region_id)
    counts: dict[tuple[int, str], int] = {}
    for s in stages:
        counts[(s.rank, s.stage)] = counts.get((s.rank, s.stage), 0) + 1
    stage_counts = [(label, n) for (_, label), n in sorted(counts.items())]
    scope = _region_scope(user, region_id)
    in_scope = select(Membership.referral_id).join(Group, Group.id == Membership.group_id).where(scope)
    # From the stored per-person counters (kept in the attendance transaction), not from attendance rows.
    recorded = db.session.execute(
        select(Referral.sex, Referral.cohort, func.sum(ReferralProgress.outcomes_recorded),
               func.sum(ReferralProgress.outcomes_attended), func.sum(ReferralProgress.outcomes_complied))
        .join(ReferralProgress, ReferralProgress.referral_id == Referral.id)
        .where(Referral.id.in_(in_scope), ReferralProgress.outcomes_recorded > 0)
        .group_by(Referral.sex, Referral.cohort).order_by(Referral.sex, Referral.cohort)
    ).all()
    attendance_rows = [(sex, cohort, int(n or 0), att, comp) for sex, cohort, n, att, comp in recorded]
    completion_rows = db.session.execute(
        select(Referral.sex, Referral.cohort, func.count(Referral.id),
               func.sum(case((ReferralProgress.complete.is_(True), 1), else_=0)),
               func.sum(func.coalesce(ReferralProgress.percent, 0)))
        .outerjoin(ReferralProgress, ReferralProgress.referral_id == Referral.id)
        .where(Referral.id.in_(in_scope))
        .group_by(Referral.sex, Referral.cohort).order_by(Referral.sex, Referral.cohort)
    ).all()
    return Dashboard(
        stages=stages, stage_counts=stage_counts,
        attendance=[Rate(sex, cohort, int(att or 0), n) for sex, cohort, n, att, _ in attendance_rows],
        compliance=[Rate(sex, cohort, int(comp or 0), n) for sex, cohort, n, _, comp in attendance_rows],
        completion=[Rate(sex, cohort, int(done or 0), n) for sex, cohort, n, done, _ in completion_rows],
        average_percent=[Rate(sex, cohort, int(total or 0), n * 100) for sex, cohort, n, _, total in completion_rows],
        people=sum(n for _, _, n, _, _ in completion_rows),
        recorded=sum(n for _, _, n, _, _ in attendance_rows),
    )


CSV_HEADER = ["Region", "Group", "CRN", "Name", "Sex", "Cohort", "Status", "In group", "Sessions complete",
              "Sessions in programme", "Percent complete", "Modules complete", "Programme complete", OUTCOME_LABELS["ATTC"],
              OUTCOME_LABELS["AFTC"], OUTCOME_LABELS["UAAB"], "Acceptable absences", NOT_RECORDED]


def export_rows(user: User, region_id: int | None = None, group_id: int | None = None) -> Iterator[list[str]]:
    """One line per person per group in scope, streamed from one aggregate query."""
    scope = _region_scope(user, region_id)
    counts = (
        select(Attendee.referral_id.label("referral_id"), Session.group_id.label("group_id"),
               func.sum(case((Attendance.outcome == "ATTC", 1), else_=0)).label("attc"),
               func.sum(case((Attendance.outcome == "AFTC", 1), else_=0)).label("aftc"),
               func.sum(case((Attendance.outcome == "UAAB", 1), else_=0)).label("uaab"),
               func.sum(case((Attendance.outcome.like("AA%"), 1), else_=0)).label("aa"),
               func.sum(case((and_(Attendance.id.is_(None), Session.starts_at <= clock.now_local()), 1),
                             else_=0)).label("tbc"))
        .select_from(Attendee).join(Session, Session.id == Attendee.session_id)
        .join(Group, Group.id == Session.group_id)
        .outerjoin(Attendance, Attendance.attendee_id == Attendee.id)
        .where(Attendee.removed_at.is_(None), Session.status == "scheduled", scope,
               *([Group.id == group_id] if group_id is not None else []))
        .group_by(Attendee.referral_id, Session.group_id).subquery("counts")
    )
    query = (
        select(Region.name, Group.code, Referral.crn, Referral.person_name, Referral.sex, Referral.cohort,
               Referral.status, Membership.left_at, ReferralProgress.sessions_completed,
               ReferralProgress.sessions_total, ReferralProgress.percent, ReferralProgress.modules_completed,
               ReferralProgress.complete, counts.c.attc, counts.c.aftc, counts.c.uaab, counts.c.aa, counts.c.tbc)
        .select_from(Membership).join(Group, Group.id == Membership.group_id)
        .join(Region, Region.id == Group.region_id).join(Referral, Referral.id == Membership.referral_id)
        .outerjoin(ReferralProgress, ReferralProgress.referral_id == Referral.id)
        .outerjoin(counts, and_(counts.c.referral_id == Referral.id, counts.c.group_id == Group.id))
        .where(scope).order_by(Region.name, Group.code, Referral.person_name)
    )
    if group_id is not None:
        query = query.where(Group.id == group_id)
    for row in db.session.execute(query.execution_options(yield_per=1000)):
        (region, code, crn, name, sex, cohort, status, left_at, done, total, percent, modules, complete,
         attc, aftc, uaab, aa, tbc) = row
        yield [region, code, crn, name, sex, cohort, status, "No" if left_at else "Yes", str(done or 0),
               str(total or 0), str(percent or 0), str(modules or 0), "Yes" if complete else "No",
               str(attc or 0), str(aftc or 0), str(uaab or 0), str(aa or 0), str(tbc or 0)]
