"""Nobody sees or changes another region's groups, referrals or sessions (admins excepted).

A person of region B replays every request of the service against region A's objects twice: with an empty body,
and with a valid body built for region A's own people: for each POST the authorisation matrix proves works for
A's manager (tests/web/cells.py: rows of its own in region A and the form that succeeds on them), that form;
for the other forms, the form as A's pages render it for A's manager or facilitator (ids and versions right for
A's rows), empty text filled in. Both are refused, and afterwards every row of every table is as it was
(tests/web/regions.py: table_contents)."""
from __future__ import annotations

from app import clock
from app.web.permissions import MATRIX
from tests.conftest import Browser
from tests.web.cells import DURING, Cells
from tests.web.form_fields import read_forms
from tests.web.regions import build_region, changed_tables, fill, table_contents

SENTINEL = "Zanzibar"


def _owners_forms(app, rules, a_ids):  # type: ignore[no-untyped-def]
    """The body each POST endpoint's form sends on region A's pages, as A's manager (most forms) or, for forms only
    a facilitator sees, A's facilitator would send it."""
    bodies: dict[str, dict[str, str]] = {}
    for role in ("treatment_manager", "facilitator"):
        owner = Browser(app, app.test_client())
        owner.sign_in(f"{role}.aaa")
        owner.role = role
        for endpoint, fields in read_forms(app, owner, rules, a_ids).items():
            if endpoint in MATRIX and endpoint not in bodies:
                # the CSRF token (of a prefixed form too) is the sender's own: the Browser sends it
                bodies[endpoint] = {name: (f.value or "Checked with the person") if f.kind == "text" else f.value
                                    for name, f in fields.items()
                                    if f.value is not None and not name.endswith("csrf_token")}
    return bodies


def test_region_b_can_neither_read_nor_change_region_a(app, world):  # type: ignore[no-untyped-def]
    clock.freeze(DURING)
    a_users, a_ids = build_region(world, "AAA", SENTINEL)
    _b_users, b_ids = build_region(world, "BBB", "Bristol")
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    bodies = {e: ({}, body) for e, body in _owners_forms(app, rules, a_ids).items()}
    cells = Cells(world, a_users, a_ids)
    bodies.update({e: cells.rows(e) for e in sorted(MATRIX) if "GET" not in rules[e].methods and cells.has(e)})
    before = table_contents()
    leaks, crawled, replayed = [], 0, 0
    for role in ("facilitator", "treatment_manager", "lead"):
        person = Browser(app, app.test_client())
        person.sign_in(f"{role}.bbb")
        for endpoint in sorted(MATRIX):
            rule = rules[endpoint]
            theirs = fill(rule, a_ids)
            if rule.arguments:
                for htmx in (False, True):
                    if "GET" in rule.methods:
                        sent = [("GET", person.get(theirs, htmx=htmx))]
                    else:
                        sent = [("empty", person.post(theirs, {}, htmx=htmx))]
                    if "POST" in rule.methods and endpoint in bodies:
                        own, body = bodies[endpoint]
                        sent.append(("valid", person.post(fill(rule, {**a_ids, **own}), body, htmx=htmx)))
                        replayed += 1
                    for how, response in sent:
                        if response.status_code not in (403, 404):
                            leaks.append(f"{role} {how} {theirs} htmx={htmx}: {response.status_code}")
            if "GET" in rule.methods and role in MATRIX[endpoint]:
                ours = person.get(fill(rule, b_ids))
                crawled += 1
                if SENTINEL.encode() in ours.data:
                    leaks.append(f"{role} sees region A's sentinel on {fill(rule, b_ids)}")
    assert leaks == [], "\n".join(leaks)
    assert crawled > 0
    assert replayed > 0
    assert changed_tables(before, table_contents()) == {}
