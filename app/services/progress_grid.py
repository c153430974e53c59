"""A group's progress grid (people × sessions) for leads.

From the stored per-referral progress, TemplateCompletion and this group's attendance: five queries for a group
of any size, plain columns (Core rows, not ORM object graphs), the programme template from the per-process
catalogue, and each cell's appearance worked out here once (the template only prints it)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, Executable, bindparam, select

from app import clock
from app.models import (
    Attendance,
    Attendee,
    Group,
    Membership,
    Referral,
    ReferralProgress,
    Session,
    TemplateCompletion,
    User,
)
from app.services import reads
from app.services.programme import (
    ModuleInfo,
    SessionTemplateInfo,
    TemplateInfo,
    session_template_info,
    template_info,
)


@dataclass(slots=True, eq=False)
class Cell:
    state: str
    """complete | complete_elsewhere | before_restart (ATTC that no longer counts: they restarted the programme
    since) | missed (AFTC/UAAB) | absent (AA…) | unrecorded | upcoming | not_expected"""
    outcome: str | None = None
    catch_ups: int = 0
    one_to_ones: int = 0

    @property
    def css(self) -> str:
        """The cell's colour modifier: the outcome of a missed session, the state otherwise."""
        return self.outcome if self.state == "missed" and self.outcome else self.state

    @property
    def shows_outcome(self) -> bool:
        return self.state in ("missed", "absent")


@dataclass(slots=True, eq=False)
class GridSession:
    id: int
    kind: str
    starts_at: datetime
    session_template: SessionTemplateInfo


@dataclass(slots=True, eq=False)
class Column:
    template: SessionTemplateInfo
    session: GridSession | None
    is_now: bool = False
    first: bool = False

    @property
    def css(self) -> str:
        """The classes every cell of this column adds (worked out once per column, not per cell)."""
        return (" app-progress-grid__cell--now" if self.is_now else "") + (" app-progress-grid__first" if self.first
                                                                          else "")


@dataclass(slots=True, eq=False)
class ModuleColumns:
    module: ModuleInfo
    columns: list[Column]


@dataclass(slots=True, eq=False)
class GridPerson:
    id: int
    person_name: str
    crn: str
    status: str
    restricted: Any = None
    """Set for one request when the signed-in user may not see them (app.web.restricted.mask_people, LAO)."""


@dataclass(slots=True, eq=False)
class GridMembership:
    left_at: datetime | None
    referral: GridPerson


@dataclass(slots=True, eq=False)
class GridProgress:
    percent: int
    complete: bool


@dataclass(eq=False)
class PersonRow:
    membership: GridMembership
    progress: GridProgress | None
    cells: list[Cell] = field(default_factory=list)
    modules: list[bool] = field(default_factory=list)
    pairs: list[tuple[Column, Cell]] = field(default_factory=list)
    """(column, cell) for every session column in order: the grid's one loop per row."""

    @property
    def referral(self) -> GridPerson:
        return self.membership.referral

    @property
    def restarted_since(self) -> bool:
        """They restarted the programme after this membership: what they completed here no longer counts."""
        return any(cell.state == "before_restart" for cell in self.cells)


@dataclass(slots=True, eq=False)
class GridGroup:
    id: int
    code: str
    template: TemplateInfo
    region_id: int | None = None

    @classmethod
    def of(cls, group: Group) -> GridGroup:
        return cls(group.id, group.code, template_info(group.template_id), group.region_id)

    @classmethod
    def of_row(cls, row: Sequence[Any]) -> GridGroup:
        """From grid_group_row's (id, code, template id, region id)."""
        group_id, code, template_id, region_id = row
        return cls(group_id, code, template_info(template_id), region_id)


@dataclass(eq=False)
class GroupProgress:
    group: GridGroup
    modules: list[ModuleColumns]
    rows: list[PersonRow]
    last_delivered: GridSession | None
    next_session: GridSession | None


@cache
def _group_query(any_region: bool) -> Executable:
    query = select(Group.id, Group.code, Group.template_id, Group.region_id).where(Group.id == bindparam("group_id"))
    return query if any_region else query.where(Group.region_id == bindparam("region_id"))


@dataclass(frozen=True)
class _GridQueries:
    sessions: Executable
    members: Executable
    outcomes: Executable
    completions: Executable


@cache
def _grid_queries() -> _GridQueries:
    """The grid's statements, built once per process (app.services.reads): group_id and referral_ids bound."""
    group_id: BindParameter[int] = bindparam("group_id")
    return _GridQueries(
        sessions=select(Session.id, Session.kind, Session.starts_at, Session.session_template_id)
        .where(Session.group_id == group_id, Session.status == "scheduled").order_by(Session.starts_at, Session.id),
        members=select(Membership.referral_id, Membership.left_at, Referral.person_name, Referral.crn,
                       Referral.status, ReferralProgress.percent, ReferralProgress.complete,
                       ReferralProgress.referral_id.label("stored"))
        .join(Referral, Referral.id == Membership.referral_id)
        .outerjoin(ReferralProgress, ReferralProgress.referral_id == Membership.referral_id)
        .where(Membership.group_id == group_id)
        .order_by(Membership.left_at.is_not(None), Referral.person_name),
        outcomes=select(Attendee.referral_id, Attendee.session_id, Attendance.outcome)
        .join(Session, Session.id == Attendee.session_id)
        .outerjoin(Attendance, Attendance.attendee_id == Attendee.id)
        .where(Session.group_id == group_id, Session.status == "scheduled", Attendee.removed_at.is_(None)),
        completions=select(TemplateCompletion.referral_id, TemplateCompletion.session_template_id,
                           Session.group_id)
        .join(Attendee, Attendee.id == TemplateCompletion.attendee_id)
        .join(Session, Session.id == Attendee.session_id)
        .where(TemplateCompletion.referral_id.in_(bindparam("referral_ids", expanding=True))),
    )


def grid_group_row(user: User, group_id: int) -> tuple[int, str, int, int | None] | None:
    """The group whose grid is asked for, if it is in the user's region (admins: any), in one query, as plain
    values (id, code, template id, region id) to keep (app/web/region_cache.py; GridGroup.of_row)."""
    found = reads.run(_group_query(user.role == "admin"), {"group_id": group_id, "region_id": user.region_id}).first()
    return (found.id, found.code, found.template_id, found.region_id) if found is not None else None


def group_progress(group: GridGroup) -> GroupProgress:
    """People × sessions in five queries whatever the group size, from plain columns (Core rows)."""
    now = clock.now_local()
    template = group.template
    queries = _grid_queries()
    sessions = [
        GridSession(r.id, r.kind, r.starts_at, session_template_info(r.session_template_id))
        for r in reads.run(queries.sessions, {"group_id": group.id})
    ]
    scheduled = {s.session_template.id: s for s in sessions if s.kind == "scheduled"}
    members = reads.run(queries.members, {"group_id": group.id}).all()
    referral_ids = [m.referral_id for m in members] or [0]
    # (referral, template) -> [(session, outcome)] for this group's sessions
    seen: dict[tuple[int, int], list[tuple[GridSession, str | None]]] = {}
    by_id = {s.id: s for s in sessions}
    for referral_id, session_id, outcome in reads.run(queries.outcomes, {"group_id": group.id}):
        session = by_id.get(session_id)
        if session is not None:
            seen.setdefault((referral_id, session.session_template.id), []).append((session, outcome))
    completed: dict[tuple[int, int], int] = {
        (r, t): g for r, t, g in reads.run(queries.completions, {"referral_ids": referral_ids})
    }
    delivered = [s for s in sessions if s.kind == "scheduled" and s.starts_at <= now]
    upcoming = [s for s in sessions if s.kind == "scheduled" and s.starts_at > now]
    next_session = upcoming[0] if upcoming else None
    modules = [
        ModuleColumns(module, [
            Column(t, scheduled.get(t.id), is_now=bool(next_session and next_session.session_template.id == t.id),
                   first=n == 0)
            for n, t in enumerate(module.session_templates)
        ])
        for module in template.modules
    ]
    rows = []
    for m in members:
        person = GridPerson(m.referral_id, m.person_name, m.crn, m.status)
        progress = GridProgress(m.percent or 0, bool(m.complete)) if m.stored is not None else None
        row = PersonRow(membership=GridMembership(m.left_at, person), progress=progress)
        for module in modules:
            done = True
            for column in module.columns:
                cell = _cell(m.referral_id, column, seen, completed, group.id, now)
                done = done and cell.state in ("complete", "complete_elsewhere")
                row.cells.append(cell)
                row.pairs.append((column, cell))
            row.modules.append(done)
        rows.append(row)
    return GroupProgress(group, modules, rows, delivered[-1] if delivered else None, next_session)


def _cell(referral_id: int, column: Column, seen: dict, completed: dict, group_id: int,
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
