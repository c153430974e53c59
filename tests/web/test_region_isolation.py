"""Nobody sees or changes another region's groups, referrals or sessions (admins excepted)."""
from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.web.permissions import MATRIX
from tests.conftest import Browser
from tests.web.regions import build_region, fill

SENTINEL = "Zanzibar"


def _fingerprint():  # type: ignore[no-untyped-def]
    return {t.name: db.session.execute(select(func.count()).select_from(t)).scalar()
            for t in db.metadata.sorted_tables if t.name not in ("audit_event",)}


def test_region_b_can_neither_read_nor_change_region_a(app, world):  # type: ignore[no-untyped-def]
    _, a_ids = build_region(world, "AAA", SENTINEL)
    _b_users, b_ids = build_region(world, "BBB", "Bristol")
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    before = _fingerprint()
    leaks, crawled = [], 0
    for role in ("facilitator", "treatment_manager", "lead"):
        person = Browser(app, app.test_client())
        person.sign_in(f"{role}.bbb")
        for endpoint in sorted(MATRIX):
            rule = rules[endpoint]
            theirs = fill(rule, a_ids)
            if rule.arguments:
                for htmx in (False, True):
                    response = (person.get(theirs, htmx=htmx) if "GET" in rule.methods
                                else person.post(theirs, {}, htmx=htmx))
                    if response.status_code not in (403, 404):
                        leaks.append(f"{role} {theirs} htmx={htmx}: {response.status_code}")
            if "GET" in rule.methods and role in MATRIX[endpoint]:
                ours = person.get(fill(rule, b_ids))
                crawled += 1
                if SENTINEL.encode() in ours.data:
                    leaks.append(f"{role} sees region A's sentinel on {fill(rule, b_ids)}")
    assert leaks == []
    assert crawled > 0
    assert _fingerprint() == before
