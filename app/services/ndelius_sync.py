"""The outbox relay: sends what the nDelius outbox holds (SPEC §5; RELIABILITY S1-S10, J4, J9).

The unit of work is one appointment (one person at one session). A relay *claims* appointments that have due
outbox rows by taking a lease on the appointment row (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: the
same conditional UPDATE under its single writer lock), so two relays never work on one appointment. All of an
appointment's pending rows are coalesced: what is sent is its *current* state, once.

What to send follows from two facts, not from the rows' actions: does the person still need the appointment
(the latest row is not a delete, the session is not cancelled, the attendee was not removed) and what nDelius
holds (``remote_state``):

    wanted, absent/deleted  -> create (a past appointment needs an outcome first)
    wanted, present         -> update (notes only when changed: nDelius appends them)
    wanted, uncertain       -> search by reference first, then update, create or nothing
    not wanted, present/uncertain -> delete (nDelius not knowing it means it is gone already)
    not wanted, absent/deleted    -> nothing to send

A batch is planned in one transaction, which also records every create (and every update carrying notes) as
"uncertain" before it goes out: a relay that dies mid-call, or a lost answer, leads the next pass to search
before it ever creates again, so replaying is harmless. The calls then go out on a bounded thread pool with no
transaction open, and the results are written back. Transient failures (timeouts, 429/5xx, an open circuit)
put the rows back with a full-jitter backoff (``next_attempt_at``); a refusal (400, 409, 401/403, an unknown
code) marks that appointment "needs attention" with the reason, and the rest of the batch carries on.
"""
from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import func, or_, select, update

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
LEASE = timedelta(minutes=5)


@dataclass
class DrainResult:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    needs_attention: int = 0
    retrying: int = 0
    batches: int = 0
    circuit_open: bool = False
    seconds: float = 0.0

    @property
    def sent(self) -> int:
        return self.created + self.updated + self.deleted + self.unchanged

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (
            "created", "updated", "deleted", "unchanged", "needs_attention", "retrying", "batches",
            "circuit_open", "seconds")}

    def summary(self) -> str:
        text = (f"{self.sent} appointments in step with nDelius ({self.created} created, {self.updated} updated, "
                f"{self.deleted} deleted, {self.unchanged} already right); {self.needs_attention} need attention; "
                f"{self.retrying} will be retried")
        return text + ("; nDelius calls are paused (circuit open)" if self.circuit_open else "")


@dataclass
class Relay:
    """What one drain works with; shared by its worker threads (which touch only the client and breaker)."""

    client: NDeliusClient
    breaker: RedisCircuitBreaker | None
    now: Callable[[], datetime]
    token: str
    retry_base: float
    retry_cap: float

    def call(self, fn: Callable[[], T]) -> T:
        return self.breaker.call(fn) if self.breaker is not None else fn()


# --- wiring ---------------------------------------------------------------------------------------------------


def client_from_config(config: Any) -> NDeliusClient:
    return NDeliusClient(
        config["NDELIUS_URL"], config["HMPPS_AUTH_URL"], config["NDELIUS_CLIENT_ID"],
        config["NDELIUS_CLIENT_SECRET"], connect_timeout=config.get("NDELIUS_CONNECT_TIMEOUT", 3.05),
        read_timeout=config.get("NDELIUS_READ_TIMEOUT", 15),
    )


def breaker_from_config(config: Any) -> RedisCircuitBreaker | None:
    """The shared circuit breaker, or None when Redis is out of reach (the relay then runs without one)."""
    from jobs.enqueue import redis_connection

    try:
        redis = redis_connection()
        redis.ping()
        return RedisCircuitBreaker(redis, "ndelius", fail_max=config.get("NDELIUS_BREAKER_FAILURES", 5),
                                   reset_timeout=config.get("NDELIUS_BREAKER_RESET", 60))
    except RedisError:
        log.warning("Redis unavailable: relaying to nDelius without the circuit breaker")
        return None


# --- draining -------------------------------------------------------------------------------------------------


def drain(*, client: NDeliusClient | None = None, breaker: RedisCircuitBreaker | None | bool = True,
          now: Callable[[], datetime] = utcnow, budget: float | None = None, concurrency: int | None = None,
          batch_size: int | None = None) -> DrainResult:
    """Send every appointment whose outbox rows are due, batch by batch, until none is left, the budget (s) is
    spent or the circuit opens. ``breaker=True`` uses the shared Redis breaker; None or False, none."""
    config = current_app.config
    own_client = client is None
    client = client or client_from_config(config)
    if breaker is True:
        breaker = breaker_from_config(config)
    relay = Relay(client=client, breaker=breaker or None, now=now, token=secrets.token_hex(8),
                  retry_base=config.get("NDELIUS_RETRY_BASE", 2), retry_cap=config.get("NDELIUS_RETRY_CAP", 600))
    workers = max(1, concurrency or config.get("NDELIUS_CONCURRENCY", 2))
    size = max(1, batch_size or config.get("NDELIUS_BATCH_SIZE", 20))
    result = DrainResult()
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="ndelius-relay") as pool:
            while budget is None or time.monotonic() - started < budget:
                if _circuit_open(relay):
                    result.circuit_open = True
                    break
                claimed = claim(relay.token, size, now())
                if not claimed:
                    break
                result.batches += 1
                attempts = plan(relay, claimed)
                ready = [a for a in attempts if a.outcome != "attention"]
                list(pool.map(lambda attempt: send(relay, attempt), ready))
                for attempt in attempts:
                    result.add({"retry": "retrying", "attention": "needs_attention"}.get(
                        attempt.outcome, attempt.outcome))
                finish(relay, claimed, attempts)
    finally:
        if own_client:
            client.close()
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


def claim(token: str, limit: int, now: datetime) -> list[int]:
    """Lease up to ``limit`` appointments that have due outbox rows and no live lease; their ids."""
    due = select(OutboxItem.appointment_id).where(OutboxItem.status == "pending", OutboxItem.next_attempt_at <= now)
    free = or_(NDeliusAppointment.claimed_until.is_(None), NDeliusAppointment.claimed_until < now)
    query = (select(NDeliusAppointment.id).where(NDeliusAppointment.id.in_(due), free)
             .order_by(NDeliusAppointment.id).limit(limit))
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=NDeliusAppointment)
    ids = list(db.session.scalars(query))
    claimed: list[int] = []
    if ids:
        db.session.execute(
            update(NDeliusAppointment).where(NDeliusAppointment.id.in_(ids), free)
            .values(claimed_by=token, claimed_until=now + LEASE).execution_options(synchronize_session=False)
        )
        claimed = list(db.session.scalars(
            select(NDeliusAppointment.id).where(NDeliusAppointment.id.in_(ids), NDeliusAppointment.claimed_by == token)
            .order_by(NDeliusAppointment.id)
        ))
    db.session.commit()
    return claimed


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Free leases whose relay died, and count what the outbox still holds (the caller queues a relay)."""
    now = now or utcnow()
    released = db.session.execute(
        update(NDeliusAppointment).where(NDeliusAppointment.claimed_until < now)
        .values(claimed_by=None, claimed_until=None).execution_options(synchronize_session=False)
    ).rowcount
    due = db.session.scalar(select(func.count(OutboxItem.id)).where(
        OutboxItem.status == "pending", OutboxItem.next_attempt_at <= now))
    waiting = db.session.scalar(select(func.count(OutboxItem.id)).where(
        OutboxItem.status == "pending", OutboxItem.next_attempt_at > now))
    db.session.commit()
    return {"released": released or 0, "due": due or 0, "waiting": waiting or 0}


def next_attempt_at() -> datetime | None:
    """When the earliest pending row falls due (None: nothing pending)."""
    return db.session.scalar(select(func.min(OutboxItem.next_attempt_at)).where(OutboxItem.status == "pending"))

