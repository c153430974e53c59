"""nDelius jobs. The outbox (database) is the source of truth, so a job carries no work items, only the
instruction to look: losing a queued job (Redis flushed or restarted) loses nothing, the next one finds the
same rows. Deterministic job ids keep at most one of each waiting or running."""
from __future__ import annotations

import logging
import time
from typing import Any

from redis.exceptions import RedisError

from app.services.periodic_runs import recorded
from jobs.context import with_app
from jobs.enqueue import enqueue

log = logging.getLogger(__name__)
RELAY_JOB, SWEEP_JOB, RECONCILE_JOB = "ndelius-relay", "ndelius-sweep", "ndelius-reconcile"
# A relay already running may have looked at the outbox before a change committed: one more relay waits for it.
RELAY_FOLLOW_UP_JOB = "ndelius-relay-follow-up"
# After Redis failed to answer a commit's relay, this process stops asking for so long (the scheduler's relay
# sends the changes meanwhile), so a Redis outage slows no more than one request in that time.
COMMIT_RELAY_BACKOFF_SECONDS = 30.0
_commit_relay_paused_until = 0.0
RELAY_BUDGET_SECONDS = 120  # a relay job stops claiming after this; the next one carries on


@with_app
@recorded("relay")
def relay() -> dict[str, Any]:
    """Drain the outbox (bounded by a time budget, well inside the job timeout)."""
    from app.services import ndelius_sync

    return ndelius_sync.drain(budget=RELAY_BUDGET_SECONDS).as_dict()


@with_app
@recorded("sweep")
def sweep() -> dict[str, int]:
    """Free leases of relays that died, and queue a relay whenever the outbox holds due work."""
    from app.services import ndelius_sync

    counts = ndelius_sync.sweep()
    if counts["due"]:
        queue_relay()
    return counts


@with_app
@recorded("reconcile", only_if=lambda region_id=None: region_id is None)  # the national run
def reconcile(region_id: int | None = None) -> dict[str, Any]:
    """One reconciliation run (of one region, or of all). Fails - to be retried - only when no search got an
    answer; a run with some failed searches is recorded as such on its row."""
    from app.services import ndelius_reconcile

    run = ndelius_reconcile.reconcile(region_id=region_id)
    if run.failed_searches and run.failed_searches == run.searches:
        raise RuntimeError(f"reconciliation failed: {run.error}")
    return {"compared": run.compared, "found": run.found, "new": run.new, "resolved": run.resolved,
            "searches": run.searches, "failed_searches": run.failed_searches}


def queue_relay() -> bool:
    """Ask for a relay soon (e.g. right after a change was committed). False when Redis is unreachable: the
    periodic relay picks the change up anyway."""
    try:
        enqueue("jobs.ndelius.relay", job_id=RELAY_JOB, timeout=RELAY_BUDGET_SECONDS + 180, retries=0)
    except RedisError:
        log.warning("relay not queued (Redis unavailable); the periodic relay will send it")
        return False
    return True


def queue_relay_after_commit() -> bool:
    """A transaction that wrote nDelius outbox rows has committed (app.services.outbox): queue a relay now, so
    the change reaches nDelius in about a second rather than at the scheduler's next tick. Never raises - the
    user's change is already committed and their request must not fail for this - and after a failure to reach
    Redis it does not try again for COMMIT_RELAY_BACKOFF_SECONDS: the scheduler's polling is the safety net."""
    global _commit_relay_paused_until
    if time.monotonic() < _commit_relay_paused_until:
        return False
    timeout = RELAY_BUDGET_SECONDS + 180
    try:
        job = enqueue("jobs.ndelius.relay", job_id=RELAY_JOB, timeout=timeout, retries=0)
        if job.get_status(refresh=False) == "started":
            enqueue("jobs.ndelius.relay", job_id=RELAY_FOLLOW_UP_JOB, timeout=timeout, retries=0)
    except Exception as exc:  # noqa: BLE001  (Redis down, a timeout, anything: the change is committed)
        _commit_relay_paused_until = time.monotonic() + COMMIT_RELAY_BACKOFF_SECONDS
        log.warning("relay not queued after commit (%s); the scheduler's relay will send the change",
                    type(exc).__name__, extra={"event": "relay_not_queued"})
        return False
    return True


def queue_relay_if_due() -> bool:
    """The scheduler's frequent tick: queue a relay only when the outbox holds due work (a cheap query), so an
    idle service does not run an empty job every few seconds."""
    from app.services import ndelius_sync

    due = ndelius_sync.has_due_work()
    return queue_relay() if due else False


def queue_sweep() -> None:
    enqueue("jobs.ndelius.sweep", job_id=SWEEP_JOB, timeout=60, retries=0)


def queue_reconcile(region_id: int | None = None) -> None:
    """A national run, or (a treatment manager's) one region's."""
    if region_id is None:
        enqueue("jobs.ndelius.reconcile", job_id=RECONCILE_JOB, timeout=600, retries=1)
    else:
        enqueue("jobs.ndelius.reconcile", region_id, job_id=f"{RECONCILE_JOB}-{region_id}", timeout=600, retries=1)
