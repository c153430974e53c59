"""Bad input answers 4xx, never 500: ids beyond the database's integers (PostgreSQL's end at 2^31 - 1), slot days
that are not offered, dates at the calendar's ends, and a body too large to read (app/web/input_bounds.py)."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Group
from app.web.input_bounds import ID_MAX
from app.web.permissions import MATRIX
from tests.conftest import Browser
from tests.web.regions import build_region, fill

TOO_BIG = [str(ID_MAX + 1), str(2**63), "99999999999999999999"]


@pytest.fixture
def region(app, world):  # type: ignore[no-untyped-def]
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a 500 is an answer here, not an exception in the test
    _, ids = build_region(world, "NW", "North")
    person = Browser(app, app.test_client())
    person.sign_in("treatment_manager.nw")
    yield person, ids
    app.config["PROPAGATE_EXCEPTIONS"] = None


def _h1(response) -> str:  # type: ignore[no-untyped-def]
    match = re.search(rb"<h1[^>]*>(.*?)</h1>", response.data, re.DOTALL)
    return match.group(1).decode().strip() if match else ""


def _errors(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [re.sub(r"<[^>]+>|\s+", " ", m.decode()).replace("Error:", "").strip()
            for m in re.findall(rb'class="govuk-error-message"[^>]*>(.*?)</p>', response.data, re.DOTALL)]


def test_an_id_beyond_the_database_range_in_any_path_is_page_not_found(app, region):  # type: ignore[no-untyped-def]
    person, ids = region
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    wrong = []
    for endpoint in sorted(MATRIX):
        rule = rules[endpoint]
        for name in rule.arguments:
            for big in TOO_BIG:
                url = fill(rule, {**ids, name: big})
                response = person.get(url) if "GET" in rule.methods else person.post(url, {})
                if response.status_code != 404 or _h1(response) != "Page not found":
                    wrong.append(f"{url}: {response.status_code}")
    assert wrong == []


@pytest.mark.parametrize("big", TOO_BIG)
def test_an_id_beyond_the_database_range_in_a_form_is_refused_next_to_the_field(region, big):  # type: ignore[no-untyped-def]
    person, ids = region
    members = db.session.scalar(select(func.count()).select_from(Group))
    allocate = person.post(f"/referrals/{ids['referral_id']}/allocate", {"group_id": big})
    assert allocate.status_code == 400
    assert "Choose a group" in allocate.get_data(as_text=True)
    on_group = person.post(f"/groups/{ids['group_id']}/members/allocate", {"referral_id": big})
    assert on_group.status_code == 400
    team = person.post(f"/groups/{ids['group_id']}/facilitators", {"lead_facilitator_id": big})
    assert team.status_code == 400
    assert _errors(team) == ["Invalid Choice: could not coerce."]
    assert person.get(f"/calendar?scope=group-{big}").status_code == 404
    assert person.get(f"/progress/export.csv?group_id={big}").status_code == 404
    assert person.get(f"/referrals?page={big}").status_code == 200
    assert db.session.scalar(select(func.count()).select_from(Group)) == members


def _new_group(ids, **changes):  # type: ignore[no-untyped-def]
    form = {"code": "NEW-1", "cohort": "general", "sex": "male", "delivery_location": "Room 1",
            "earliest_start_date": "2026-03-02", "slots-0-day": "0", "slots-0-start_time": "10:00",
            "lead_facilitator_id": str(ids["facilitator_id"])}
    form.update(changes)
    return form


@pytest.mark.parametrize("day", ["-1", "1.5", "NaN", "Monday", "7", "99999999999999999999", "\x00"])
def test_a_slot_day_that_is_not_offered_is_refused_next_to_the_day(region, day):  # type: ignore[no-untyped-def]
    person, ids = region
    created = person.post("/groups/new", _new_group(ids, **{"slots-0-day": day}))
    assert created.status_code == 400
    assert "Not a valid choice." in _errors(created)
    assert db.session.scalar(select(func.count()).select_from(Group).where(Group.code == "NEW-1")) == 0
    changed = person.post(f"/calendar/groups/{ids['group_id']}/days-and-times", {
        "earliest_start_date": "2026-03-02", "slots-0-day": day, "slots-0-start_time": "10:00", "version": "1"})
    assert changed.status_code == 400
    assert "Not a valid choice." in _errors(changed)


@pytest.mark.parametrize("version", ["99999999999999999999", "-1", "1.5", "NaN"])
def test_a_version_beyond_the_database_range_is_refused(region, version):  # type: ignore[no-untyped-def]
    person, ids = region
    changed = person.post(f"/calendar/groups/{ids['group_id']}/days-and-times", {
        "earliest_start_date": "2026-03-02", "slots-0-day": "1", "slots-0-start_time": "10:00", "version": version})
    assert changed.status_code == 400


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_a_date_at_the_calendars_ends_is_refused(region, day):  # type: ignore[no-untyped-def]
    person, ids = region
    for view in ("week", "month"):
        calendar = person.get(f"/calendar?date={day}&view={view}")
        assert calendar.status_code == 400
        assert "The calendar shows dates from 1 January 2000 to 31 December 2099." in calendar.get_data(as_text=True)
    expected = "Enter a date between 1 1 2000 and 31 12 2099"
    preview = person.get(f"/calendar/sessions/{ids['session_id']}/postpone?date={day}&start=10:00")
    assert preview.status_code == 422
    assert expected in _errors(preview)
    confirm = person.post(f"/calendar/sessions/{ids['session_id']}/postpone", {"date": day, "start": "10:00"})
    assert confirm.status_code == 422
    assert expected in _errors(confirm)
    reslot = person.post(f"/calendar/groups/{ids['group_id']}/days-and-times", {
        "earliest_start_date": day, "slots-0-day": "1", "slots-0-start_time": "10:00", "version": "1"})
    assert reslot.status_code == 400
    assert expected in _errors(reslot)
    created = person.post("/groups/new", _new_group(ids, earliest_start_date=day))
    assert created.status_code == 400
    assert expected in _errors(created)
    assert db.session.scalar(select(func.count()).select_from(Group).where(Group.code == "NEW-1")) == 0


@pytest.mark.parametrize("multipart", [False, True])
def test_a_900_kb_note_gets_the_too_large_page(region, multipart):  # type: ignore[no-untyped-def]
    person, ids = region
    url = f"/sessions/{ids['session_id']}/attendees/{ids['attendee_id']}"
    data = {"outcome": "ATTC", "notes": "x" * 900_000}
    response = person.post(url, data, content_type="multipart/form-data" if multipart else None)
    assert response.status_code == 413
    assert _h1(response) == "What you sent is too large"
    assert "Nothing was saved." in response.get_data(as_text=True)
