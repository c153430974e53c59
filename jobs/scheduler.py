"""`python -m jobs.scheduler`: queues the periodic jobs - the nDelius relay every few seconds (when the outbox
holds due work), the outbox sweeper (which queues a relay for whatever the outbox still holds), the domain-event
publisher and reconciliation less often - and runs the recovery watchdog itself (jobs.recovery: work whose
worker is gone is queued again).

Several schedulers may run (one beside each worker, or two for safety): time is cut into periods of each job's
interval, aligned to the epoch (plus the job's offset), so every scheduler agrees on them. Whoever first claims
a job's period in Redis (``SET key NX PX``: the key names the job and the period) queues it; the others see the
claim and leave that period alone. A claim expires after a short while if its scheduler died before queueing,
so another scheduler takes the period over; once queued, the key stays until the period is over. The timetable
itself lives in each process, so a Redis flush or restart does not stop a scheduler, and queueing is idempotent
(deterministic job ids: a job still waiting, or running on a live worker, is not queued twice)."""
from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from jobs import events, maintenance, ndelius, recovery, staff
from jobs.context import worker_app
from jobs.shutdown import stop_requested

log = logging.getLogger(__name__)
HOUR, DAY = 3600.0, 86400.0
CLAIM_SECONDS = 30  # a claim whose scheduler died before queueing is taken over after this (or the interval)
DONE = b"queued"


@dataclass
class Periodic:
    name: str
    every: float  # seconds: one run per period
    enqueue: Callable[[], object]
    offset: float = 0.0  # periods start at epoch + offset + k * every (a nightly job's hour)
    not_before: float = 0.0  # this scheduler leaves the job alone until then (wall-clock seconds)
    done_period: int | None = None  # the last period this scheduler saw queued (by itself or another)

    def period(self, now: float) -> int:
        return int((now - self.offset) // self.every)

    def period_end(self, period: int) -> float:
        return self.offset + (period + 1) * self.every


def timetable(config: dict, start: float) -> list[Periodic]:
    """Every periodic job, with its interval from the configuration (`start`: wall-clock seconds)."""
    return [
        # Work whose worker is gone (killed, Redis flushed or restarted) is picked up again (jobs.recovery).
        Periodic("recovery", config["RECOVERY_INTERVAL"], recovery.watch),
        Periodic("relay", config["NDELIUS_RELAY_INTERVAL"], ndelius.queue_relay_if_due),
        Periodic("sweep", config["NDELIUS_SWEEP_INTERVAL"], ndelius.queue_sweep),
        Periodic("domain events", config["EVENTS_RELAY_INTERVAL"], events.queue_publish_if_due),
        # The first reconciliation waits for the first relays to have sent the backlog.
        Periodic("reconcile", config["NDELIUS_RECONCILE_INTERVAL"], ndelius.queue_reconcile,
                 not_before=start + min(60.0, config["NDELIUS_RECONCILE_INTERVAL"])),
        # Idempotency keys older than a week are dropped once a day (processed_request would grow for ever).
        Periodic("forget idempotency keys", DAY, maintenance.queue_forget_processed_requests,
                 not_before=start + HOUR),
        nightly("progress verify", config["PROGRESS_VERIFY_INTERVAL"], maintenance.queue_verify_progress,
                config, start),
        # Facilitators are the regions' nDelius staff, read two minutes in, then every hour (issue 15.10).
        Periodic("staff", config["STAFF_REFRESH_INTERVAL"], staff.queue_staff_refresh,
                 not_before=start + min(120.0, config["STAFF_REFRESH_INTERVAL"])),
        nightly("bank holidays", config["BANK_HOLIDAYS_REFRESH_INTERVAL"], maintenance.queue_refresh_bank_holidays,
                config, start),
    ]


def nightly(name: str, every: float, enqueue: Callable[[], object], config: dict, start: float) -> Periodic:
    """A job whose periods begin at NIGHTLY_AT (UTC) and whose first run is at the next one, not at start."""
    hours, minutes = (int(part) for part in config["NIGHTLY_AT"].split(":"))
    job = Periodic(name, every, enqueue, offset=(hours * HOUR + minutes * 60) % every)
    job.done_period = job.period(start)
    return job


def lock_key(prefix: str, job: Periodic, period: int) -> str:
    return f"{prefix}:periodic:{job.name.replace(' ', '-')}:{period}"


def tick(jobs: list[Periodic], now: float, *, redis: Redis | None = None, prefix: str | None = None,
         owner: str | None = None) -> list[str]:
    """Queue every job whose current period nobody has queued yet; the names this scheduler queued. A Redis or
    database error is logged and the job is tried again next tick."""
    from flask import current_app

    from jobs.enqueue import redis_connection

    redis = redis if redis is not None else redis_connection()
    prefix = prefix or current_app.config["RQ_QUEUE"]
    owner = owner or f"{socket.gethostname()}:{os.getpid()}"
    queued = []
    for job in jobs:
        if now < job.not_before:
            continue
        period = job.period(now)
        if job.done_period == period:
            continue
        key = lock_key(prefix, job, period)
        try:
            claim_ms = max(1000, int(min(job.every, CLAIM_SECONDS) * 1000))
            if not redis.set(key, owner, nx=True, px=claim_ms):
                if redis.get(key) == DONE:
                    job.done_period = period  # another scheduler queued it
                continue  # or is queueing it: if it dies, its claim expires and this one takes over
        except RedisError as exc:
            log.warning("could not claim %s: %s", job.name, exc)
            continue
        try:
            job.enqueue()
        except (RedisError, SQLAlchemyError) as exc:
            log.warning("could not queue %s: %s", job.name, exc)
            _release(redis, key)
            continue
        try:  # the period is taken until it ends (and a while after: clocks of two machines differ a little)
            redis.set(key, DONE, px=int((job.period_end(period) - now + job.every) * 1000))
        except RedisError as exc:
            log.warning("could not mark %s queued: %s", job.name, exc)
        job.done_period = period
        log.info("periodic job queued: %s period %d by %s", job.name, period, owner)
        queued.append(job.name)
    return queued


def _release(redis: Redis, key: str) -> None:
    try:
        redis.delete(key)
    except RedisError:
        pass  # it expires by itself


def main() -> int:
    app = worker_app()
    should_stop = stop_requested()
    with app.app_context():
        jobs = timetable(app.config, time.time())
        log.info("scheduler started: %s", ", ".join(f"{j.name} every {j.every:g}s" for j in jobs))
        while not should_stop():
            tick(jobs, time.time())
            time.sleep(app.config["SCHEDULER_TICK"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
