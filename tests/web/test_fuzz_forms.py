"""Hypothesis throws bad input at every form and HTMX endpoint: never a 500, never a change from input that was
refused, never a stack trace or SQL in the answer."""
from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.extensions import db
from app.web.permissions import MATRIX
from tests.conftest import Browser
from tests.web.regions import build_region, fill

NASTY = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=31), max_size=10),
    st.sampled_from(["", " ", "0", "-1", "99999999999999999999", "1e308", "NaN", "2026-02-30", "25:61",
                     "'; DROP TABLE referral; --", "<script>alert(1)</script>", "MONDAY@10:00", "ATTC", "true",
                     "x" * 5000, "\x00", "2026-03-23", "10:00", "12"]),
    st.integers(min_value=-(2**63), max_value=2**63).map(str),
)
LEAKS = re.compile(rb"Traceback|sqlalchemy|psycopg|sqlite3|IntegrityError|File \"/", re.IGNORECASE)


def _fingerprint():  # type: ignore[no-untyped-def]
    return tuple(db.session.execute(select(func.count()).select_from(t)).scalar()
                 for t in db.metadata.sorted_tables if t.name != "audit_event")


def _field_names(person, rules, ids):  # type: ignore[no-untyped-def]
    names = {"csrf_token_extra", "id", "version", "outcome", "notes"}
    for endpoint, allowed in MATRIX.items():
        rule = rules[endpoint]
        if "GET" in rule.methods and person.role in allowed:
            names.update(n.decode() for n in re.findall(rb'name="([A-Za-z0-9_\-]+)"', person.get(fill(rule, ids)).data))
    names.discard("csrf_token")
    return sorted(names)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_bad_input_never_breaks_a_form_or_changes_anything_when_refused(app, world, data):  # type: ignore[no-untyped-def]
    if not hasattr(world, "fuzz"):
        _, ids = build_region(world, "NW", "North")
        _, other = build_region(world, "LDN", "London")
        world.fuzz = {"ids": ids, "other": other, "people": {}}
    ids, other = world.fuzz["ids"], world.fuzz["other"]
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    role = data.draw(st.sampled_from(["treatment_manager", "facilitator", "lead"]))
    posts = sorted(e for e, allowed in MATRIX.items() if "POST" in rules[e].methods and role in allowed)
    if not posts:
        return
    if role not in world.fuzz["people"]:
        person = Browser(app, app.test_client())
        person.sign_in(f"{role}.nw")
        person.role = role
        world.fuzz["people"][role] = (person, _field_names(person, rules, ids))
    person, names = world.fuzz["people"][role]
    endpoint = data.draw(st.sampled_from(posts))
    form = data.draw(st.dictionaries(st.sampled_from(names), st.one_of(NASTY, st.sampled_from(
        [str(v) for v in other.values()])), max_size=8))
    htmx = data.draw(st.booleans())
    before = _fingerprint()
    response = person.post(fill(rules[endpoint], ids), form, htmx=htmx)
    assert response.status_code < 500, (endpoint, form)
    assert not LEAKS.search(response.data), (endpoint, form)
    if 400 <= response.status_code < 500:
        assert _fingerprint() == before, (endpoint, form, response.status_code)
