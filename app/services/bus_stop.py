"""Finding a group for a person (SPEC §3, bus stopping): where they are in the programme, and which of their
region's groups can take them from there. The rules are in app.scheduling.bus_stop; this module loads rows.
`place_refusal` is the same check for one group, made by `membership.allocate` whichever page asks."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app import clock
from app.extensions import db
from app.models import (
    Group,
    Membership,
    Module,
    ProgrammeTemplate,
    Referral,
    Session,
    SessionTemplate,
    TemplateCompletion,
)
from app.scheduling.bus_stop import WINDOW_DAYS, Fit, first_incomplete, fit, last_day_to_rejoin, within_window
from app.scheduling.template import TemplateKey
from app.services import needs as needs_service
from app.services.joining import member_count, member_counts, refusal
from app.services.programme import load_template


def _local_date(instant: datetime) -> date:
    return instant.astimezone(clock.LONDON).date()


@dataclass(frozen=True)
class Position:
    """Where a person is. `resume` is the template they start from in their next group (the first template
    when they restart); `programme` is the programme they must stay on to keep their place (None: any)."""

    last_membership: Membership | None
    days_since_left: int | None
    rejoin_until: date | None
    keeps_place: bool
    completed: frozenset[TemplateKey]
    programme: str | None
    resume: TemplateKey | None
    resume_name: str | None
    restart_reason: str | None

    @property
    def restarts(self) -> bool:
        return not self.keeps_place


def last_left_membership(referral: Referral) -> Membership | None:
    return db.session.scalar(
        select(Membership).where(Membership.referral_id == referral.id, Membership.left_at.is_not(None))
        .order_by(Membership.left_at.desc(), Membership.id.desc()).limit(1)
    )


def completed_keys(referral: Referral, programme_name: str) -> frozenset[TemplateKey]:
    """Templates this person completed on any version of the named programme, as (module, session) keys."""
    rows = db.session.execute(
        select(Module.module_number, SessionTemplate.session_number)
        .join(SessionTemplate, SessionTemplate.module_id == Module.id)
        .join(TemplateCompletion, TemplateCompletion.session_template_id == SessionTemplate.id)
        .join(ProgrammeTemplate, ProgrammeTemplate.id == Module.template_id)
        .where(TemplateCompletion.referral_id == referral.id, ProgrammeTemplate.name == programme_name)
    ).all()
    return frozenset((m, s) for m, s in rows)


def _order(template: ProgrammeTemplate) -> list[TemplateKey]:
    return [(m.module_number, s.session_number) for m in template.modules for s in m.session_templates]


def _names(template: ProgrammeTemplate) -> dict[TemplateKey, str]:
    return {(m.module_number, s.session_number): s.name for m in template.modules for s in m.session_templates}


_UNKNOWN = object()


def _last_left_by_referral(referral_ids: list[int]) -> dict[int, Membership]:
    """Each person's most recently ended membership, in one query."""
    if not referral_ids:
        return {}
    rows = db.session.scalars(
        select(Membership).where(Membership.referral_id.in_(referral_ids), Membership.left_at.is_not(None))
        .options(selectinload(Membership.group)).order_by(Membership.left_at, Membership.id)
    )
    return {m.referral_id: m for m in rows}  # the latest wins


def position_of(referral: Referral, *, left: Membership | None | object = _UNKNOWN,
                templates: dict[int, ProgrammeTemplate] | None = None) -> Position:
    """Where the person is. `left` (their last ended membership) and `templates` may be passed in when
    listing many people, to save queries."""
    if left is _UNKNOWN:
        left = last_left_membership(referral)
    assert left is None or isinstance(left, Membership)
    if left is None:
        return Position(None, None, None, False, frozenset(), None, None, None,
                        "They have not been in a group before, so they start from the beginning.")
    templates = {} if templates is None else templates
    if left.group.template_id not in templates:
        templates[left.group.template_id] = load_template(left.group.template_id)
    template = templates[left.group.template_id]
    left_on = _local_date(left.left_at)  # type: ignore[arg-type]
    today = clock.today()
    days = (today - left_on).days
    completed = completed_keys(referral, template.name)
    order = _order(template)
    base: dict[str, Any] = {"last_membership": left, "days_since_left": days, "rejoin_until": last_day_to_rejoin(left_on),
            "completed": completed}
    if not within_window(left_on, today):
        first = order[0] if order else None
        return Position(**base, keeps_place=False, programme=None, resume=first,
                        resume_name=_names(template).get(first) if first else None,
                        restart_reason=(f"They left group {left.group.code} {days} days ago, more than 12 weeks "
                                        f"({WINDOW_DAYS} days), so they restart the programme from the beginning."))
    resume = first_incomplete(order, completed)
    return Position(**base, keeps_place=True, programme=template.name, resume=resume,
                    resume_name=_names(template).get(resume) if resume else None, restart_reason=None)


@dataclass
class GroupOption:
    group: Group
    members: int
    next_session: Session | None
    fit: Fit | None = None
    reason: str | None = None  # why it does not fit
    repeats: list[str] = field(default_factory=list)  # "3.1 Understanding my feelings", ...

    @property
    def fits(self) -> bool:
        return self.reason is None


def _next_sessions(group_ids: list[int]) -> dict[int, Session]:
    """Each group's next session not yet started (a group session or a one-to-one placeholder)."""
    if not group_ids:
        return {}
    now = clock.now_local()
    first = (
        select(Session.group_id, func.min(Session.starts_at).label("at"))
        .where(Session.group_id.in_(group_ids), Session.kind == "scheduled", Session.status == "scheduled",
               Session.starts_at > now)
        .group_by(Session.group_id).subquery()
    )
    sessions = db.session.scalars(
        select(Session).join(first, (first.c.group_id == Session.group_id) & (first.c.at == Session.starts_at))
        .where(Session.kind == "scheduled", Session.status == "scheduled")
        .options(selectinload(Session.session_template).selectinload(SessionTemplate.module))
        .order_by(Session.id)
    )
    found: dict[int, Session] = {}
    for session in sessions:
        found.setdefault(session.group_id, session)
    return found


def find_groups(referral: Referral) -> tuple[Position, list[GroupOption], list[GroupOption]]:
    """The person's position, the groups of their region that can take them (closest to their resume point
    first), and the others with the reason each cannot. Finished groups are not listed."""
    position = position_of(referral)
    groups = list(db.session.scalars(
        select(Group).where(Group.region_id == referral.region_id)
        .options(selectinload(Group.slots), selectinload(Group.template)).order_by(Group.code)
    ))
    upcoming = _next_sessions([g.id for g in groups if g.started_at is not None])
    members = member_counts([g.id for g in groups])
    needs = needs_service.of(referral)
    minutes = needs_service.group_minutes([g.template_id for g in groups]) if needs.any else {}
    templates: dict[int, ProgrammeTemplate] = {}
    fitting: list[GroupOption] = []
    others: list[GroupOption] = []
    for group in groups:
        next_session = upcoming.get(group.id)
        if group.started_at is not None and next_session is None:
            continue  # finished, or nothing left to join
        option = GroupOption(group=group, members=members.get(group.id, 0), next_session=next_session)
        option.reason = (refusal(group, referral, members=option.members, has_future=True, needs=needs,
                                 minutes=minutes.get(group.template_id))
                         or _place_reason(position, option, templates))
        (fitting if option.fits else others).append(option)
    fitting.sort(key=lambda o: (o.fit.behind if o.fit else 0, o.next_session.starts_at if o.next_session
                                else datetime.combine(o.group.earliest_start_date, datetime.min.time())))
    return position, fitting, others


def place_refusal(group: Group, referral: Referral) -> tuple[str | None, Position]:
    """Why joining this group now would put the person at the wrong point of the programme (None: it would
    not), and where they are."""
    position = position_of(referral)
    next_session = _next_sessions([group.id]).get(group.id) if group.started_at is not None else None
    option = GroupOption(group=group, members=0, next_session=next_session)
    return _place_reason(position, option, {}), position


def _place_reason(position: Position, option: GroupOption, templates: dict[int, ProgrammeTemplate]) -> str | None:
    group = option.group
    if position.programme is not None and group.template.name != position.programme:
        return f"Group {group.code} runs {group.template.name}, not {position.programme}"
    if group.template_id not in templates:
        templates[group.template_id] = load_template(group.template_id)
    template = templates[group.template_id]
    order, names = _order(template), _names(template)
    if not order:
        return f"Group {group.code}'s programme has no sessions"
    resume = first_incomplete(order, position.completed) if position.keeps_place else order[0]
    if resume is None:
        return "They have completed every session of the programme"
    session = option.next_session
    next_key = (order[0] if session is None else
                (session.session_template.module.module_number, session.session_template.session_number))
    option.fit = fit(order, resume, next_key)
    if not option.fit.fits:
        where = "has not started" if session is None else f"is at {next_key[0]}.{next_key[1]} {names[next_key]}"
        if position.keeps_place:
            return (f"Group {group.code} {where}; they need {resume[0]}.{resume[1]} {names[resume]}"
                    f" or an earlier session of module {resume[0]}")
        return f"Group {group.code} {where}; they need a group at the start of the programme"
    option.repeats = [f"{k[0]}.{k[1]} {names[k]}" for k in option.fit.repeats]
    return None


@dataclass(frozen=True)
class Candidate:
    referral: Referral
    position: Position
    option: GroupOption


def candidates_for(group: Group) -> tuple[list[Candidate], list[Candidate]]:
    """People on the group's region's waiting list of the group's sex, cohort and LDC flag: those the group
    can take at their point (closest first), and the others with the reason each cannot join it."""
    in_group = select(Membership.id).where(Membership.referral_id == Referral.id, Membership.left_at.is_(None))
    query = select(Referral).where(Referral.region_id == group.region_id, Referral.status == "Awaiting allocation",
                                   Referral.cohort == group.cohort,
                                   Referral.learning_disability.is_(bool(group.learning_disability)),
                                   ~in_group.exists())
    if group.sex != "mixed":
        query = query.where(Referral.sex == group.sex)
    next_session = _next_sessions([group.id]).get(group.id) if group.started_at is not None else None
    members = member_count(group)
    templates: dict[int, ProgrammeTemplate] = {}
    fitting: list[Candidate] = []
    others: list[Candidate] = []
    referrals = list(db.session.scalars(query.order_by(Referral.person_name, Referral.id)))
    last_left = _last_left_by_referral([r.id for r in referrals])
    needs = needs_service.load([r.id for r in referrals])
    minutes = needs_service.group_minutes([group.template_id])[group.template_id] if referrals else None
    for referral in referrals:
        position = position_of(referral, left=last_left.get(referral.id), templates=templates)
        option = GroupOption(group=group, members=members, next_session=next_session)
        option.reason = (refusal(group, referral, members=members, has_future=next_session is not None,
                                 needs=needs[referral.id], minutes=minutes)
                         or _place_reason(position, option, templates))
        (fitting if option.fits else others).append(Candidate(referral, position, option))
    fitting.sort(key=lambda c: (c.option.fit.behind if c.option.fit else 0, c.referral.person_name))
    return fitting, others
