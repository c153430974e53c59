"""Publishing a new version of a programme template (issue 15.10) and listing the versions.

A version is valid from a date: groups created from that date use it (app.services.groups.create_group asks
`current_template(today)`), groups created before keep the version they were created with (their sessions point
at its session templates). The file is the `building_choices.json` shape; it is checked by the pure rules
(`app.scheduling.template`) before anything is stored, and a refusal names the first problem exactly."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app import clock
from app.extensions import db
from app.models import Group, Module, ProgrammeTemplate, SessionTemplate, User
from app.scheduling import ProgrammeSpec, TemplateError, check_publishable, programme_from_json
from app.services import audit
from app.services.programme import current_template


class PublishRefused(ValueError):
    """The version cannot be published; ``str(error)`` is the one-line reason."""


@dataclass(frozen=True)
class Version:
    template: ProgrammeTemplate
    modules: int
    sessions: int
    groups: int  # groups created with this version
    current: bool  # the version a group created today gets

    @property
    def status(self) -> str:
        if self.current:
            return "In use for new groups"
        return "Not valid yet" if self.template.valid_from > clock.today() else "Replaced"


def publish(data: Any, valid_from: date, actor: User | None = None) -> ProgrammeTemplate:
    """Check the version and store it, valid from `valid_from`; the version it follows is valid until the day
    before. Refused (PublishRefused, nothing stored) when the data breaks a template rule, the date is in the
    past, the programme is unknown, or a version of it already starts on or after that date."""
    if not isinstance(data, dict):
        raise PublishRefused("the file must hold one JSON object (a programme with its modules)")
    try:
        spec = programme_from_json(data)
        check_publishable(spec)
    except TemplateError as exc:
        raise PublishRefused(str(exc)) from None
    today = clock.today()
    if valid_from < today:
        raise PublishRefused(f"the valid-from date {valid_from:%-d %B %Y} is in the past (today is "
                             f"{today:%-d %B %Y}): groups already created keep their version")
    versions = list(db.session.scalars(select(ProgrammeTemplate).where(ProgrammeTemplate.name == spec.name)
                                       .order_by(ProgrammeTemplate.valid_from)))
    if not versions:
        known = ", ".join(sorted(set(db.session.scalars(select(ProgrammeTemplate.name))))) or "none"
        raise PublishRefused(f"there is no programme called {spec.name!r} (programmes: {known})")
    latest = versions[-1]
    if latest.valid_from >= valid_from:
        raise PublishRefused(f"{spec.name} already has a version valid from {latest.valid_from:%-d %B %Y}: a new "
                             "version must be valid from a later date")

    template = _rows(spec, data, valid_from)
    if latest.valid_until is None or latest.valid_until >= valid_from:
        latest.valid_until = valid_from - timedelta(days=1)
    db.session.add(template)
    db.session.flush()
    audit.record(actor, "programme.published", template, after={
        "name": template.name, "valid_from": valid_from.isoformat(), "modules": len(spec.modules),
        "sessions": len(spec.sessions()), "replaces": latest.id,
    })
    db.session.commit()
    return template


def _rows(spec: ProgrammeSpec, data: dict[str, Any], valid_from: date) -> ProgrammeTemplate:
    descriptions = {(m.get("module_number"), s.get("session_number")): s.get("description")
                    for m in data["modules"] for s in (m.get("sessions") or [])}
    template = ProgrammeTemplate(name=spec.name, valid_from=valid_from)
    for m in sorted(spec.modules, key=lambda module: module.module_number):
        module = Module(module_number=m.module_number, name=m.name, role=m.role,
                        gap_weeks_before=m.gap_weeks_before, gap_weeks_after=m.gap_weeks_after)
        for s in m.sessions:
            description = descriptions.get((m.module_number, s.session_number))
            module.session_templates.append(SessionTemplate(
                session_number=s.session_number, session_type=s.session_type, name=s.name,
                description=description if isinstance(description, str) else None,
                duration_minutes=s.duration_minutes,
            ))
        template.modules.append(module)
    return template


def versions() -> list[Version]:
    """Every version of every programme, newest first, with how many groups use each."""
    current = current_template(clock.today())
    groups = dict(db.session.execute(select(Group.template_id, func.count(Group.id)).group_by(Group.template_id))
                  .tuples().all())
    templates = db.session.scalars(
        select(ProgrammeTemplate).options(selectinload(ProgrammeTemplate.modules).selectinload(Module.session_templates))
        .order_by(ProgrammeTemplate.name, ProgrammeTemplate.valid_from.desc())
    ).all()
    return [Version(t, len(t.modules), sum(len(m.session_templates) for m in t.modules), groups.get(t.id, 0),
                    current is not None and current.id == t.id) for t in templates]
