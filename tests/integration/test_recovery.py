"""Nothing stays stuck (issue 12 item 4): work whose worker is gone is picked up again without a person, with
real worker processes killed with SIGKILL (the worker and its work horse), Redis flushed, and the scheduler's
watchdog (jobs.recovery) run directly or as the real `python -m jobs.scheduler` on a fast interval."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rq.job import Job, JobStatus

from app.extensions import db
from app.models import Operation
from jobs import recovery
from jobs.enqueue import enqueue, live_job, queue
from jobs.reschedule import enqueue_reschedule, reschedule_job_id
from tests.conftest import REDIS_URL
from tests.integration.test_reschedule import golden, manager, new_group, postpone_8, snapshot  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


def _operation(operation_id: int) -> Operation:
    """A fresh read, detached, with no transaction left open while the worker writes (SQLite's one writer)."""
    db.session.rollback()
    operation = db.session.get(Operation, operation_id)
    assert operation is not None
    db.session.refresh(operation)
    db.session.expunge(operation)
    db.session.rollback()
    return operation


def _wait(until: Callable[[], bool], what: str, seconds: float = 60, procs: tuple = ()) -> float:
    """Poll the observable state until it holds; the seconds it took."""
    started = time.monotonic()
    while not until():
        for proc, log in procs:
            assert proc.poll() is None, log.read_text()
        assert time.monotonic() - started < seconds, f"{what}: not within {seconds}s"
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def spawn(app, tmp_path) -> Iterator[Callable[..., tuple[subprocess.Popen, Path]]]:
    """Start `python -m <module>` against this test's database, Redis and queue (its own process group)."""
    started: list[subprocess.Popen] = []

    def start(module: str, **extra: str) -> tuple[subprocess.Popen, Path]:
        env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=REDIS_URL,
                   RQ_QUEUE=app.config["RQ_QUEUE"], LOG_LEVEL="WARNING", **extra)
        log = tmp_path / f"{module}-{len(started)}.log"
        proc = subprocess.Popen([sys.executable, "-m", module], cwd=ROOT, env=env, stdout=log.open("w"),
                                stderr=subprocess.STDOUT, start_new_session=True)
        started.append(proc)
        return proc, log

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)  # the worker and its work horse, mid-job
    proc.wait(timeout=10)


def _page(browser, operation_id: int) -> str:  # type: ignore[no-untyped-def]
    html = browser.get(f"/operations/{operation_id}", htmx=True).get_data(as_text=True)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _kill_mid_cascade(spawn, manager, world) -> tuple[int, object]:  # type: ignore[no-untyped-def]  # noqa: F811
    group = new_group(world, manager, "KILL")
    operation_id = postpone_8(manager, group).id
    db.session.commit()
    enqueue_reschedule(operation_id)
    worker = spawn("jobs.worker", RESCHEDULE_STEP_DELAY="0.3")
    _wait(lambda: _operation(operation_id).done >= 3, "the worker did not start the job", procs=(worker,))
    _kill(worker[0])
    operation = _operation(operation_id)
    assert operation.status == "running" and 3 <= operation.done < operation.total
    return operation_id, group


def test_a_worker_killed_mid_cascade_is_carried_on_and_ends_like_an_uninterrupted_run(  # type: ignore[no-untyped-def]
        app, world, manager, browser, spawn, run_jobs, golden):  # noqa: F811
    operation_id, group = _kill_mid_cascade(spawn, manager, world)
    q = queue()
    dead = Job.fetch(reschedule_job_id(operation_id), connection=q.connection)
    assert dead.get_status(refresh=True) == JobStatus.STARTED  # RQ still thinks it runs
    browser.sign_in(manager.username)

    assert recovery.watch() == {"operations": 1, "jobs": 0}  # the scheduler's watchdog, one look

    job = live_job(q, reschedule_job_id(operation_id))
    assert job is not None and job.get_status() == JobStatus.QUEUED  # a fresh job, not the dead one
    page = _page(browser, operation_id)
    assert "Working" in page and "The worker stopped; carrying on." in page, page
    assert recovery.watch() == {"operations": 0, "jobs": 0}  # queued again once, not on every look
    run_jobs()
    assert snapshot(group) == golden
    page = _page(browser, operation_id)
    assert page.startswith("Done") and "The worker stopped" not in page, page


def test_the_scheduler_carries_on_a_killed_worker_s_cascade_by_itself(  # type: ignore[no-untyped-def]
        app, world, manager, spawn, golden):  # noqa: F811
    """The real scheduler process (watchdog every 0.5 s) and a worker that comes back, as `make run` restarts
    it: the cascade finishes with nobody pressing anything."""
    operation_id, group = _kill_mid_cascade(spawn, manager, world)
    scheduler = spawn("jobs.scheduler", RECOVERY_INTERVAL="0.5", RECOVERY_GRACE="0")
    worker = spawn("jobs.worker")
    took = _wait(lambda: _operation(operation_id).status == "succeeded", "the cascade did not finish",
                 seconds=30, procs=(scheduler, worker))
    assert took < 30
    assert (_operation(operation_id).result or {}).get("recovered") == 1
    assert snapshot(group) == golden


def test_a_queued_cascade_wiped_by_a_redis_flush_is_queued_again(  # type: ignore[no-untyped-def]
        app, world, manager, browser, redis, run_jobs, golden):  # noqa: F811
    group = new_group(world, manager, "FLUSH")
    operation_id = postpone_8(manager, group).id
    db.session.commit()
    enqueue_reschedule(operation_id)
    redis.flushall()  # or the embedded Redis restarted: it keeps nothing
    assert live_job(queue(), reschedule_job_id(operation_id)) is None
    browser.sign_in(manager.username)

    assert recovery.watch()["operations"] == 1

    page = _page(browser, operation_id)
    assert page.startswith("Waiting to start") and "The worker stopped; carrying on." in page, page
    run_jobs()
    assert snapshot(group) == golden


def test_enqueue_replaces_a_job_whose_worker_was_killed(app, spawn):  # type: ignore[no-untyped-def]
    """The nDelius relay's fixed id: the dead relay job is not handed back, so sending starts again (this is
    what "Retry all" and the scheduler's relay tick call)."""
    q = queue()
    enqueue("tests.integration.test_recovery.hang", job_id="ndelius-relay", retries=0)
    worker = spawn("jobs.worker")
    _wait(lambda: Job.fetch("ndelius-relay", connection=q.connection).get_status() == JobStatus.STARTED,
          "the worker did not start the job", procs=(worker,))
    assert enqueue("tests.integration.test_recovery.hang", job_id="ndelius-relay").get_status() == \
        JobStatus.STARTED  # alive: not queued twice
    _kill(worker[0])

    job = enqueue("jobs.ndelius.relay", job_id="ndelius-relay", retries=0)

    assert job.get_status() == JobStatus.QUEUED and job.func_name == "jobs.ndelius.relay"
    assert q.job_ids == ["ndelius-relay"] and q.started_job_registry.get_job_ids(cleanup=False) == []


def test_a_job_whose_worker_was_killed_is_run_again_or_failed(app, spawn):  # type: ignore[no-untyped-def]
    q = queue()
    for job_id, retries in (("with-retries", 2), ("without", 0)):
        enqueue("tests.integration.test_recovery.hang", job_id=job_id, retries=retries)
        worker = spawn("jobs.worker")
        _wait(lambda: Job.fetch(job_id, connection=q.connection).get_status() == JobStatus.STARTED,  # noqa: B023
              "the worker did not start the job", procs=(worker,))
        _kill(worker[0])

        assert recovery.watch() == {"operations": 0, "jobs": 1}

        job = Job.fetch(job_id, connection=q.connection)
        if retries:
            assert (job.get_status(), job.retries_left) == (JobStatus.QUEUED, 1)  # at once, one retry spent
            job.delete()
        else:
            assert job.get_status() == JobStatus.FAILED
        assert q.started_job_registry.get_job_ids(cleanup=False) == []
        assert recovery.watch() == {"operations": 0, "jobs": 0}


def hang() -> None:
    """A job that runs until its worker is killed."""
    while True:
        time.sleep(0.1)


def _due_now(q) -> None:  # type: ignore[no-untyped-def]
    """What RQ's scheduler does when a retry's interval has passed: move the job to the queue."""
    for job_id in q.scheduled_job_registry.get_job_ids():
        job = Job.fetch(job_id, connection=q.connection)
        q.scheduled_job_registry.remove(job)
        q.enqueue_job(job)


@pytest.mark.parametrize("failures", [1, 4])
def test_a_generation_that_fails_is_retried_and_only_marked_failed_when_retries_are_spent(  # type: ignore[no-untyped-def]
        app, world, manager, run_jobs, monkeypatch, failures):  # noqa: F811
    from app.services import schedule
    from jobs.schedule import enqueue_generation

    real, attempts = schedule._generate, []

    def flaky(operation, redis):  # type: ignore[no-untyped-def]
        attempts.append(1)
        if len(attempts) <= failures:
            raise RuntimeError("nDelius timed out")
        return real(operation, redis)

    monkeypatch.setattr(schedule, "_generate", flaky)
    group = world.group(manager, "RETRY", members=(world.referral(manager.region),))
    operation_id = schedule.request_start(manager, group).id
    enqueue_generation(operation_id, group.id)
    q = queue()
    for attempt in range(1, 4):  # three retries (jobs.enqueue)
        run_jobs()
        operation = _operation(operation_id)
        if attempt > failures:
            break
        assert (operation.status, operation.message) == (
            "queued", f"That attempt did not work (nDelius timed out); trying again in {[5, 30, 120][attempt - 1]} seconds")
        _due_now(q)
    run_jobs()
    operation = _operation(operation_id)
    if failures == 1:
        assert operation.status == "succeeded" and len(attempts) == 2
    else:
        assert len(attempts) == 4
        assert (operation.status, operation.error) == ("failed", "The schedule could not be generated: nDelius timed out")
