"""The authorisation matrix (app/web/permissions.py) is complete and every cell is enforced.

Every allowed cell answers exactly what a person of that role gets when they use the route as its page does
(200, 204, or a redirect to a named place); every refused cell answers exactly 403, and anonymous people are sent
to sign in. A cell that would use up rows (a disagreement sent, a dead letter dismissed, a session cancelled) has
rows of its own, built for it (CELL_ROWS), so no cell depends on which ran before it."""
from __future__ import annotations

import pytest
from werkzeug.routing import MapAdapter

from app import clock
from app.web.permissions import MATRIX, PUBLIC, SIGNED_IN
from tests.conftest import Browser
from tests.web.cells import DURING, EXPECTED, NOT_POSTED, POSTED, Cells
from tests.web.form_fields import _Forms
from tests.web.regions import ROLES, build_region, fill


def _endpoints(app):  # type: ignore[no-untyped-def]
    return {rule.endpoint: rule for rule in app.url_map.iter_rules()}


def test_every_route_is_in_the_matrix(app):  # type: ignore[no-untyped-def]
    missing = sorted(e for e in _endpoints(app) if e not in MATRIX and e not in PUBLIC and e not in SIGNED_IN)
    assert missing == [], f"add these endpoints to app/web/permissions.py: {missing}"


def test_every_view_enforces_exactly_its_row_of_the_matrix(app):  # type: ignore[no-untyped-def]
    wrong = {}
    for endpoint in MATRIX:
        view = app.view_functions[endpoint]
        declared = getattr(view, "allowed_roles", None)
        if declared is None or set(declared) != set(MATRIX[endpoint]):
            wrong[endpoint] = (declared, MATRIX[endpoint])
    assert wrong == {}


def _flashes(person: Browser) -> list[tuple[str, str]]:
    """The messages the next page would show (taken, as that page would take them)."""
    with person.client.session_transaction() as kept:
        return list(kept.pop("_flashes", []))


def _check(adapter, person, cell_name, response, expected, cell) -> list[str]:  # type: ignore[no-untyped-def]
    """What is wrong with one allowed cell's answer: not exactly the expected status and place, or an error
    message for the next page."""
    status, target = expected if isinstance(expected, tuple) else (expected, None)
    got = (response.status_code, response.headers.get("Location"))
    want = (status, _where(adapter, target(cell)) if target else None)
    wrong = [f"{cell_name}: {got}, expected {want}"] if got != want else []
    refused = [text for category, text in _flashes(person) if category == "error"]
    if refused:  # redirected where the page would go, but with the service saying no
        wrong.append(f"{cell_name}: {refused}")
    return wrong


def _where(adapter: MapAdapter, target) -> str:  # type: ignore[no-untyped-def]
    endpoint, values, *anchor = target
    return adapter.build(endpoint, values) + (f"#{anchor[0]}" if anchor else "")


@pytest.fixture
def region_world(world):  # type: ignore[no-untyped-def]
    clock.freeze(DURING)
    return build_region(world, "NW", "North")


def test_every_cell_of_the_matrix_answers_exactly(app, world, region_world, sns_sqs):  # type: ignore[no-untyped-def]
    users, ids = region_world
    cells = Cells(world, users, ids)
    rules = _endpoints(app)
    adapter = app.url_map.bind("localhost")
    failures = []
    anonymous = app.test_client()
    for endpoint in sorted(MATRIX):
        rule = rules[endpoint]
        method = "GET" if "GET" in rule.methods else "POST"
        response = anonymous.open(fill(rule, ids), method=method)
        if (method, response.status_code) not in (("GET", 302), ("POST", 401), ("POST", 400)):
            failures.append(f"anonymous {method} {endpoint}: {response.status_code}")
        elif response.status_code == 302 and not response.headers["Location"].startswith("/login"):
            failures.append(f"anonymous {endpoint} sent to {response.headers['Location']}")
    people = {}
    for role in ROLES:
        people[role] = Browser(app, app.test_client())
        people[role].sign_in(f"{role}.nw")
    for endpoint, allowed in sorted(MATRIX.items()):
        rule = rules[endpoint]
        for role in ROLES:
            person = people[role]
            own, form = cells.rows(endpoint) if role in allowed and "GET" not in rule.methods else ({}, {})
            cell = {**ids, **own}
            url = fill(rule, cell)
            response = person.get(url) if "GET" in rule.methods else person.post(url, form)
            if role not in allowed:
                if response.status_code != 403:
                    failures.append(f"{role} allowed {endpoint}: {response.status_code}")
                continue
            failures += _check(adapter, person, f"{role} {endpoint}", response, EXPECTED.get(endpoint, 200), cell)
            if {"GET", "POST"} <= rule.methods and endpoint not in NOT_POSTED:
                own, filled = cells.posted(endpoint)
                cell = {**ids, **own}
                url = fill(rule, cell)
                page = _Forms(url)
                page.feed(person.get(url).get_data(as_text=True))
                rendered = [fields for action, fields in page.forms if action.split("?")[0] == url]
                if not rendered:
                    failures.append(f"{role} {endpoint}: no form on its page posts to it")
                    continue
                form = {name: field.value for name, field in rendered[0].items()
                        if field.value is not None and not name.endswith("csrf_token")}
                response = person.post(url, {**form, **filled})
                failures += _check(adapter, person, f"{role} POST {endpoint}", response, POSTED[endpoint], cell)
    assert failures == [], "\n".join(failures)
