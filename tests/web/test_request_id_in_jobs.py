"""One request id from the web into the worker (issue 13.6): a job queued by a request carries its id, and the
worker's JSON log lines for that job show it, with the job's id."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from rq import Queue
from rq.job import Job
from sqlalchemy import select

from app import _JsonFormatter, clock
from app.extensions import db
from app.models import Session
from jobs import ndelius as ndelius_jobs
from tests.conftest import REDIS_URL

ROOT = Path(__file__).resolve().parents[2]
FIRST_GROUP_SESSION = datetime(2026, 4, 13, 10)


@pytest.fixture
def tap(world, browser, redis, app):  # type: ignore[no-untyped-def]
    region = world.region("NW", "North West")
    lead = world.facilitator(region, "Fran Lead")
    manager = world.user(region, "treatment_manager", "tm.nw")
    group = world.started(world.group(manager, "BC1", lead=lead, members=(world.referral(region, "Alex Able"),)),
                          manager)
    world.user(region, "facilitator", "fac.lead", facilitator=lead)
    clock.freeze(FIRST_GROUP_SESSION.replace(hour=11))
    session = db.session.scalar(select(Session).where(Session.group_id == group.id,
                                                      Session.starts_at == FIRST_GROUP_SESSION))
    attendee = session.attendees[0]
    browser.sign_in("fac.lead")
    redis.delete(*(redis.keys("rq:job:ndelius-relay*") or [b"none"]))
    Queue(app.config["RQ_QUEUE"], connection=redis).empty()

    def send(request_id: str):  # type: ignore[no-untyped-def]
        return browser.post(f"/sessions/{session.id}/attendees/{attendee.id}", {
            "version": "", "current_outcome": "", "outcome": "ATTC", "idempotency_key": "rid-1"},
            htmx=True, headers={"X-Request-Id": request_id})

    return send


def test_the_job_a_tap_queues_carries_the_tap_s_request_id(tap, redis):  # type: ignore[no-untyped-def]
    response = tap("tap-7f3a9c")
    assert response.status_code == 200 and response.headers["X-Request-Id"] == "tap-7f3a9c"
    assert Job.fetch(ndelius_jobs.RELAY_JOB, connection=redis).meta == {"request_id": "tap-7f3a9c"}


def test_a_job_queued_outside_a_request_has_no_request_id(app, redis):  # type: ignore[no-untyped-def]
    Queue(app.config["RQ_QUEUE"], connection=redis).empty()
    ndelius_jobs.queue_sweep()
    assert Job.fetch(ndelius_jobs.SWEEP_JOB, connection=redis).meta == {}


def test_the_worker_s_json_log_lines_for_that_job_carry_the_request_id(tap, app, tmp_path):  # type: ignore[no-untyped-def]
    assert tap("tap-b41e07").status_code == 200
    db.session.commit()
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=REDIS_URL,
               RQ_QUEUE=app.config["RQ_QUEUE"], LAO_CHECKS="false", LOG_LEVEL="INFO")
    worker = subprocess.run([sys.executable, "-m", "jobs.worker", "--burst"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert worker.returncode == 0, worker.stderr[-3000:]
    lines = [json.loads(line) for line in worker.stderr.splitlines() if line.startswith("{")]
    relay = [line for line in lines if line["logger"] == "app.services.ndelius_sync"]
    assert relay and relay[-1]["message"].startswith("ndelius relay: ")
    assert (relay[-1]["request_id"], relay[-1]["job_id"]) == ("tap-b41e07", ndelius_jobs.RELAY_JOB)


def test_log_lines_outside_requests_and_jobs_have_no_request_id():  # type: ignore[no-untyped-def]
    record = logging.LogRecord("jobs.scheduler", logging.INFO, __file__, 1, "tick", None, None)
    line = json.loads(_JsonFormatter().format(record))
    assert "request_id" not in line and "job_id" not in line
