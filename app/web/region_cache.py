"""Pages read far more than they change (the regional dashboard, the region calendar, the groups list, a group's
progress grid, a register's rows and header) keep what they show for a few seconds per region.

Every commit that changed something those pages show replaces its region's generation in Redis (the writer's
region; every region's for an admin or a background job), and a kept fragment is used only under the
generations it was made with: a change someone has just made is on their next load, whichever process serves
it, and anyone else's too (an admin's every-region view: within REGION_CACHE_SECONDS). The dashboard, calendar
and groups list say when they were worked out ("as of 10:42:05"). Without Redis nothing is kept: every load
works the page out again.

What is kept is kept twice: in the process (no round trip), and in Redis under the same key, so that one process
works a region's page out and the others take it (a groups list of 400 groups costs 300 ms of database time to
work out; every server process doing so every few seconds was a quarter of a core under load). Only plain values
go to Redis, as JSON: rendered HTML, strings, numbers, and lists and tuples of them."""
from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from flask import Flask, current_app, g, has_app_context, has_request_context
from flask_login import current_user
from markupsafe import Markup
from redis.exceptions import RedisError
from sqlalchemy import event, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import NoInspectionAvailable
from sqlalchemy.orm import Session as OrmSession

from app import clock
from app.services import generations
from app.web.auth import kept_users

# Tables no cached page shows: writing only these leaves every kept fragment valid.
UNSHOWN_TABLES = frozenset({
    "audit_event", "processed_request", "operation", "operation_step", "ndelius_appointment", "outbox_item",
    "ndelius_disagreement", "ndelius_reconciliation", "calendar_feed", "app_user",
})
_WRITE = re.compile(r'\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.IGNORECASE)
T = TypeVar("T")
MAX_KEPT = 256
REDIS_RETRY_SECONDS = 30


@dataclass(frozen=True)
class _Kept:
    expires: float
    value: Any


def init_app(app: Flask) -> None:
    # local_only: pages whose values are not plain (rows as objects), kept in each process only
    app.extensions["region_cache"] = {"kept": OrderedDict(), "redis_down_until": 0.0, "local_only": set()}
    generations.init_app(app)


def kept(page: str, region_id: int | None, key: Hashable, make: Callable[[datetime], T], *,
         tables: str | None = None) -> T:
    """What `make(as_of)` gives for `page` in a region (None: every region, as an admin sees them) and `key`
    (whatever else it depends on), unless a value made under the region's current generations is kept. The value
    must be plain (rendered HTML, rows as dataclasses), never ORM objects: it outlives the request. `tables`: a
    value read only from the tables of that name (app.services.generations.NAMES) is kept under their generation
    instead, so a change elsewhere in the region (a tap) leaves it kept."""
    state: dict[str, Any] = current_app.extensions["region_cache"]
    seconds = current_app.config.get("REGION_CACHE_SECONDS", 0)
    made_under: Hashable = None
    if seconds > 0 and tables is not None:
        made_under = generations.current(tables)
    elif seconds > 0:
        made_under = _request_generations(state, region_id)
    if made_under is None:
        return make(clock.now_local())
    # The minute is part of the key: pages depend on the time ("delivered", "today"), and a test's clock jumps.
    full_key = (page, region_id, key, made_under, clock.now_local().replace(second=0, microsecond=0))
    store: OrderedDict = state["kept"]
    found = store.get(full_key)
    now = time.monotonic()
    if found is not None and found.expires > now:
        return found.value
    if page in state["local_only"]:  # its values are not plain: nothing to share through Redis
        value, kept_for = make(clock.now_local()), seconds
    else:
        value, kept_for = _shared(state, _shared_key(full_key), seconds, lambda: make(clock.now_local()))
        if not _plain(value):
            state["local_only"].add(page)
    store[full_key] = _Kept(now + kept_for, value)
    store.move_to_end(full_key)
    while len(store) > MAX_KEPT:
        store.popitem(last=False)
    return value


def viewer_region() -> int | None:
    """The region the signed-in person's kept pages are kept under (None: every region's, for an admin)."""
    return generations.scope_of(current_user.role, current_user.region_id)


def fragment(page: str, region_id: int | None, key: Hashable, render: Callable[[datetime], str]) -> Markup:
    """Rendered HTML, kept as `kept` keeps values. `render` is an autoescaped template's output."""
    return kept(page, region_id, key, lambda as_of: Markup(render(as_of)))  # nosec B704


_MISSING: Any = object()


def _shared_key(full_key: Hashable) -> str:
    digest = hashlib.sha256(repr(full_key).encode()).hexdigest()[:32]
    return f"{current_app.config['RQ_QUEUE']}:region-kept:{digest}"


def _to_json(value: Any) -> Any:
    """Plain values as JSON, keeping what is HTML (Markup) and what is a tuple; anything else is not shared."""
    if isinstance(value, Markup):
        return {"html": str(value)}
    if isinstance(value, tuple):
        return {"tuple": [_to_json(item) for item in value]}
    if isinstance(value, list):
        return [_to_json(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(type(value).__name__)


def _plain(value: Any) -> bool:
    try:
        _to_json(value)
    except TypeError:
        return False
    return True


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if "html" in value:
            return Markup(value["html"])  # nosec B704  (HTML this service rendered and autoescaped)
        return tuple(_from_json(item) for item in value["tuple"])
    if isinstance(value, list):
        return [_from_json(item) for item in value]
    return value


MAKING_SECONDS = 5.0
"""How long one process may take to work a value out while the others wait for it or show the last one."""
WAIT_STEP_SECONDS = 0.01


def _shared(state: dict[str, Any], key: str, seconds: float, make: Callable[[], Any]) -> tuple[Any, float]:
    """The value under `key` in Redis, and how long to keep it in this process. One process at a time works a
    value out (it claims `key:making`): while it does, the others show the last value made under the same
    generations (at most a few seconds older: nothing has changed since that they would have to show) or, with
    none, wait for it. Without Redis, or for a value that is not plain, each process works its own out."""
    from app.extensions import redis_connection

    conn = redis_connection()
    making = key + ":making"
    try:
        found = _decoded(cast(bytes | None, conn.get(key)))
        if found is not _MISSING and time.time() - found[0] < seconds:
            return found[1], seconds - (time.time() - found[0])
        if not conn.set(making, "1", nx=True, px=int(MAKING_SECONDS * 1000)):
            if found is not _MISSING:
                return found[1], WAIT_STEP_SECONDS * 10  # the last one, while another process works it out
            waited = _wait_for(conn, key, making)
            if waited is not _MISSING:
                return waited[1], seconds
    except RedisError:
        state["redis_down_until"] = time.monotonic() + REDIS_RETRY_SECONDS
        return make(), seconds
    try:
        value = make()
    except BaseException:
        _release(state, conn, making)  # the others work it out themselves, now rather than when the claim ends
        raise
    try:
        encoded = json.dumps([time.time(), _to_json(value)])
    except TypeError:  # not a plain value (rows as objects): kept in this process only
        encoded = None
    try:
        if encoded is not None:
            conn.set(key, encoded, px=int(max(seconds, MAKING_SECONDS) * 4 * 1000))
        conn.delete(making)
    except RedisError:
        state["redis_down_until"] = time.monotonic() + REDIS_RETRY_SECONDS
    return value, seconds


def _release(state: dict[str, Any], conn: Any, making: str) -> None:
    try:
        conn.delete(making)
    except RedisError:
        state["redis_down_until"] = time.monotonic() + REDIS_RETRY_SECONDS


def _wait_for(conn: Any, key: str, making: str) -> Any:
    """What another process is working out, once it is there; _MISSING if it gave up (or made a value that is
    not shared) or took longer than MAKING_SECONDS."""
    deadline = time.monotonic() + MAKING_SECONDS
    while time.monotonic() < deadline:
        time.sleep(WAIT_STEP_SECONDS)
        raw, still_making = conn.mget([key, making])
        if raw is not None:
            return _decoded(raw)
        if still_making is None:
            return _MISSING
    return _MISSING


def _decoded(raw: bytes | None) -> Any:
    """(made at, value) from what _shared stored, or _MISSING."""
    if raw is None:
        return _MISSING
    made_at, value = json.loads(raw)
    return float(made_at), _from_json(value)


def _request_generations(state: dict[str, Any], region_id: int | None) -> tuple[str, str] | None:
    """The generations, asked of Redis once per request and region (a page may keep several fragments); a
    commit in the request forgets them (_after_commit), so what is shown after it is worked out under the new."""
    if not has_request_context():
        return _generations(state, region_id)
    asked: dict[int | None, tuple[str, str] | None] = g.setdefault("region_generations", {})
    if region_id not in asked:
        asked[region_id] = _generations(state, region_id)
    return asked[region_id]


def _generations(state: dict[str, Any], region_id: int | None) -> tuple[str, str] | None:
    """(this region's generation, every region's), each a random token (made on first use, so a kept fragment
    never outlives a flushed Redis); None without Redis."""
    if state["redis_down_until"] > time.monotonic():
        return None
    try:
        region, every = generations.tokens([generations.region_key(region_id), generations.region_key(None)])
    except RedisError:
        state["redis_down_until"] = time.monotonic() + REDIS_RETRY_SECONDS
        return None
    return region, every


def _written(session: OrmSession) -> set[str]:
    written: set[str] = session.info.setdefault("region_cache_written", set())
    return written


@event.listens_for(OrmSession, "after_begin")
def _after_begin(session: OrmSession, _transaction: Any, connection: Any) -> None:
    """The statements of this transaction note the tables they write (ORM flushes, Core and text alike)."""
    connection.info["region_cache_written"] = _written(session)


@event.listens_for(Engine, "before_cursor_execute")
def _note_write(conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any,
                executemany: bool) -> None:
    written = conn.info.get("region_cache_written")
    if written is not None:
        found = _WRITE.match(statement)
        if found:
            written.add(found.group(1).lower())


@event.listens_for(OrmSession, "after_rollback")
def _after_rollback(session: OrmSession) -> None:
    if session.in_nested_transaction():  # a savepoint's: the transaction goes on, with what it wrote before
        return
    session.info.pop("region_cache_written", None)


def _writer_region(user: Any) -> int | None:
    """The signed-in writer's region, read without SQL (none may be sent after a commit: a user expired by an
    earlier commit of the same request would be loaded again); None (every region's generation) for an admin, a
    background job, or a user whose row is not loaded."""
    try:
        loaded = inspect(user).dict
    except NoInspectionAvailable:  # anonymous, or no user at all
        return None
    region = loaded.get("region_id")
    return region if loaded.get("role", "admin") != "admin" and isinstance(region, int) else None


@event.listens_for(OrmSession, "after_transaction_end")
def _after_end(session: OrmSession, transaction: Any) -> None:
    if transaction.parent is None and session.info.pop("restore_signed_in", False) and has_request_context():
        kept_users.restore_signed_in(session)


@event.listens_for(OrmSession, "after_commit")
def _after_commit(session: OrmSession) -> None:
    """After the commit (never before: a page worked out in between would be kept under the new generation). A
    savepoint's release (SQLAlchemy calls this for it too) is not the commit: what it wrote is still to come."""
    if session.in_nested_transaction():
        return
    written = session.info.pop("region_cache_written", None)
    if has_request_context():
        g.pop("region_generations", None)
        generations.forget()
    if written and has_app_context():
        generations.written(written)
    if has_request_context() and not (written or set()) & generations.NAMES["users"]:
        session.info["restore_signed_in"] = True  # once the commit has expired everything (_after_end)
    if not written or written <= UNSHOWN_TABLES or not has_app_context() \
            or "region_cache" not in current_app.extensions:
        return
    region = _writer_region(g.get("_login_user") if has_request_context() else None)
    from app.extensions import redis_connection

    try:
        redis_connection().set(generations.region_key(region), secrets.token_hex(8))
    except RedisError:
        pass  # without Redis nothing is kept (fragment() finds it down too)
