"""Hypothesis throws bad input at every form and HTMX endpoint: never a 500, never a change (to any row of any table)
from input that was refused, never a stack trace or SQL in the answer.

The forms are read from the pages themselves (tests/web/form_fields.py): each POST starts from what its page
would send, and some fields are replaced by edge values of their kind — ids and numbers outside the database's
integers, dates at the ends of the calendar, impossible times, huge, empty and control-character strings — or
a path id is. GET pages get the same treatment in their query strings (the calendar's date, a scope, a page)."""
from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.web.permissions import MATRIX
from tests.conftest import Browser
from tests.web.form_fields import EDGES, QUERY_FIELDS, read_forms
from tests.web.regions import build_region, changed_tables, fill, table_contents

NASTY = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=31), max_size=10),
    st.sampled_from(["", " ", "0", "-1", "99999999999999999999", "1e308", "NaN", "2026-02-30", "25:61",
                     "'; DROP TABLE referral; --", "<script>alert(1)</script>", "MONDAY@10:00", "ATTC", "true",
                     "x" * 5000, "\x00", "2026-03-23", "10:00", "12"]),
    st.integers(min_value=-(2**63), max_value=2**63).map(str),
)
SOME_NAMES = ("id", "version", "outcome", "notes", "group_id", "referral_id", "date", "start")
LEAKS = re.compile(rb"Traceback|sqlalchemy|psycopg|sqlite3|IntegrityError|File \"/", re.IGNORECASE)


def _value(kind: str, offered: tuple[str, ...], other_ids: list[str]):  # type: ignore[no-untyped-def]
    """Mostly an edge value of the field's kind; else one it offers, another region's id, or anything at all."""
    others = [NASTY, st.sampled_from(other_ids)] + ([st.sampled_from(offered)] if offered else [])
    return st.one_of(st.sampled_from(EDGES[kind]), st.sampled_from(EDGES[kind]), *others)


def _path_with(rule, ids, data):  # type: ignore[no-untyped-def]
    """The endpoint's URL with this region's ids, or (one time in five) with one of them replaced by an edge id."""
    if rule.arguments and data.draw(st.integers(0, 4)) == 0:
        name = data.draw(st.sampled_from(sorted(rule.arguments)))
        return fill(rule, {**ids, name: data.draw(st.sampled_from(EDGES["path_id"]))})
    return fill(rule, ids)


def _setup(app, world, role):  # type: ignore[no-untyped-def]
    if not hasattr(world, "fuzz"):
        _, ids = build_region(world, "NW", "North")
        _, other = build_region(world, "LDN", "London")
        world.fuzz = {"ids": ids, "other": [str(v) for v in other.values()], "people": {}}
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    if role not in world.fuzz["people"]:
        person = Browser(app, app.test_client())
        person.sign_in(f"{role}.nw")
        person.role = role
        world.fuzz["people"][role] = (person, read_forms(app, person, rules, world.fuzz["ids"]))
    person, forms = world.fuzz["people"][role]
    return rules, person, forms


def _form(fields, forms, other, data):  # type: ignore[no-untyped-def]
    """The form as its page would send it with one field replaced by a drawn value (what reaches the code behind
    the first check), or with about one field in three replaced."""
    form = {name: field.value for name, field in fields.items() if field.value is not None}
    names = sorted(fields)
    if names and data.draw(st.booleans()):
        changed = [data.draw(st.sampled_from(names))]
    else:
        changed = [name for name in names if data.draw(st.integers(0, 2)) == 0]
    for name in changed:
        form[name] = data.draw(_value(fields[name].kind, fields[name].offered, other))
    anywhere = sorted({*forms["*"], *SOME_NAMES})  # fields of other forms too: a form must ignore what it lacks
    form.update(data.draw(st.dictionaries(st.sampled_from(anywhere), NASTY, max_size=2)))
    return form


ROLES = ["treatment_manager", "treatment_manager", "facilitator", "lead"]  # managers have the most forms


def _weighted(endpoints, forms, prefix=""):  # type: ignore[no-untyped-def]
    """An endpoint, those with more fields (so more to get wrong) drawn more often."""
    return st.sampled_from([e for e in endpoints for _ in range(1 + len(forms.get(prefix + e, ())))])


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_bad_input_never_breaks_a_form_or_changes_anything_when_refused(app, world, data):  # type: ignore[no-untyped-def]
    role = data.draw(st.sampled_from(ROLES))
    rules, person, forms = _setup(app, world, role)
    ids, other = world.fuzz["ids"], world.fuzz["other"]
    posts = sorted(e for e, allowed in MATRIX.items() if "POST" in rules[e].methods and role in allowed)
    if not posts:
        return
    endpoint = data.draw(_weighted(posts, forms))
    form = _form(forms.get(endpoint) or {}, forms, other, data)
    url = _path_with(rules[endpoint], ids, data)
    before = table_contents()
    response = person.post(url, form, htmx=data.draw(st.booleans()))
    assert response.status_code < 500, (url, form)
    assert not LEAKS.search(response.data), (url, form)
    if 400 <= response.status_code < 500:
        assert changed_tables(before, table_contents()) == {}, (url, form, response.status_code)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_bad_query_strings_and_path_ids_never_break_a_page(app, world, data):  # type: ignore[no-untyped-def]
    """The query arguments a page's own links carry (the calendar's date, view and scope, a list's page), or any
    of QUERY_FIELDS, with edge values; or a path id at the edge. Opening a page changes nothing."""
    role = data.draw(st.sampled_from(ROLES))
    rules, person, forms = _setup(app, world, role)
    ids, other = world.fuzz["ids"], world.fuzz["other"]
    gets = sorted(e for e, allowed in MATRIX.items() if "GET" in rules[e].methods and role in allowed)
    endpoint = data.draw(_weighted(gets, forms, "GET "))
    own = forms.get(f"GET {endpoint}") or {}
    if own and data.draw(st.integers(0, 3)) > 0:
        query = {name: field.value for name, field in own.items()}
        for name in data.draw(st.lists(st.sampled_from(sorted(own)), min_size=1, max_size=2, unique=True)):
            query[name] = data.draw(_value(own[name].kind, (), other))
    else:
        names = data.draw(st.lists(st.sampled_from(sorted(QUERY_FIELDS)), max_size=3, unique=True))
        query = {name: data.draw(_value(QUERY_FIELDS[name], (), other)) for name in names}
    url = _path_with(rules[endpoint], ids, data)
    before = table_contents()
    response = person.get(url, query_string=query, htmx=data.draw(st.booleans()))
    assert response.status_code < 500, (url, query)
    assert not LEAKS.search(response.data), (url, query)
    assert changed_tables(before, table_contents()) == {}, (url, query)
