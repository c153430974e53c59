"""The authorisation matrix (app/web/permissions.py) is complete and every cell is enforced."""
from __future__ import annotations

import pytest

from app.web.permissions import MATRIX, PUBLIC, SIGNED_IN
from tests.conftest import Browser
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


@pytest.fixture
def region_world(world):  # type: ignore[no-untyped-def]
    return build_region(world, "NW", "North")


def test_every_cell_of_the_matrix_is_enforced(app, region_world):  # type: ignore[no-untyped-def]
    _users, ids = region_world
    rules = _endpoints(app)
    failures = []
    anonymous = app.test_client()
    for endpoint, allowed in sorted(MATRIX.items()):
        rule = rules[endpoint]
        url = fill(rule, ids)
        method = "GET" if "GET" in rule.methods else "POST"
        response = anonymous.open(url, method=method)
        if response.status_code not in (302, 401) and not (method == "POST" and response.status_code == 400):
            failures.append(f"anonymous {method} {url}: {response.status_code}")
    for role in ROLES:
        person = Browser(app, app.test_client())
        person.sign_in(f"{role}.nw")
        for endpoint, allowed in sorted(MATRIX.items()):
            rule = rules[endpoint]
            url = fill(rule, ids)
            if "GET" in rule.methods:
                status = person.get(url).status_code
            else:
                status = person.post(url, {}).status_code
            if role in allowed and status in (401, 403):
                failures.append(f"{role} refused {endpoint} ({status})")
            if role not in allowed and status != 403:
                failures.append(f"{role} allowed {endpoint} ({status})")
    assert failures == []
