"""`python -m jobs.scheduler`: queues the periodic jobs - the nDelius relay every few seconds (when the outbox
holds due work), the outbox sweeper (which queues a relay for whatever the outbox still holds) and
reconciliation less often. It keeps its timetable in memory, not in Redis, so a Redis flush or restart does
not stop it; it only ever enqueues (deterministic job ids: a job still waiting or running is not queued twice),
so running two schedulers is harmless."""
from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from jobs import events, maintenance, ndelius
from jobs.context import worker_app

log = logging.getLogger(__name__)
HOUR, DAY = 3600.0, 86400.0


@dataclass
class Periodic:
    name: str
    every: float
    enqueue: Callable[[], object]
    next_at: float = 0.0


def timetable(config: dict, start: float) -> list[Periodic]:
    return [
        Periodic("relay", config["NDELIUS_RELAY_INTERVAL"], ndelius.queue_relay_if_due, start),
        Periodic("sweep", config["NDELIUS_SWEEP_INTERVAL"], ndelius.queue_sweep, start),
        Periodic("domain events", config["EVENTS_RELAY_INTERVAL"], events.queue_publish_if_due, start),
        # The first reconciliation waits for the first relays to have sent the backlog.
        Periodic("reconcile", config["NDELIUS_RECONCILE_INTERVAL"], ndelius.queue_reconcile,
                 start + min(60.0, config["NDELIUS_RECONCILE_INTERVAL"])),
        # Idempotency keys older than a week are dropped once a day (processed_request would grow for ever).
        Periodic("forget idempotency keys", DAY, maintenance.queue_forget_processed_requests, start + HOUR),
    ]


def tick(jobs: list[Periodic], now: float) -> list[str]:
    """Queue every job that is due; the names queued. A Redis error is logged and tried again next tick."""
    queued = []
    for job in jobs:
        if now < job.next_at:
            continue
        try:
            job.enqueue()
        except (RedisError, SQLAlchemyError) as exc:
            log.warning("could not queue %s: %s", job.name, exc)
            continue
        job.next_at = now + job.every
        queued.append(job.name)
    return queued


def main() -> int:
    app = worker_app()
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with app.app_context():
        jobs = timetable(app.config, time.monotonic())
        log.info("scheduler started: %s", ", ".join(f"{j.name} every {j.every:g}s" for j in jobs))
        while not stopping:
            tick(jobs, time.monotonic())
            time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
