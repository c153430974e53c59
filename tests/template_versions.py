"""Programme template versions published by a test must not outlive it: the template tables are reference data
that tests/conftest.py keeps between tests. Use the ``template_versions`` fixture in any test that publishes."""
from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from app.extensions import db
from app.models import Module, ProgrammeTemplate, SessionTemplate
from app.services.programme import template_json


def building_choices(**changes: Any) -> dict[str, Any]:
    """The shipped Building Choices template as JSON data (a fresh copy), with top-level changes."""
    return {**copy.deepcopy(template_json()), **changes}


@pytest.fixture
def template_versions(app) -> Iterator[None]:  # type: ignore[no-untyped-def]
    yield
    from tests.conftest import _empty_tables

    db.session.rollback()
    _empty_tables()
    seed = db.session.scalar(select(func.min(ProgrammeTemplate.id)))
    extra = list(db.session.scalars(select(ProgrammeTemplate.id).where(ProgrammeTemplate.id != seed)))
    if extra:
        modules = select(Module.id).where(Module.template_id.in_(extra))
        db.session.execute(delete(SessionTemplate).where(SessionTemplate.module_id.in_(modules)))
        db.session.execute(delete(Module).where(Module.template_id.in_(extra)))
        db.session.execute(delete(ProgrammeTemplate).where(ProgrammeTemplate.id.in_(extra)))
    db.session.get(ProgrammeTemplate, seed).valid_until = None
    db.session.commit()
