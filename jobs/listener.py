"""`python -m jobs.listener`: consumes our SQS queue of HMPPS domain events (its own process; any number may
run: a message is processed once thanks to its recorded MessageId).

Each message is handled in one transaction (``app.services.events_in``), then deleted from the queue, left for
a later attempt (its visibility timeout), or copied to the dead-letter queue and deleted. A message is only
deleted after its transaction committed, so a listener that dies mid-way loses nothing: SQS delivers the
message again and the recorded MessageId makes the replay harmless.
"""
from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

from flask import Flask

from app.integrations.domain_events import Broker, BrokerError, Received
from jobs.context import worker_app
from jobs.shutdown import stop_requested

log = logging.getLogger(__name__)


def process(app: Flask, broker: Broker, message: Received) -> str:
    """Handle one received message; what happened to it ("deleted", "retry", "dead_letter")."""
    from app.extensions import db
    from app.services import events_in

    with app.app_context():
        try:
            outcome = events_in.handle(message.sqs_message_id, message.body, message.receive_count)
        except Exception:  # a bug: leave the message for another attempt (the redrive policy is the backstop)
            log.exception("domain event listener failed on a message; it will be received again")
            db.session.rollback()
            return "retry"
        finally:
            db.session.remove()
        if outcome.case_unchecked and outcome.referral_id is not None:
            from jobs.events import queue_case_refresh

            queue_case_refresh(outcome.referral_id, delay_seconds=60)
    if outcome.action == "delete":
        broker.delete(message)
        log.info("domain event %s: %s", outcome.status, outcome.detail or outcome.referral_id)
        return "deleted"
    if outcome.action == "dead_letter":
        broker.dead_letter(message.body, outcome.detail or "poison message")
        broker.delete(message)
        return "dead_letter"
    broker.retry_later(message, app.config["DOMAIN_EVENTS_VISIBILITY_TIMEOUT"])
    return "retry"


def poll_once(app: Flask, broker: Broker, *, wait_seconds: int = 10) -> list[str]:
    """Receive one batch and process it; what happened to each message."""
    return [process(app, broker, message) for message in broker.receive(wait_seconds=wait_seconds)]


def run(app: Flask, should_stop: Callable[[], bool], *, wait_seconds: int = 10) -> None:
    broker = Broker.from_config(app.config)
    pause = 1.0
    while not should_stop():
        try:
            poll_once(app, broker, wait_seconds=wait_seconds)
            pause = 1.0
        except BrokerError as exc:
            log.warning("domain event queue unavailable (%s); trying again in %.0fs", exc, pause)
            time.sleep(pause)
            pause = min(pause * 2, 30.0)


def main() -> int:
    app = worker_app()
    should_stop = stop_requested()
    log.info("domain event listener started on %s", app.config["DOMAIN_EVENTS_QUEUE_URL"])
    run(app, should_stop, wait_seconds=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
