"""The programme template: loaded from data, turned into plain values for the scheduling rules."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from importlib import resources

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import Module, ProgrammeTemplate, SessionTemplate
from app.scheduling import ModuleSpec, ProgrammeSpec, SessionSpec

TEMPLATE_VALID_FROM = date(2024, 1, 1)


def template_json() -> dict:
    return json.loads(resources.files("app").joinpath("data/building_choices.json").read_text("utf-8"))


def ensure_building_choices() -> ProgrammeTemplate:
    """Load the Building Choices template once (idempotent); returns the stored version."""
    data = template_json()
    existing = db.session.scalar(
        select(ProgrammeTemplate).filter_by(name=data["name"], valid_from=TEMPLATE_VALID_FROM)
    )
    if existing:
        return existing
    durations = data.get("durations_minutes", {})
    template = ProgrammeTemplate(name=data["name"], valid_from=TEMPLATE_VALID_FROM)
    for m in data["modules"]:
        module = Module(
            module_number=m["module_number"], name=m["name"], role=m.get("role"),
            gap_weeks_before=m.get("gap_weeks_before", 0), gap_weeks_after=m.get("gap_weeks_after", 0),
        )
        for s in m["sessions"]:
            module.session_templates.append(SessionTemplate(
                session_number=s["session_number"], session_type=s["session_type"], name=s["name"],
                description=s.get("description"),
                duration_minutes=s.get("duration_minutes") or durations[s["session_type"]],
            ))
        template.modules.append(module)
    db.session.add(template)
    db.session.flush()
    return template


def current_template(on: date) -> ProgrammeTemplate | None:
    """The version valid on a date (a group keeps the version it started with)."""
    return db.session.scalar(
        select(ProgrammeTemplate)
        .where(ProgrammeTemplate.valid_from <= on)
        .where((ProgrammeTemplate.valid_until.is_(None)) | (ProgrammeTemplate.valid_until >= on))
        .order_by(ProgrammeTemplate.valid_from.desc())
    )


def load_template(template_id: int) -> ProgrammeTemplate:
    return db.session.scalars(
        select(ProgrammeTemplate).where(ProgrammeTemplate.id == template_id)
        .options(selectinload(ProgrammeTemplate.modules).selectinload(Module.session_templates))
    ).one()


def programme_spec(template: ProgrammeTemplate) -> ProgrammeSpec:
    return ProgrammeSpec(
        name=template.name,
        modules=tuple(
            ModuleSpec(
                module_number=m.module_number, name=m.name, role=m.role,
                gap_weeks_before=m.gap_weeks_before, gap_weeks_after=m.gap_weeks_after,
                sessions=tuple(
                    SessionSpec(
                        module_number=m.module_number, session_number=s.session_number, name=s.name,
                        session_type=s.session_type, duration_minutes=s.duration_minutes,
                    )
                    for s in m.session_templates
                ),
            )
            for m in template.modules
        ),
    )


def session_templates_by_key(template: ProgrammeTemplate) -> dict[tuple[int, int], SessionTemplate]:
    return {(m.module_number, s.session_number): s for m in template.modules for s in m.session_templates}


# ------------------------------------------------------------------------------------------------ read once

@dataclass(frozen=True, slots=True)
class ModuleInfo:
    """A module of a stored template version, as pages show it (plain values, read once per process)."""

    id: int
    template_id: int
    module_number: int
    name: str
    role: str | None
    session_templates: tuple[SessionTemplateInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class SessionTemplateInfo:
    id: int
    module: ModuleInfo
    session_number: int
    session_type: str
    name: str
    description: str | None
    duration_minutes: int

    @property
    def label(self) -> str:
        return f"{self.module.module_number}.{self.session_number}"


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    id: int
    name: str
    modules: tuple[ModuleInfo, ...]


@dataclass
class _Catalogue:
    templates: dict[int, TemplateInfo] = field(default_factory=dict)
    session_templates: dict[int, SessionTemplateInfo] = field(default_factory=dict)


def _catalogue(missing: int | None = None, *, of_session: bool = False) -> _Catalogue:
    """Every template version's modules and sessions, read from the database once per process (per app) and
    again only when asked for a version it has not seen: a version is never changed once stored."""
    catalogue: _Catalogue = current_app.extensions.setdefault("programme_catalogue", _Catalogue())
    known = catalogue.session_templates if of_session else catalogue.templates
    if missing is None or missing in known:
        return catalogue
    fresh = _Catalogue()
    modules: dict[int, list[tuple]] = {}
    for row in db.session.execute(
        select(SessionTemplate.id, SessionTemplate.module_id, SessionTemplate.session_number,
               SessionTemplate.session_type, SessionTemplate.name, SessionTemplate.description,
               SessionTemplate.duration_minutes).order_by(SessionTemplate.session_number)
    ):
        modules.setdefault(row.module_id, []).append(tuple(row))
    by_template: dict[int, list[ModuleInfo]] = {}
    for m in db.session.execute(select(Module.id, Module.template_id, Module.module_number, Module.name,
                                       Module.role).order_by(Module.module_number)):
        module = ModuleInfo(m.id, m.template_id, m.module_number, m.name, m.role)
        sessions = tuple(SessionTemplateInfo(sid, module, number, kind, name, description, minutes)
                         for sid, _, number, kind, name, description, minutes in modules.get(m.id, []))
        object.__setattr__(module, "session_templates", sessions)
        fresh.session_templates.update((s.id, s) for s in sessions)
        by_template.setdefault(m.template_id, []).append(module)
    for t in db.session.execute(select(ProgrammeTemplate.id, ProgrammeTemplate.name)):
        fresh.templates[t.id] = TemplateInfo(t.id, t.name, tuple(by_template.get(t.id, [])))
    current_app.extensions["programme_catalogue"] = fresh
    return fresh


def template_info(template_id: int) -> TemplateInfo:
    """A template version's modules and sessions in order, without a query after the first time."""
    return _catalogue(template_id).templates[template_id]


def session_template_info(session_template_id: int) -> SessionTemplateInfo:
    return _catalogue(session_template_id, of_session=True).session_templates[session_template_id]
