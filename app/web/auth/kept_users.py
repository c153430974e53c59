"""The signed-in person's row, kept in each server process between their requests, so that a page that reads
nothing else (a kept dashboard, a 404) sends no SQL at all.

It is still checked at once on every request: a kept row is used only under the users' generation it was read
with, a token in Redis that every commit writing app_user or region replaces (app/web/region_cache.py notes
what each transaction writes). Signing out (session_version), being disabled (active), a new role or region
at sign-in: the next request in any process reads the row again. The generation is read before the row, so
a row read during someone's commit is kept under the old generation and dropped on the next request. A kept
row also lasts at most KEPT_SECONDS, in case a replacement was lost with Redis; without Redis nothing is kept
and every request reads the row."""
from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from flask import Flask, current_app
from redis.exceptions import RedisError

KEPT_SECONDS = 5.0
MAX_KEPT = 10_000
REDIS_RETRY_SECONDS = 30.0
TABLES = frozenset({"app_user", "region"})
"""Tables a kept row comes from: a commit that writes either replaces the generation."""


@dataclass(frozen=True)
class _Kept:
    generation: str
    expires: float
    values: Mapping[str, Any]


def init_app(app: Flask) -> None:
    app.extensions["kept_users"] = {"rows": OrderedDict(), "redis_down_until": 0.0}


def row(user_id: int, read: Callable[[], Mapping[str, Any] | None]) -> Mapping[str, Any] | None:
    """The user's row: kept, if it was read under the current generation and lately; else `read()`."""
    state: dict[str, Any] | None = current_app.extensions.get("kept_users")
    generation = _generation(state) if state is not None else None
    if state is None or generation is None:
        return read()
    rows: OrderedDict[int, _Kept] = state["rows"]
    now = time.monotonic()
    found = rows.get(user_id)
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


def changed() -> None:
    """After a commit that wrote app_user or region: every process reads its users' rows again."""
    state = current_app.extensions.get("kept_users")
    if state is None:
        return
    from app.extensions import redis_connection

    try:
        redis_connection().set(_key(), secrets.token_hex(8))
    except RedisError:
        state["rows"].clear()  # this process at least; the others keep theirs for KEPT_SECONDS at most
        state["redis_down_until"] = time.monotonic() + REDIS_RETRY_SECONDS


def _key() -> str:
    return f"{current_app.config['RQ_QUEUE']}:users-generation"


def _generation(state: dict[str, Any]) -> str | None:
    if state["redis_down_until"] > time.monotonic():
        return None
    from app.extensions import redis_connection

    try:
        conn = redis_connection()
        value = cast(bytes | None, conn.get(_key()))
        if value is None:
            conn.set(_key(), secrets.token_hex(8), nx=True)
            value = cast(bytes | None, conn.get(_key()))
    except RedisError:
        state["rows"].clear()
        state["redis_down_until"] = time.monotonic() + REDIS_RETRY_SECONDS
        return None
    return (value or b"").decode() or None
