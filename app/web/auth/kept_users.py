"""The signed-in person's row, kept in each server process between their requests, so that a page that reads
nothing else (a kept dashboard, a 404) sends no SQL at all.

It is still checked at once on every request: a kept row is used only under the users' generation it was read
with (app/services/generations.py: every commit writing app_user or region replaces it). Signing out
(session_version), being disabled (active), a new role or region at sign-in: the next request in any process
reads the row again. The generation is read before the row, so a row read during someone's commit is kept
under the old generation and dropped on the next request. A kept row also lasts at most KEPT_SECONDS, in case
a replacement was lost with Redis; without Redis nothing is kept and every request reads the row."""
from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from app.services import generations

KEPT_SECONDS = 5.0
MAX_KEPT = 10_000


@dataclass(frozen=True)
class _Kept:
    generation: str
    expires: float
    values: Mapping[str, Any]


def init_app(app: Flask) -> None:
    app.extensions["kept_users"] = {"rows": OrderedDict()}


def row(user_id: int, read: Callable[[], Mapping[str, Any] | None]) -> Mapping[str, Any] | None:
    """The user's row: kept, if it was read under the current generation and lately; else `read()`."""
    state: dict[str, Any] | None = current_app.extensions.get("kept_users")
    if state is None:
        return read()
    rows: OrderedDict[int, _Kept] = state["rows"]
    found = rows.get(user_id)
    # The region generation the pages will want comes in the same round trip (a guess from the kept row: if
    # the row has changed, the page asks for its own)
    generation = generations.current("users", also=() if found is None else _region_keys(found.values))
    if generation is None:
        return read()
    now = time.monotonic()
    if found is not None and found.generation == generation and found.expires > now:
        return found.values
    values = read()
    if values is None:
        rows.pop(user_id, None)
        return None
    rows[user_id] = _Kept(generation, now + KEPT_SECONDS, values)
    rows.move_to_end(user_id)
    while len(rows) > MAX_KEPT:
        rows.popitem(last=False)
    return values


def _region_keys(row: Mapping[str, Any]) -> tuple[str, str]:
    """The keys app/web/region_cache.py reads for this person's pages: their region's generation (every
    region's, for an admin) and every region's."""
    return generations.region_key(generations.scope_of(row["role"], row["region_id"])), generations.region_key(None)


def restore_signed_in(session: Any) -> None:
    """After a commit that did not write app_user or region: the signed-in user (and their region) as they
    were read for this request, as if loaded again, instead of expired (expire_on_commit) and read again by the
    next attribute the request touches (the answer to a tap asks the user's role and username)."""
    from flask import g
    from sqlalchemy import inspect
    from sqlalchemy.orm.attributes import set_committed_value
    from sqlalchemy.orm.util import identity_key

    row = g.get("signed_in_row")
    user = g.get("_login_user")
    state = inspect(user, raiseerr=False)
    if row is None or state is None or state.identity != (row["id"],) or state.session is not session:
        return
    for column in state.mapper.columns:
        set_committed_value(user, column.key, row[column.key])
    region = session.identity_map.get(identity_key(state.mapper.relationships["region"].mapper.class_,
                                                   row["region_id"]))
    if region is not None:
        for column in inspect(region).mapper.columns:
            set_committed_value(region, column.key, row[f"region__{column.key}"])
        set_committed_value(user, "region", region)
