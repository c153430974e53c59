"""Generations of tables, in Redis: a token per name that every commit writing one of its tables replaces
(app/web/region_cache.py notes what each transaction writes and calls `written`). A value worked out under a
generation may be reused while the generation is the same: nothing it was read from has changed since.
Without Redis there is no generation (None), and callers read afresh."""
from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from typing import Any, cast

from flask import Flask, current_app, g, has_request_context
from redis.exceptions import RedisError

NAMES: dict[str, frozenset[str]] = {
    "users": frozenset({"app_user", "region"}),  # the signed-in person's row (app/web/auth/kept_users.py)
    "operations": frozenset({"operation"}),  # running reschedules (the calendar's banner)
    "ndelius": frozenset({"ndelius_appointment", "outbox_item"}),  # what nDelius has (the register's tags)
    # a session as its register's header shows it (app.services.register.header; the catalogue never changes)
    "sessions": frozenset({"programme_session", "programme_group", "session_facilitator", "facilitator"}),
    # no tables: made again only when Redis loses it (app/services/lao.py keeps nDelius's answers under it)
    "lao": frozenset(),
}
REDIS_RETRY_SECONDS = 30.0
ALL_REGIONS = "all"


def init_app(app: Flask) -> None:
    app.extensions["generations"] = {"redis_down_until": 0.0}


def current(name: str, *, also: Sequence[str] = ()) -> str | None:
    """The generation of `name` now (made on first use), or None without Redis. In a request, all of them are
    asked of Redis at once, the first time one is wanted (one round trip), with any other tokens the request
    will want (`also`: the signed-in person's region generation, app/web/region_cache.py), and a commit in the
    request forgets them (`forget`)."""
    state: dict[str, Any] | None = current_app.extensions.get("generations")
    if state is None or state["redis_down_until"] > time.monotonic():
        return None
    if not has_request_context():
        return _ask(state).get(name)
    if "table_generations" not in g:
        g.table_generations = _ask(state, also)
    found: dict[str, str | None] = g.table_generations
    return found.get(name)


def _ask(state: dict[str, Any], also: Sequence[str] = ()) -> dict[str, str | None]:
    names = list(NAMES)
    try:
        values = tokens([_key(name) for name in names] + list(also))
    except RedisError:
        state["redis_down_until"] = time.monotonic() + REDIS_RETRY_SECONDS
        return {}
    if also and has_request_context():
        g.asked_tokens = dict(zip(also, values[len(names):]))
    return {name: value or None for name, value in zip(names, values)}


def tokens(keys: list[str]) -> list[str]:
    """The token under each key, a random one made for any key that has none yet (so a value kept under a
    token never outlives a flushed Redis): one round trip, two the first time, none for keys this request
    already asked (`current(also=…)`) since its last commit. Raises RedisError."""
    from app.extensions import redis_connection

    asked: dict[str, str] | None = g.get("asked_tokens") if has_request_context() else None
    if asked is not None and all(key in asked for key in keys):
        return [asked[key] for key in keys]
    conn = redis_connection()
    values = cast(list[bytes | None], conn.mget(keys))
    if None in values:
        for key, value in zip(keys, values):
            if value is None:
                conn.set(key, secrets.token_hex(8), nx=True)
        values = cast(list[bytes | None], conn.mget(keys))
    return [(value or b"").decode() for value in values]


def forget() -> None:
    """After a commit in this request: ask Redis again for every token wanted from now on."""
    if has_request_context():
        g.pop("table_generations", None)
        g.pop("asked_tokens", None)


def scope_of(role: str, region_id: int | None) -> int | None:
    """The region a person's kept pages are kept under: their own, or None (every region's) for an admin."""
    return None if role == "admin" else region_id


def region_key(region: int | None) -> str:
    """The key of a region's generation (None: every region's, as an admin or a background job writes)."""
    return f"{current_app.config['RQ_QUEUE']}:region-generation:{ALL_REGIONS if region is None else region}"


def written(tables: set[str]) -> list[str]:
    """After a commit that wrote `tables`: replace the generation of each name they belong to (the names)."""
    names = [name for name, of in NAMES.items() if tables & of]
    forget()
    state: dict[str, Any] | None = current_app.extensions.get("generations")
    if not names or state is None:
        return names
    from app.extensions import redis_connection

    try:
        redis_connection().mset({_key(name): secrets.token_hex(8) for name in names})
    except RedisError:
        state["redis_down_until"] = time.monotonic() + REDIS_RETRY_SECONDS
    return names


def _key(name: str) -> str:
    return f"{current_app.config['RQ_QUEUE']}:{name}-generation"
