"""Shared values for the pure scheduling tests: the Building Choices template and 2026 bank holidays."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from app.scheduling import ProgrammeSpec, programme_from_json

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "app" / "data" / "building_choices.json"

ENGLAND_AND_WALES_2026 = frozenset(
    {
        date(2026, 1, 1),
        date(2026, 4, 3),  # Good Friday
        date(2026, 4, 6),  # Easter Monday
        date(2026, 5, 4),
        date(2026, 5, 25),
        date(2026, 8, 31),
        date(2026, 12, 25),
        date(2026, 12, 28),  # Boxing Day substitute
    }
)


@pytest.fixture(scope="session")
def building_choices() -> ProgrammeSpec:
    return programme_from_json(json.loads(TEMPLATE_PATH.read_text(encoding="utf-8")))


@pytest.fixture(scope="session")
def holidays_2026() -> frozenset[date]:
    return ENGLAND_AND_WALES_2026
