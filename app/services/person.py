"""The person's page (the real service's "attendance history"): everything we hold about one referral."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app import clock
from app.extensions import db
from app.models import (
    Attendee,
    CaseDisagreement,
    Group,
    Membership,
    Module,
    Referral,
    ReferralStatusChange,
    Session,
    SessionTemplate,
    TemplateCompletion,
)
from app.services import case_data
from app.services.programme import current_template


@dataclass(frozen=True)
class ModuleProgress:
    module: Module
    done: list[SessionTemplate]
    todo: list[SessionTemplate]

    @property
    def complete(self) -> bool:
        return not self.todo


@dataclass
class PersonRecord:
    referral: Referral
    facts: list = field(default_factory=list)  # (Field, referral fact, nDelius fact)
    disagreements: list[CaseDisagreement] = field(default_factory=list)
    history: list[ReferralStatusChange] = field(default_factory=list)
    memberships: list[Membership] = field(default_factory=list)
    attendances: list[Attendee] = field(default_factory=list)
    modules: list[ModuleProgress] = field(default_factory=list)
    appointments_stopped: str | None = None


def record(referral: Referral) -> PersonRecord:
    history = list(db.session.scalars(
        select(ReferralStatusChange).where(ReferralStatusChange.referral_id == referral.id)
        .options(joinedload(ReferralStatusChange.changed_by)).order_by(ReferralStatusChange.changed_at,
                                                                       ReferralStatusChange.id)))
    memberships = list(db.session.scalars(
        select(Membership).where(Membership.referral_id == referral.id).options(joinedload(Membership.group))
        .order_by(Membership.joined_at, Membership.id)))
    attendances = list(db.session.scalars(
        select(Attendee).join(Session, Session.id == Attendee.session_id)
        .where(Attendee.referral_id == referral.id, Session.status == "scheduled")
        .options(joinedload(Attendee.attendance),
                 joinedload(Attendee.session).joinedload(Session.group),
                 joinedload(Attendee.session).joinedload(Session.parent),  # a catch-up's missed session
                 joinedload(Attendee.session).joinedload(Session.session_template).joinedload(SessionTemplate.module))
        .order_by(Session.starts_at, Attendee.id)))
    return PersonRecord(
        referral=referral, facts=case_data.facts_for(referral),
        disagreements=case_data.open_disagreements(referral_id=referral.id), history=history,
        memberships=memberships, attendances=attendances, modules=_modules(referral, memberships),
        appointments_stopped=case_data.appointments_stopped(referral))


def _modules(referral: Referral, memberships: list[Membership]) -> list[ModuleProgress]:
    current = None if memberships else current_template(clock.today())
    template_id = memberships[-1].group.template_id if memberships else (current.id if current else None)
    if template_id is None:
        return []
    done_ids = set(db.session.scalars(select(TemplateCompletion.session_template_id).where(
        TemplateCompletion.referral_id == referral.id)))
    modules = db.session.scalars(select(Module).where(Module.template_id == template_id)
                                 .options(joinedload(Module.session_templates))
                                 .order_by(Module.module_number)).unique()
    result = []
    for module in modules:
        ordered = sorted(module.session_templates, key=lambda t: t.session_number)
        result.append(ModuleProgress(module, [t for t in ordered if t.id in done_ids],
                                     [t for t in ordered if t.id not in done_ids]))
    return result


def group_for(membership: Membership) -> Group:
    return membership.group
