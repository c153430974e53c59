"""A real RQ worker process is killed with SIGKILL in the middle of a cascade; RQ retries the abandoned job and
the result is exactly that of an uninterrupted run (RELIABILITY J2, fast variant: the registry cleanup that a
live worker's maintenance task would do after the heartbeat expires is called directly)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rq.job import Job, JobStatus

from app.extensions import db
from app.models import Operation
from jobs.enqueue import queue
from jobs.reschedule import enqueue_reschedule
from tests.conftest import REDIS_URL
from tests.integration.test_reschedule import golden, manager, new_group, postpone_8, snapshot  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


def _done(operation_id: int) -> tuple[str, int]:
    db.session.rollback()  # a fresh read, and no lock held while the worker writes
    operation = db.session.get(Operation, operation_id)
    db.session.refresh(operation)
    result = (operation.status, operation.done)
    db.session.rollback()
    return result


def test_a_worker_killed_mid_cascade_is_retried_and_ends_like_an_uninterrupted_run(  # type: ignore[no-untyped-def]
        app, world, manager, run_jobs, golden, tmp_path):  # noqa: F811
    group = new_group(world, manager, "KILL")
    operation = postpone_8(manager, group)
    operation_id = operation.id
    db.session.commit()
    enqueue_reschedule(operation_id)
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=REDIS_URL,
               RQ_QUEUE=app.config["RQ_QUEUE"], RESCHEDULE_STEP_DELAY="0.3", LOG_LEVEL="WARNING")
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen([sys.executable, "-m", "jobs.worker"], cwd=ROOT, env=env, stdout=log, stderr=log,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while _done(operation_id)[1] < 3:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, "the worker did not start the job"
            time.sleep(0.05)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its work horse, mid-job
        worker.wait(timeout=10)
    status, done = _done(operation_id)
    assert status == "running" and 3 <= done < 21, (status, done)

    q = queue()
    job = Job.fetch(f"reschedule-{operation_id}", connection=q.connection)
    assert job.get_status(refresh=True) == JobStatus.STARTED  # abandoned: RQ still thinks it is running
    q.started_job_registry.cleanup(timestamp=time.time() + 10_000)  # what maintenance does after the heartbeat
    assert job.get_status(refresh=True) in (JobStatus.SCHEDULED, JobStatus.QUEUED)  # retried, not lost
    if job.get_status(refresh=True) == JobStatus.SCHEDULED:  # the retry waits its interval; do the scheduler's job
        q.scheduled_job_registry.remove(job)
        q.enqueue_job(job)
    run_jobs()
    assert snapshot(group) == golden
