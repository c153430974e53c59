"""The authorisation matrix: which roles may use each endpoint. This table is the reviewed statement of who may
do what; each view enforces it with `app.web.access.roles(...)`, and tests/web/test_authorisation.py fails when
a route is missing here, when a view's decorator disagrees with this table, or when any cell is not enforced.

PUBLIC endpoints need no sign-in."""
from __future__ import annotations

from app.web.access import EVERYONE, MANAGERS

PUBLIC = frozenset({"static", "auth.login", "auth.index", "health.health"})
SIGNED_IN = frozenset({"auth.logout"})

LEADS = ("lead", "treatment_manager", "admin")

MATRIX: dict[str, tuple[str, ...]] = {
    "groups.index": EVERYONE,
    "groups.show": EVERYONE,
    "groups.new": MANAGERS,
    "groups.start": MANAGERS,
    "operations.show": EVERYONE,
    "history.group": EVERYONE,
    "history.session": EVERYONE,
}
