"""The admins' page of programme versions (issue 15.10)."""
from __future__ import annotations

import re
from datetime import date, datetime

import pytest

from app import clock
from app.services import programme_publish
from tests.template_versions import building_choices, template_versions  # noqa: F401


def _text(html: bytes) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.decode())).strip()


@pytest.mark.usefixtures("template_versions")
def test_admins_see_every_version_which_one_new_groups_get_and_how_many_groups_use_each(browser, world):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 12, 1, 9, 0))
    region = world.region()
    world.user(region, "admin", "admin")
    manager = world.user(region, "treatment_manager")
    world.group(manager, "G1")
    world.group(manager, "G2")
    programme_publish.publish(building_choices(), date(2027, 1, 4))
    browser.sign_in("admin")
    page = browser.get("/admin/programmes")
    assert page.status_code == 200
    table = _text(re.search(rb'<table class="govuk-table" id="versions">.*?</table>', page.data, re.DOTALL).group(0))
    assert table == (
        "2 versions Programme Valid Modules Sessions Groups Status "
        "Building Choices From 4 Jan 2027 7 27 0 Not valid yet "
        "Building Choices From 1 Jan 2024 until 3 Jan 2027 7 27 2 In use for new groups")
    assert "1. Pre-group one-to-ones (pre-group), 3 weeks' gap after" in _text(page.data)
    assert b'href="/admin/programmes"' in page.data  # in the navigation


def test_nobody_but_admins_opens_it(browser, world):  # type: ignore[no-untyped-def]
    region = world.region()
    world.user(region, "lead", "lead")
    browser.sign_in("lead")
    assert browser.get("/admin/programmes").status_code == 403
    assert b'href="/admin/programmes"' not in browser.get("/groups").data
