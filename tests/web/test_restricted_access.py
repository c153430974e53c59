"""Restricted access (LAO, issue 14.4) on every page: a person nDelius says a user may not see appears as
"Restricted" (their name and CRN never reach that user's browser, exports included), counts stay right, their
page answers 403 with a plain explanation, and each page asks nDelius once (batched, cached)."""
from __future__ import annotations

import json

import pytest

from app.extensions import db
from app.models import Referral
from app.web.permissions import MATRIX
from tests.conftest import Browser
from tests.web.regions import build_region, fill

SENTINELS = ("Person Rowan 0", "R000000", "Waiting Rowan", "R999999")
VISIBLE = ("Person Rowan 1", "R000001")


@pytest.fixture
def lao(app, world, case_ndelius, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setitem(app.config, "LAO_CHECKS", True)
    users, ids = build_region(world, "RRR", "Rowan")
    case_ndelius.cases.add(
        {"crn": "R000000", "forename": "Person", "surname": "Rowan 0", "dateOfBirth": "1980-01-01",
         "restrictedTo": ["treatment_manager.rrr"]},
        {"crn": "R999999", "forename": "Waiting", "surname": "Rowan", "dateOfBirth": "1980-01-01",
         "excluded": ["facilitator.rrr", "lead.rrr", "admin.rrr"]})
    ids["restricted_id"] = db.session.query(Referral).filter_by(crn="R000000").one().id
    return {"users": users, "ids": ids, "nd": case_ndelius}


def _pages(app, ids):  # type: ignore[no-untyped-def]
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    for endpoint in sorted(MATRIX):
        rule = rules[endpoint]
        if "GET" in rule.methods:
            yield endpoint, fill(rule, ids)


@pytest.mark.parametrize("role", ["facilitator", "lead", "admin"])
def test_a_restricted_person_appears_nowhere_for_a_user_who_may_not_see_them(app, lao, role):  # type: ignore[no-untyped-def]
    person = Browser(app, app.test_client())
    person.sign_in(f"{role}.rrr")
    leaks, crawled, restricted_shown = [], 0, []
    for endpoint, url in _pages(app, lao["ids"]):
        if role not in MATRIX[endpoint]:
            continue
        before = len(lao["nd"].cases.access_calls)
        response = person.get(url)
        calls = lao["nd"].cases.access_calls[before:]
        crawled += 1
        body = response.get_data(as_text=True)
        leaks += [f"{url} shows {s}" for s in SENTINELS if s in body]
        if len(calls) > 1:
            leaks.append(f"{url} asked nDelius {len(calls)} times: {calls}")
        if "Restricted" in body:
            restricted_shown.append(endpoint)
        if url.startswith("/people/"):
            assert response.status_code == 403  # the waiting person is withheld from these roles
    assert leaks == [] and crawled > 10
    assert {"groups.show", "register.show"} <= set(restricted_shown)
    if role != "facilitator":
        assert {"progress.group", "referrals.index"} <= set(restricted_shown)

    page = person.get(f"/people/{lao['ids']['restricted_id']}")
    assert page.status_code == 403
    text = page.get_data(as_text=True)
    assert "You cannot see this person" in text and "restricts who may see" in text
    assert not any(s in text for s in SENTINELS)


def test_the_register_and_the_export_show_restricted_rows_and_keep_counts(app, lao):  # type: ignore[no-untyped-def]
    ids = lao["ids"]
    person = Browser(app, app.test_client())
    person.sign_in("lead.rrr")
    register = person.get(f"/sessions/{ids['session_id']}").get_data(as_text=True)
    assert 'data-restricted="true"' in register and "This is a restricted record" in register
    assert "Person Rowan 1" in register and not any(s in register for s in SENTINELS)
    assert "0 of 2" in register or "of 2 recorded" in register  # the restricted person still counts
    grid = person.get(f"/progress/groups/{ids['group_id']}").get_data(as_text=True)
    assert "Restricted" in grid and f"/people/{ids['restricted_id']}" not in grid  # masked, not linked
    assert "Person Rowan 1" in grid and not any(s in grid for s in SENTINELS)

    export = person.get(f"/progress/export.csv?group_id={ids['group_id']}").get_data(as_text=True)
    lines = export.strip().splitlines()
    assert len(lines) == 3  # header + both members
    assert any(",Restricted," in line for line in lines) and "Person Rowan 1" in export
    assert not any(s in export for s in SENTINELS)


def test_the_person_who_may_see_them_does_and_answers_are_cached(app, lao):  # type: ignore[no-untyped-def]
    ids = lao["ids"]
    person = Browser(app, app.test_client())
    person.sign_in("treatment_manager.rrr")
    page = person.get(f"/people/{ids['restricted_id']}")
    assert page.status_code == 200 and "Person Rowan 0" in page.get_data(as_text=True)
    group = person.get(f"/groups/{ids['group_id']}").get_data(as_text=True)
    assert "Person Rowan 0" in group and "R000000" in group
    calls = len(lao["nd"].cases.access_calls)
    person.get(f"/groups/{ids['group_id']}")
    assert len(lao["nd"].cases.access_calls) == calls  # answered from the cache


def test_while_ndelius_cannot_answer_unchecked_people_are_withheld(app, lao):  # type: ignore[no-untyped-def]
    ids = lao["ids"]
    lao["nd"].cases.control("POST", json.dumps({"fail_5xx": 5}).encode())
    person = Browser(app, app.test_client())
    person.sign_in("treatment_manager.rrr")
    body = person.get(f"/groups/{ids['group_id']}").get_data(as_text=True)
    assert not any(s in body for s in SENTINELS + VISIBLE)  # nobody shown without a check
    assert "Restricted" in body
    assert person.get(f"/groups/{ids['group_id']}").status_code == 200  # the page still works
