"""Stored per-referral progress (SPEC §4), kept equal to a full recomputation.

A session template is complete for a person when any session of it — original, catch-up, or in an earlier
group of the same programme — has outcome ATTC. A module is complete when all its templates are, the programme
when all modules are. TemplateCompletion and ReferralProgress are updated in the attendance transaction;
`verify()` recomputes both from attendance alone, in SQL, and lists every difference.

A person who joins a group more than 12 weeks after leaving one restarts the programme (SPEC §3): from that
membership on, only attendance of that membership and later ones *counts* — towards completion, the stored
outcome counts and status. Earlier attendance stays in their history."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Executable,
    Integer,
    Select,
    Subquery,
    and_,
    bindparam,
    case,
    cast,
    func,
    or_,
    select,
)

from app.extensions import db
from app.models import (
    Attendance,
    Attendee,
    Group,
    Membership,
    Module,
    Referral,
    ReferralProgress,
    Session,
    SessionTemplate,
    TemplateCompletion,
)
from app.scheduling import ATTENDED_COMPLIED
from app.services.programme import template_info


def _totals(template_id: int) -> tuple[int, dict[int, int]]:
    """Sessions in the version, and per module: from the per-process catalogue (a stored version never
    changes), so a save runs no query for it."""
    per_module = {module.id: len(module.session_templates)
                  for module in template_info(template_id).modules if module.session_templates}
    return sum(per_module.values()), per_module


def _statement(name: str) -> Executable:
    return _statements()[name]


@cache
def _statements() -> dict[str, Executable]:
    """The statements every attendance save runs, built once per process (building one costs about as much as
    running it); the person's referral id comes as the bound parameter `referral_id`."""
    referral_id: BindParameter[int] = bindparam("referral_id")
    # The programme version a person is on: that of the group they joined last (bus stopping keeps it).
    template = (select(Group.template_id).join(Membership, Membership.group_id == Group.id)
                .where(Membership.referral_id == referral_id).order_by(Membership.id.desc()).limit(1))
    # The membership the person's current attempt at the programme began with, when they restarted.
    restarted_from = select(func.max(Membership.id)).where(
        Membership.referral_id == referral_id, Membership.restarts_programme.is_(True))
    return {
        "lock": select(Referral).where(Referral.id == referral_id).with_for_update()
        .execution_options(populate_existing=True),
        "held": select(ReferralProgress, restarted_from.scalar_subquery(), template.scalar_subquery())
        .select_from(Referral).outerjoin(ReferralProgress, ReferralProgress.referral_id == Referral.id)
        .where(Referral.id == referral_id).execution_options(populate_existing=True),
        "completion": select(TemplateCompletion).where(
            TemplateCompletion.referral_id == referral_id,
            TemplateCompletion.session_template_id == bindparam("template_id"),
        ).execution_options(populate_existing=True),
        "done": select(SessionTemplate.module_id, func.count(TemplateCompletion.id))
        .join(SessionTemplate, SessionTemplate.id == TemplateCompletion.session_template_id)
        .join(Module, Module.id == SessionTemplate.module_id)
        .where(TemplateCompletion.referral_id == referral_id, Module.template_id == bindparam("template_id"))
        .group_by(SessionTemplate.module_id),
        "outcomes": _outcome_counts().where(Attendee.referral_id == referral_id),
        "outcomes_since": _outcome_counts().where(Attendee.referral_id == referral_id,
                                                  Attendee.membership_id >= bindparam("from_id")),
    }


# ------------------------------------------------------------------------------------------------ the lock

@dataclass(frozen=True)
class Held:
    """What a change of a person's progress reads under their progress lock, in one statement."""
    progress: ReferralProgress | None  # their stored progress (None if they have none yet)
    from_id: int | None  # the membership their current attempt began with, when they restarted
    template_id: int | None  # the programme version of the group they joined last (None: no group yet)


def lock(referral_id: int) -> Held:
    """Hold the person's progress lock until the transaction ends, then read their rows afresh.

    Two saves for one person at once (two facilitators, an original and its catch-up) each recompute the
    stored progress from what they can see; without the lock each would miss the other's change and the last
    commit would win. PostgreSQL: the referral row FOR UPDATE, so the second waits for the first to commit and
    then (read committed: a statement after the lock sees what committed meanwhile) reads what it wrote. SQLite
    serialises write transactions already (BEGIN IMMEDIATE, before the transaction reads anything), so there is
    no lock to take there."""
    if db.session.get_bind().dialect.name != "sqlite":
        # The rows are taken from the results: only then does populate_existing replace what an earlier read
        # of this transaction loaded (a status another save changed while this one waited).
        db.session.execute(_statement("lock"), {"referral_id": referral_id}).scalars().all()
    # After the lock, in a statement of its own: the lock's statement sees the others' rows as they were
    # before it waited. The progress row is kept by Held: the session holds what it loaded only while
    # something refers to it.
    progress, from_id, template_id = db.session.execute(_statement("held"), {"referral_id": referral_id}).one()
    return Held(progress, from_id, template_id)


# ------------------------------------------------------------------------------------------------ restarts

def _restarts() -> Subquery:
    """Per person who restarted: the membership their current attempt began with."""
    return (
        select(Membership.referral_id.label("referral_id"), func.max(Membership.id).label("from_id"))
        .where(Membership.restarts_programme.is_(True)).group_by(Membership.referral_id).subquery("restarts")
    )


def _counting(restarts: Subquery) -> ColumnElement[bool]:
    """SQL: the attendee row counts towards the person's current attempt (`restarts` outer-joined on it)."""
    return or_(restarts.c.from_id.is_(None), Attendee.membership_id >= restarts.c.from_id)


def counts_towards_programme(attendee: Attendee, from_id: int | None) -> bool:
    """Whether this attendee row counts towards the person's current attempt (`from_id`: see `Held`)."""
    return from_id is None or (attendee.membership_id is not None and attendee.membership_id >= from_id)


def restart(referral: Referral, template_id: int) -> ReferralProgress:
    """The person restarts the programme (their new, restarting membership is already flushed): none of their
    completions count any more. They stay visible as attendance in the groups where they happened."""
    held = lock(referral.id)
    for completion in db.session.scalars(select(TemplateCompletion).filter_by(referral_id=referral.id)):
        db.session.delete(completion)
    db.session.flush()
    return refresh_referral(referral, template_id, held)


# ------------------------------------------------------------------------------------------------ updates

def refresh_referral(referral: Referral, template_id: int, held: Held) -> ReferralProgress:
    """Recompute one person's roll-up from their TemplateCompletion rows (a handful of rows: cheap), with what
    `lock` read for them (`template_id`: the programme version if they are in no group yet)."""
    template_id = held.template_id if held.template_id is not None else template_id
    total, per_module = _totals(template_id)
    done: dict[int, int] = {module: count for module, count in db.session.execute(
        _statement("done"), {"referral_id": referral.id, "template_id": template_id})}
    counted = db.session.execute(_statement("outcomes" if held.from_id is None else "outcomes_since"),
                                 {"referral_id": referral.id, "from_id": held.from_id}).first()
    recorded, attended, complied = counted[1:] if counted else (0, 0, 0)  # no outcome recorded yet: no row
    # Everything read first, then the row changed: one UPDATE (a read after a change would flush it alone).
    completed = sum(done.values())
    progress = held.progress or ReferralProgress(referral_id=referral.id)
    progress.sessions_completed = completed
    progress.sessions_total = total
    progress.modules_completed = sum(1 for m, n in per_module.items() if done.get(m, 0) >= n)
    progress.percent = (100 * completed // total) if total else 0
    progress.complete = total > 0 and completed == total
    progress.outcomes_recorded, progress.outcomes_attended, progress.outcomes_complied = (
        int(recorded or 0), int(attended or 0), int(complied or 0))
    db.session.add(progress)
    return progress


ATTENDED_OUTCOMES = ("ATTC", "AFTC")


def _outcome_counts() -> Select[int, int, int, int]:
    """Per person: outcomes recorded, attended (ATTC or AFTC), complied (ATTC), over every group (filter on
    what counts since a restart before use)."""
    return (
        select(Attendee.referral_id, func.count(Attendance.id),
               func.sum(case((Attendance.outcome.in_(ATTENDED_OUTCOMES), 1), else_=0)),
               func.sum(case((Attendance.outcome == ATTENDED_COMPLIED, 1), else_=0)))
        .join(Attendance, Attendance.attendee_id == Attendee.id)
        .where(Attendance.outcome.is_not(None)).group_by(Attendee.referral_id)
    )


def attendee_changed(attendee: Attendee, attendance: Attendance) -> ReferralProgress:
    """Keep TemplateCompletion right for this attendee's session template after an outcome change (under the
    person's progress lock)."""
    held = lock(attendee.referral_id)
    session = attendee.session
    template_id = session.session_template_id
    from_id = held.from_id
    if not counts_towards_programme(attendee, from_id):  # attendance from before a restart: history only
        return refresh_referral(attendee.referral, session.group.template_id, held)
    existing = db.session.scalar(_statement("completion"),
                                 {"referral_id": attendee.referral_id, "template_id": template_id})
    if attendance.outcome == ATTENDED_COMPLIED:
        if existing is None:
            db.session.add(TemplateCompletion(referral_id=attendee.referral_id,
                                              session_template_id=template_id, attendee_id=attendee.id))
    elif existing is not None and existing.attendee_id == attendee.id:
        # This was the completing attendance; another ATTC of the same template (a catch-up) may still count.
        other = db.session.scalar(
            select(Attendee.id).join(Attendance).join(Session, Session.id == Attendee.session_id)
            .where(Attendee.referral_id == attendee.referral_id, Session.session_template_id == template_id,
                   Attendance.outcome == ATTENDED_COMPLIED, Attendee.id != attendee.id,
                   *([Attendee.membership_id >= from_id] if from_id is not None else [])).limit(1)
        )
        if other is None:
            db.session.delete(existing)
        else:
            existing.attendee_id = other
    db.session.flush()
    return refresh_referral(attendee.referral, session.group.template_id, held)


# --------------------------------------------------------------------------------------------- verification

@dataclass(frozen=True)
class Difference:
    referral_id: int
    what: str

    def __str__(self) -> str:
        return f"referral {self.referral_id}: {self.what}"


def _truth() -> Subquery:
    """(referral, session template) pairs completed according to attendance alone (since any restart)."""
    restarts = _restarts()
    return (
        select(Attendee.referral_id.label("referral_id"), Session.session_template_id.label("template_id"))
        .join(Attendance, Attendance.attendee_id == Attendee.id)
        .join(Session, Session.id == Attendee.session_id)
        .outerjoin(restarts, restarts.c.referral_id == Attendee.referral_id)
        .where(Attendance.outcome == ATTENDED_COMPLIED, _counting(restarts)).distinct().subquery("truth")
    )


def _completion_differences(truth: Subquery) -> list[Difference]:
    missing = db.session.execute(
        select(truth.c.referral_id, truth.c.template_id).where(~select(TemplateCompletion.id).where(
            TemplateCompletion.referral_id == truth.c.referral_id,
            TemplateCompletion.session_template_id == truth.c.template_id).exists())
    ).all()
    # A stored completion must point at an ATTC attendance of that person for that session template, one that
    # counts (not from before a restart).
    restarts = _restarts()
    completing = (
        select(Attendee.id).join(Attendance, Attendance.attendee_id == Attendee.id)
        .join(Session, Session.id == Attendee.session_id)
        .outerjoin(restarts, restarts.c.referral_id == Attendee.referral_id)
        .where(Attendee.id == TemplateCompletion.attendee_id, Attendee.referral_id == TemplateCompletion.referral_id,
               Session.session_template_id == TemplateCompletion.session_template_id,
               Attendance.outcome == ATTENDED_COMPLIED, _counting(restarts))
    )
    extra = db.session.execute(
        select(TemplateCompletion.referral_id, TemplateCompletion.session_template_id)
        .where(~completing.exists())
    ).all()
    return (
        [Difference(r, f"session template {t} is complete by attendance but has no stored completion")
         for r, t in missing]
        + [Difference(r, f"stored completion of session template {t} is not backed by an ATTC attendance")
           for r, t in extra]
    )


def _progress_differences(truth: Subquery) -> list[Difference]:
    latest = (
        select(Membership.referral_id.label("referral_id"), func.max(Membership.id).label("membership_id"))
        .group_by(Membership.referral_id).subquery("latest")
    )
    programme = (
        select(latest.c.referral_id, Group.template_id)
        .join(Membership, Membership.id == latest.c.membership_id)
        .join(Group, Group.id == Membership.group_id).subquery("programme")
    )
    module_totals = (
        select(Module.template_id, SessionTemplate.module_id, func.count(SessionTemplate.id).label("n"))
        .join(Module, Module.id == SessionTemplate.module_id)
        .group_by(Module.template_id, SessionTemplate.module_id).subquery("module_totals")
    )
    template_totals = (
        select(module_totals.c.template_id, cast(func.sum(module_totals.c.n), Integer).label("n"))
        .group_by(module_totals.c.template_id).subquery("template_totals")
    )
    done_per_module = (
        select(truth.c.referral_id, SessionTemplate.module_id, func.count().label("n"))
        .join(SessionTemplate, SessionTemplate.id == truth.c.template_id)
        .join(Module, Module.id == SessionTemplate.module_id)
        .join(programme, and_(programme.c.referral_id == truth.c.referral_id,
                              programme.c.template_id == Module.template_id))
        .group_by(truth.c.referral_id, SessionTemplate.module_id).subquery("done_per_module")
    )
    done = (
        select(done_per_module.c.referral_id, cast(func.sum(done_per_module.c.n), Integer).label("sessions"),
               cast(func.sum(case((done_per_module.c.n >= module_totals.c.n, 1), else_=0)), Integer)
               .label("modules"))
        .join(module_totals, module_totals.c.module_id == done_per_module.c.module_id)
        .group_by(done_per_module.c.referral_id).subquery("done")
    )
    sessions = func.coalesce(done.c.sessions, 0)
    modules = func.coalesce(done.c.modules, 0)
    total = template_totals.c.n
    percent = case((func.coalesce(total, 0) > 0, (100 * sessions) // total), else_=0)
    complete = and_(func.coalesce(total, 0) > 0, sessions == total)
    stored_complete = func.coalesce(ReferralProgress.complete, False)
    rows = db.session.execute(
        select(Referral.id, sessions, modules, total, percent, case((complete, True), else_=False),
               ReferralProgress.referral_id, ReferralProgress.sessions_completed, ReferralProgress.modules_completed,
               ReferralProgress.sessions_total, ReferralProgress.percent, ReferralProgress.complete)
        .outerjoin(ReferralProgress, ReferralProgress.referral_id == Referral.id)
        .outerjoin(programme, programme.c.referral_id == Referral.id)
        .outerjoin(template_totals, template_totals.c.template_id == programme.c.template_id)
        .outerjoin(done, done.c.referral_id == Referral.id)
        .where(or_(
            and_(ReferralProgress.referral_id.is_(None), sessions > 0),
            and_(ReferralProgress.referral_id.is_not(None), or_(
                ReferralProgress.sessions_completed != sessions,
                ReferralProgress.modules_completed != modules,
                ReferralProgress.percent != percent,
                and_(total.is_not(None), ReferralProgress.sessions_total != total),
                stored_complete != case((complete, True), else_=False),
            )),
        ))
        .order_by(Referral.id)
    ).all()
    differences = []
    for (referral_id, t_sessions, t_modules, t_total, t_percent, t_complete,
         stored_id, s_sessions, s_modules, s_total, s_percent, s_complete) in rows:
        if stored_id is None:
            differences.append(Difference(referral_id, f"{t_sessions} sessions complete by attendance, none stored"))
            continue
        for label, truth_value, stored_value in (
            ("sessions complete", t_sessions, s_sessions), ("modules complete", t_modules, s_modules),
            ("sessions in the programme", t_total, s_total), ("percent", t_percent, s_percent),
            ("programme complete", bool(t_complete), bool(s_complete)),
        ):
            if truth_value is not None and truth_value != stored_value:
                differences.append(Difference(
                    referral_id, f"{label}: {truth_value} by attendance, {stored_value} stored"))
    return differences


def _outcome_differences() -> list[Difference]:
    restarts = _restarts()
    counted = _outcome_counts().outerjoin(restarts, restarts.c.referral_id == Attendee.referral_id) \
        .where(_counting(restarts)).subquery("counts")
    columns = list(counted.c)
    rows = db.session.execute(
        select(ReferralProgress.referral_id, func.coalesce(columns[1], 0), func.coalesce(columns[2], 0),
               func.coalesce(columns[3], 0), ReferralProgress.outcomes_recorded, ReferralProgress.outcomes_attended,
               ReferralProgress.outcomes_complied)
        .outerjoin(counted, columns[0] == ReferralProgress.referral_id)
        .where(or_(func.coalesce(columns[1], 0) != ReferralProgress.outcomes_recorded,
                   func.coalesce(columns[2], 0) != ReferralProgress.outcomes_attended,
                   func.coalesce(columns[3], 0) != ReferralProgress.outcomes_complied))
    ).all()
    return [Difference(r, f"outcomes recorded/attended/complied: {a}/{b}/{c} by attendance, {x}/{y}/{z} stored")
            for r, a, b, c, x, y, z in rows]


def verify() -> list[Difference]:
    """Every difference between the stored completions and progress and a recomputation from attendance."""
    truth = _truth()
    return _completion_differences(truth) + _progress_differences(truth) + _outcome_differences()

