"""The domain-event relay: publishes what ``domain_event_outbox`` holds to the HMPPS domain events topic.

Same pattern as the nDelius relay (and the same promises: nothing lost, at-least-once, two relays never send
one row at once): rows are *claimed* with a short lease (a conditional UPDATE; on PostgreSQL the candidates are
picked with ``FOR UPDATE SKIP LOCKED``), committed, published with no transaction open, and the results
written back. Rows are sent oldest first; a broker that cannot be reached stops the pass (everything waits for
the next one, with a full-jitter backoff), a refusal marks the row "needs attention" with the reason.
"""
from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.integrations.domain_events import Broker, BrokerError
from app.integrations.retry import backoff_delay
from app.models import DomainEventOutbox
from app.models.base import utcnow
from app.services import events_out

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=2)
BATCH = 50
RETRY_BASE, RETRY_CAP = 2.0, 300.0


@dataclass
class PublishResult:
    sent: int = 0
    retrying: int = 0
    needs_attention: int = 0
    broker_down: bool = False

    def as_dict(self) -> dict[str, object]:
        return {"sent": self.sent, "retrying": self.retrying, "needs_attention": self.needs_attention,
                "broker_down": self.broker_down}


def due() -> bool:
    """Is anything waiting to be published now? (the scheduler's cheap check)"""
    now = utcnow()
    return bool(db.session.scalar(select(exists().where(
        DomainEventOutbox.status == "pending", DomainEventOutbox.next_attempt_at <= now))))


def backlog() -> dict[str, object]:
    """For the integration page: waiting, needing attention, and the oldest waiting event's time."""
    counts = dict(db.session.execute(select(DomainEventOutbox.status, func.count()).group_by(
        DomainEventOutbox.status)).all())
    oldest = db.session.scalar(select(func.min(DomainEventOutbox.occurred_at)).where(
        DomainEventOutbox.status == "pending"))
    return {"pending": counts.get("pending", 0), "needs_attention": counts.get("needs_attention", 0),
            "sent": counts.get("sent", 0), "oldest_pending": oldest}


def drain(broker: Broker | None = None, *, budget: float | None = 60.0) -> PublishResult:
    broker = broker or Broker.from_config(current_app.config)
    result = PublishResult()
    token = secrets.token_hex(8)
    started = time.monotonic()
    while budget is None or time.monotonic() - started < budget:
        ids = _claim(token, BATCH)
        if not ids:
            break
        rows = list(db.session.scalars(select(DomainEventOutbox).where(DomainEventOutbox.id.in_(ids))
                                       .options(joinedload(DomainEventOutbox.status_change))
                                       .order_by(DomainEventOutbox.id)))
        messages = {row.id: events_out.message(row) for row in rows}
        db.session.rollback()  # no transaction open while talking to the broker
        outcomes: dict[int, tuple[str, str | None]] = {}
        for row_id in ids:
            if result.broker_down:
                outcomes[row_id] = ("skipped", "not sent yet: the broker could not be reached")
                continue
            try:
                outcomes[row_id] = ("sent", broker.publish(messages[row_id]))
            except BrokerError as exc:
                outcomes[row_id] = ("retry" if exc.transient else "attention", str(exc))
                result.broker_down = result.broker_down or exc.transient
        _finish(token, outcomes, result)
        if result.broker_down:
            break
    if result.sent or result.retrying or result.needs_attention:
        log.info("domain events: %s", result.as_dict())
    return result


def _claim(token: str, limit: int) -> list[int]:
    now = utcnow()
    free = or_(DomainEventOutbox.claimed_until.is_(None), DomainEventOutbox.claimed_until < now)
    query = (select(DomainEventOutbox.id).where(DomainEventOutbox.status == "pending",
                                                DomainEventOutbox.next_attempt_at <= now, free)
             .order_by(DomainEventOutbox.id).limit(limit))
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(db.session.scalars(query))
    claimed: list[int] = []
    if ids:
        db.session.execute(update(DomainEventOutbox).where(DomainEventOutbox.id.in_(ids), free)
                           .values(claimed_by=token, claimed_until=now + LEASE)
                           .execution_options(synchronize_session=False))
        claimed = list(db.session.scalars(select(DomainEventOutbox.id).where(
            DomainEventOutbox.id.in_(ids), DomainEventOutbox.claimed_by == token).order_by(DomainEventOutbox.id)))
    db.session.commit()
    return claimed


def _finish(token: str, outcomes: dict[int, tuple[str, str | None]], result: PublishResult) -> None:
    now: datetime = utcnow()
    for row in db.session.scalars(select(DomainEventOutbox).where(DomainEventOutbox.id.in_(list(outcomes)),
                                                                  DomainEventOutbox.claimed_by == token)):
        outcome, detail = outcomes[row.id]
        row.claimed_by, row.claimed_until = None, None
        if outcome != "skipped":
            row.attempts += 1
        if outcome == "sent":
            row.status, row.sent_at, row.message_id, row.last_error = "sent", now, detail, None
            result.sent += 1
        elif outcome in ("retry", "skipped"):
            row.next_attempt_at = now + timedelta(seconds=backoff_delay(
                max(0, row.attempts - 1), base=RETRY_BASE, cap=RETRY_CAP))
            row.last_error = detail
            result.retrying += 1
        else:
            row.status, row.last_error = "needs_attention", detail
            result.needs_attention += 1
    db.session.commit()


def retry(row_id: int | None = None) -> int:
    """Send again rows that needed attention (one, or all); how many were put back."""
    query = update(DomainEventOutbox).where(DomainEventOutbox.status == "needs_attention")
    if row_id is not None:
        query = query.where(DomainEventOutbox.id == row_id)
    count = cast(CursorResult[Any], db.session.execute(
        query.values(status="pending", next_attempt_at=utcnow()).execution_options(synchronize_session=False),
    )).rowcount
    db.session.commit()
    return count or 0
