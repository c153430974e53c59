"""The outbox relay: sends what the nDelius outbox holds (SPEC §5; RELIABILITY S1-S10, J4, J9).

The unit of work is one appointment (one person at one session). A relay *claims* appointments that have due
outbox rows by taking a lease on the appointment rows (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: the
same conditional UPDATE under its single writer lock), so two relays never work on one appointment. All of an
appointment's pending rows are coalesced: what is sent is its *current* state, once.

What to send follows from two facts, not from the rows' actions: does the person still need the appointment
(the latest row is not a delete, the attendee was not removed, and the session is not cancelled - a cancelled
session keeps an appointment nDelius already has, with outcome RSSR "Rescheduled - Service Request") and what nDelius
holds (``remote_state``):

    wanted, absent/deleted  -> create (a past appointment needs an outcome first)
    wanted, present         -> update (notes only when changed: nDelius appends them)
    wanted, uncertain       -> search by reference first, then update, create or nothing
    not wanted, present/uncertain -> delete (nDelius not knowing it means it is gone already)
    not wanted, absent/deleted    -> nothing to send

Batches (``ndelius_send``): the searches, creates, updates and deletes of a claimed batch go in arrays of at
most ``NDELIUS_BATCH_SIZE`` items, at most ``NDELIUS_CONCURRENCY`` calls in flight. nDelius answers for a whole
request, so a refusal is narrowed down to the items it is about (named in the answer, or by halving the array)
and every item gets its own outcome: one bad item never fails the others.

Idempotency (``ndelius_plan``): a batch is planned in one transaction, which also records every create (and
every update carrying notes) as "uncertain" before it goes out: a relay that dies mid-call, or a lost answer,
leads the next pass to search before it ever creates again, so replaying is harmless. Transient failures
(timeouts, 429/5xx, an open circuit) put the rows back with a full-jitter backoff (``next_attempt_at``); a
refusal (400, 409, 401/403, an unknown code) marks that appointment "needs attention" with the reason.

Fencing (``Lease``): each claim gets its own lease token, and a relay works only under the lease it was given.
Every statement that writes for a batch - planning, each renewal, writing the results back - is an UPDATE
``WHERE claimed_by = <token>``, so once another relay (or the sweeper) has taken a lease over, the old holder
writes nothing more. Before each call the relay renews the lease of the items in it (the same fenced UPDATE)
and sends the call only if its answer can arrive (the client's connect + read timeouts) before that renewed
lease ends - so a batch that outlives its lease never has a write land after another relay took over: the
new holder's search sees everything the old one sent. A drain also has a time budget, and a call is not
started unless it can finish inside it.
"""
from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import count
from typing import Any, TypeVar, cast

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import Table, exists, func, or_, select, update
from sqlalchemy.engine import CursorResult, Engine

from app.extensions import db
from app.integrations.circuit_breaker import OPEN, RedisCircuitBreaker
from app.integrations.ndelius import NDeliusClient
from app.models import NDeliusAppointment, OutboxItem
from app.models.base import utcnow
from app.services.ndelius_finish import finish
from app.services.ndelius_plan import plan
from app.services.ndelius_send import send

log = logging.getLogger(__name__)
T = TypeVar("T")
MIN_LEASE = timedelta(seconds=45)  # a relay that died is taken over within about this long (under a minute)
MAX_BATCH = 50  # items in one array (creates, updates or deletes); searches take up to 500 ids
CLOCK_SKEW = 5.0  # seconds of clock difference between relays' machines the lease allows for
APPOINTMENTS = cast(Table, NDeliusAppointment.__table__)


@dataclass
class DrainResult:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    needs_attention: int = 0
    retrying: int = 0
    deferred: int = 0  # not sent this time (out of time): nothing happened, still queued
    lease_lost: int = 0  # another relay took them over: left to it
    batches: int = 0
    calls: int = 0
    circuit_open: bool = False
    seconds: float = 0.0

    @property
    def sent(self) -> int:
        return self.created + self.updated + self.deleted + self.unchanged

    def add(self, outcome: str) -> None:
        name = {"retry": "retrying", "attention": "needs_attention", "lost": "lease_lost",
                "pending": "deferred"}.get(outcome, outcome)
        setattr(self, name, getattr(self, name) + 1)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (
            "created", "updated", "deleted", "unchanged", "needs_attention", "retrying", "deferred", "lease_lost",
            "batches", "calls", "circuit_open", "seconds")}

    def summary(self) -> str:
        text = (f"{self.sent} appointments in step with nDelius ({self.created} created, {self.updated} updated, "
                f"{self.deleted} deleted, {self.unchanged} already right) in {self.calls} calls; "
                f"{self.needs_attention} need attention; {self.retrying} will be retried")
        if self.deferred:
            text += f"; {self.deferred} left for the next run (out of time)"
        return text + ("; nDelius calls are paused (circuit open)" if self.circuit_open else "")


@dataclass
class Lease:
    """The claim on one batch: the rows are ours while ``claimed_by`` is ``token``."""

    token: str
    ids: list[int]


@dataclass
class Relay:
    """What one drain works with; shared by its worker threads (which use only the client, the breaker and
    ``renew``, on connections of their own)."""

    client: NDeliusClient
    breaker: RedisCircuitBreaker | None
    now: Callable[[], datetime]
    token: str
    retry_base: float
    retry_cap: float
    engine: Engine
    lease_time: timedelta = MIN_LEASE
    batch_size: int = MAX_BATCH
    ends_at: float | None = None  # time.monotonic() by which the drain must be done (its budget)
    _claims: Any = field(default_factory=count)

    def call(self, fn: Callable[[], T]) -> T:
        return self.breaker.call(fn) if self.breaker is not None else fn()

    def new_lease_token(self) -> str:
        return f"{self.token}.{next(self._claims)}"

    def out_of_time(self, margin: float = 0.0) -> bool:
        return self.ends_at is not None and time.monotonic() + margin >= self.ends_at

    def renew(self, lease: Lease, ids: list[int]) -> tuple[set[int], float]:
        """Extend the lease on ``ids`` - only those still ours (one fenced UPDATE, on a connection of its own);
        those ids and the ``time.monotonic()`` deadline a call for them must be answered by."""
        started = time.monotonic()
        with self.engine.begin() as conn:
            held = set(conn.execute(
                update(APPOINTMENTS).where(APPOINTMENTS.c.id.in_(ids), APPOINTMENTS.c.claimed_by == lease.token)
                .values(claimed_until=self.now() + self.lease_time).returning(APPOINTMENTS.c.id)).scalars())
        deadline = started + self.lease_time.total_seconds() - CLOCK_SKEW
        if self.ends_at is not None:
            deadline = min(deadline, self.ends_at)
        return held, deadline


# --- wiring ---------------------------------------------------------------------------------------------------


def client_from_config(config: Any) -> NDeliusClient:
    return NDeliusClient(
        config["NDELIUS_URL"], config["HMPPS_AUTH_URL"].rstrip("/") + "/oauth/token",
        config["NDELIUS_CLIENT_ID"],
        config["NDELIUS_CLIENT_SECRET"], connect_timeout=config.get("NDELIUS_CONNECT_TIMEOUT", 3.05),
        read_timeout=config.get("NDELIUS_READ_TIMEOUT", 15),
    )


def breaker_from_config(config: Any) -> RedisCircuitBreaker | None:
    """The shared circuit breaker, or None when Redis is out of reach (the relay then runs without one)."""
    from app.extensions import redis_connection

    try:
        redis = redis_connection()
        redis.ping()
        return RedisCircuitBreaker(redis, "ndelius", fail_max=config.get("NDELIUS_BREAKER_FAILURES", 5),
                                   reset_timeout=config.get("NDELIUS_BREAKER_RESET", 60))
    except RedisError:
        log.warning("Redis unavailable: relaying to nDelius without the circuit breaker")
        return None


def lease_time_for(client: NDeliusClient, at_least: timedelta = MIN_LEASE) -> timedelta:
    """Long enough for a renewal to cover a call with room to spare (two calls' worth of timeouts: with the
    default 3 + 15 s, 41 s, so 45), and short enough that a relay that died is taken over within a minute."""
    return max(at_least, timedelta(seconds=2 * client.call_seconds + CLOCK_SKEW))


# --- draining -------------------------------------------------------------------------------------------------


def drain(*, client: NDeliusClient | None = None, breaker: RedisCircuitBreaker | None | bool = True,
          now: Callable[[], datetime] = utcnow, budget: float | None = None, concurrency: int | None = None,
          batch_size: int | None = None, claim_size: int | None = None,
          min_lease: timedelta = MIN_LEASE) -> DrainResult:
    """Send every appointment whose outbox rows are due, batch by batch, until none is left, the budget (s) is
    spent or the circuit opens. ``breaker=True`` uses the shared Redis breaker; None or False, none.
    ``batch_size`` is the most items in one call; a batch claims ``claim_size`` appointments (by default
    ``concurrency`` calls' worth)."""
    config = current_app.config
    own_client = client is None
    client = client or client_from_config(config)
    if breaker is True:
        breaker = breaker_from_config(config)
    started = time.monotonic()
    workers = max(1, concurrency or config.get("NDELIUS_CONCURRENCY", 2))
    size = max(1, min(batch_size or config.get("NDELIUS_BATCH_SIZE", MAX_BATCH), MAX_BATCH))
    relay = Relay(client=client, breaker=breaker or None, now=now, token=secrets.token_hex(8),
                  retry_base=config.get("NDELIUS_RETRY_BASE", 2), retry_cap=config.get("NDELIUS_RETRY_CAP", 600),
                  engine=db.engine, lease_time=lease_time_for(client, min_lease), batch_size=size,
                  ends_at=None if budget is None else started + budget)
    result = DrainResult()
    calls_before = client.calls
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="ndelius-relay") as pool:
            while not relay.out_of_time():
                if _circuit_open(relay):
                    result.circuit_open = True
                    break
                claimed = claim(relay, claim_size or size * workers)
                if not claimed.ids:
                    break
                result.batches += 1
                attempts = plan(relay, claimed)
                send(relay, claimed, attempts, pool)
                finish(relay, claimed, attempts)
                for attempt in attempts:
                    result.add(attempt.outcome)
                if any(attempt.outcome in ("deferred", "pending") for attempt in attempts):
                    break  # out of time: the next drain carries on
    finally:
        if own_client:
            client.close()
    result.calls = client.calls - calls_before
    result.seconds = round(time.monotonic() - started, 3)
    result.circuit_open = result.circuit_open or _circuit_open(relay)
    log.info("ndelius relay: %s", result.summary())
    return result


def _circuit_open(relay: Relay) -> bool:
    if relay.breaker is None:
        return False
    try:
        return relay.breaker.state == OPEN
    except RedisError:  # Redis went away mid-drain: carry on without the breaker
        log.warning("Redis unavailable: relaying to nDelius without the circuit breaker")
        relay.breaker = None
        return False


def claim(relay: Relay, limit: int) -> Lease:
    """Lease up to ``limit`` appointments that have due outbox rows and no live lease, under a new token."""
    now = relay.now()
    lease = Lease(token=relay.new_lease_token(), ids=[])
    due = select(OutboxItem.appointment_id).where(OutboxItem.status == "pending", OutboxItem.next_attempt_at <= now)
    free = or_(NDeliusAppointment.claimed_until.is_(None), NDeliusAppointment.claimed_until < now)
    query = (select(NDeliusAppointment.id).where(NDeliusAppointment.id.in_(due), free)
             .order_by(NDeliusAppointment.id).limit(limit))
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=NDeliusAppointment)
    ids = list(db.session.scalars(query))
    if ids:
        lease.ids = sorted(db.session.execute(
            update(NDeliusAppointment).where(NDeliusAppointment.id.in_(ids), free)
            .values(claimed_by=lease.token, claimed_until=now + relay.lease_time)
            .returning(NDeliusAppointment.id).execution_options(synchronize_session=False)).scalars())
    db.session.commit()
    return lease


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Free leases whose relay died, and count what the outbox still holds (the caller queues a relay)."""
    now = now or utcnow()
    released = cast(CursorResult[Any], db.session.execute(
        update(NDeliusAppointment).where(NDeliusAppointment.claimed_until < now)
        .values(claimed_by=None, claimed_until=None).execution_options(synchronize_session=False)
    )).rowcount
    due = db.session.scalar(select(func.count(OutboxItem.id)).where(
        OutboxItem.status == "pending", OutboxItem.next_attempt_at <= now))
    waiting = db.session.scalar(select(func.count(OutboxItem.id)).where(
        OutboxItem.status == "pending", OutboxItem.next_attempt_at > now))
    db.session.commit()
    return {"released": released or 0, "due": due or 0, "waiting": waiting or 0}


def next_attempt_at() -> datetime | None:
    """When the earliest pending row falls due (None: nothing pending)."""
    return db.session.scalar(select(func.min(OutboxItem.next_attempt_at)).where(OutboxItem.status == "pending"))


def has_due_work() -> bool:
    """Whether the outbox holds a change due to be sent now (a cheap query the scheduler asks every tick); the
    read's transaction is ended at once, so the scheduler holds nothing open between ticks."""
    due = bool(db.session.scalar(select(exists().where(OutboxItem.status == "pending",
                                                       OutboxItem.next_attempt_at <= utcnow()))))
    db.session.rollback()
    return due
