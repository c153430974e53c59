"""What leads read: a group's progress grid (people × sessions), the regional dashboard and its CSV export.

Everything comes from the stored per-referral progress, TemplateCompletion and aggregate SQL: a fixed number
of queries for a group of any size, and no Python loops over national row sets."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import joinedload

from app import clock
from app.extensions import db
from app.models import (
    Attendance,
    Attendee,
    Group,
    Membership,
    Module,
    ProgrammeTemplate,
    Referral,
    ReferralProgress,
    Region,
    Session,
    SessionTemplate,
    TemplateCompletion,
    User,
)
from app.services.groups import region_filter
from app.services.programme import load_template

ATTENDED = ("ATTC", "AFTC")


# ------------------------------------------------------------------------------------------------ the grid

@dataclass
class Cell:
    state: str
    """complete | complete_elsewhere | before_restart (ATTC that no longer counts: they restarted the programme
    since) | missed (AFTC/UAAB) | absent (AA…) | unrecorded | upcoming | not_expected"""
    outcome: str | None = None
    catch_ups: int = 0
    one_to_ones: int = 0


@dataclass
class Column:
    template: SessionTemplate
    session: Session | None
    is_now: bool = False


@dataclass
class ModuleColumns:
    module: Module
    columns: list[Column]


@dataclass
class PersonRow:
    membership: Membership
    progress: ReferralProgress | None
    cells: list[Cell] = field(default_factory=list)
    modules: list[bool] = field(default_factory=list)

    @property
    def referral(self) -> Referral:
        return self.membership.referral

    @property
    def restarted_since(self) -> bool:
        """They restarted the programme after this membership: what they completed here no longer counts."""
        return any(cell.state == "before_restart" for cell in self.cells)


@dataclass
class GroupProgress:
    group: Group
    modules: list[ModuleColumns]
    rows: list[PersonRow]
    last_delivered: Session | None
    next_session: Session | None


def group_progress(group: Group) -> GroupProgress:
    now = clock.now_local()
    template: ProgrammeTemplate = load_template(group.template_id)
    sessions = list(db.session.scalars(
        select(Session).where(Session.group_id == group.id, Session.status == "scheduled")
        .order_by(Session.starts_at, Session.id)
    ))
    scheduled = {s.session_template_id: s for s in sessions if s.kind == "scheduled"}
    memberships = list(db.session.scalars(
        select(Membership).join(Referral, Referral.id == Membership.referral_id)
        .where(Membership.group_id == group.id)
        .options(joinedload(Membership.referral).joinedload(Referral.progress))
        .order_by(Membership.left_at.is_not(None), Referral.person_name)
    ).unique())
    referral_ids = [m.referral_id for m in memberships] or [0]
    # (referral, template) -> [(session, outcome)] for this group's sessions
    seen: dict[tuple[int, int], list[tuple[Session, str | None]]] = {}
    by_id = {s.id: s for s in sessions}
    for referral_id, session_id, outcome in db.session.execute(
        select(Attendee.referral_id, Attendee.session_id, Attendance.outcome)
        .join(Session, Session.id == Attendee.session_id)
        .outerjoin(Attendance, Attendance.attendee_id == Attendee.id)
        .where(Session.group_id == group.id, Session.status == "scheduled", Attendee.removed_at.is_(None))
    ):
        session = by_id.get(session_id)
        if session is not None:
            seen.setdefault((referral_id, session.session_template_id), []).append((session, outcome))
    completed: dict[tuple[int, int], int] = {
        (r, t): g for r, t, g in db.session.execute(
            select(TemplateCompletion.referral_id, TemplateCompletion.session_template_id, Session.group_id)
            .join(Attendee, Attendee.id == TemplateCompletion.attendee_id)
            .join(Session, Session.id == Attendee.session_id)
            .where(TemplateCompletion.referral_id.in_(referral_ids))
        )
    }
    delivered = [s for s in sessions if s.kind == "scheduled" and s.starts_at <= now]
    upcoming = [s for s in sessions if s.kind == "scheduled" and s.starts_at > now]
    next_session = upcoming[0] if upcoming else None
    modules = [
        ModuleColumns(module, [
            Column(t, scheduled.get(t.id), is_now=bool(next_session and next_session.session_template_id == t.id))
            for t in module.session_templates
        ])
        for module in template.modules
    ]
    rows = []
    for membership in memberships:
        row = PersonRow(membership=membership, progress=membership.referral.progress)
        for module in modules:
            done = True
            for column in module.columns:
                cell = _cell(membership.referral_id, column, seen, completed, group.id, now)
                done = done and cell.state in ("complete", "complete_elsewhere")
                row.cells.append(cell)
            row.modules.append(done)
        rows.append(row)
    return GroupProgress(group, modules, rows, delivered[-1] if delivered else None, next_session)


def _cell(referral_id: int, column: Column, seen: dict, completed: dict, group_id: int,  # type: ignore[type-arg]
          now: datetime) -> Cell:
    attempts = sorted(seen.get((referral_id, column.template.id), []), key=lambda pair: pair[0].starts_at)
    catch_ups = sum(1 for s, _ in attempts if s.kind == "catch_up")
    one_to_ones = sum(1 for s, _ in attempts if s.kind == "one_to_one")
    recorded = [outcome for _, outcome in attempts if outcome]
    where = completed.get((referral_id, column.template.id))
    if where is not None:
        state = "complete" if where == group_id else "complete_elsewhere"
        return Cell(state, "ATTC", catch_ups, one_to_ones)
    if "ATTC" in recorded:  # complied, yet not a completion: from before a restart of the programme
        return Cell("before_restart", "ATTC", catch_ups, one_to_ones)
    if recorded:
        outcome = recorded[-1]
        return Cell("absent" if outcome.startswith("AA") else "missed", outcome, catch_ups, one_to_ones)
    if any(s.starts_at <= now for s, _ in attempts):
        return Cell("unrecorded", None, catch_ups, one_to_ones)
    if attempts:
        return Cell("upcoming", None, catch_ups, one_to_ones)
    return Cell("not_expected")


# ------------------------------------------------------------------------------------------------ dashboard

STAGE_ORDER = ["Not started", "Starting soon", "Pre-group one-to-ones", "Module 2", "Module 3", "Module 4",
               "Module 5", "Module 6", "Post-programme review", "Finished"]


@dataclass
class GroupStage:
    group_id: int
    code: str
    stage: str
    delivered: int
    total: int


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


def _region_scope(user: User, region_id: int | None):  # type: ignore[no-untyped-def]
    if user.role == "admin":
        return Group.region_id == region_id if region_id else True
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
        select(Module.role).select_from(Session)
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
            stage = "Not started"
        elif not n_delivered:
            stage = "Starting soon"
        elif n_delivered >= n_total:
            stage = "Finished"
        elif role == "pre_group":
            stage = "Pre-group one-to-ones"
        elif role == "post_programme":
            stage = "Post-programme review"
        else:
            stage = f"Module {module_number}"
        stages.append(GroupStage(group_id, code, stage, n_delivered or 0, n_total or 0))
    return stages


def dashboard(user: User, region_id: int | None = None) -> Dashboard:
    stages = group_stages(user, region_id)
    counts: dict[str, int] = {}
    for s in stages:
        counts[s.stage] = counts.get(s.stage, 0) + 1
    order = STAGE_ORDER + sorted(k for k in counts if k not in STAGE_ORDER)
    stage_counts = [(label, counts[label]) for label in order if label in counts]
    scope = _region_scope(user, region_id)
    in_scope = select(Membership.referral_id).join(Group, Group.id == Membership.group_id).where(scope)
    # From the stored per-person counters (kept in the attendance transaction), not from attendance rows.
    attendance_rows = db.session.execute(
        select(Referral.sex, Referral.cohort, func.sum(ReferralProgress.outcomes_recorded),
               func.sum(ReferralProgress.outcomes_attended), func.sum(ReferralProgress.outcomes_complied))
        .join(ReferralProgress, ReferralProgress.referral_id == Referral.id)
        .where(Referral.id.in_(in_scope), ReferralProgress.outcomes_recorded > 0)
        .group_by(Referral.sex, Referral.cohort).order_by(Referral.sex, Referral.cohort)
    ).all()
    attendance_rows = [(sex, cohort, int(n or 0), att, comp) for sex, cohort, n, att, comp in attendance_rows]
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
              "Sessions in programme", "Percent complete", "Modules complete", "Programme complete", "Attended",
              "Attended but failed to comply", "Did not attend", "Acceptable absences", "To be confirmed"]


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
