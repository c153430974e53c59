"""The programme template: loaded from data, turned into plain values for the scheduling rules."""
from __future__ import annotations

import json
from datetime import date
from importlib import resources

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
