"""Several instances behave like one (issue 13.5), with real processes: two web servers (gunicorn), two RQ
workers (`python -m jobs.worker`) and two schedulers (`python -m jobs.scheduler`) against this run's PostgreSQL
database and Redis, the fake HMPPS Auth and a fake nDelius over HTTP. Intervals are a second or two, so a
period passes quickly.

Checked: every periodic job is queued once per period (the schedulers' logs, together, never name a period
twice and leave none out after the first); a sign-in begun on one web server finishes on the other and the
session works on both, and on the second after the first is killed; a scheduler and a worker killed (SIGKILL)
lose nothing - the other pair sends every change to nDelius exactly once."""
# ruff: noqa: F811 - the fixtures imported from ndelius_kit are arguments of the tests
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from redis import Redis
from rq import Worker
from sqlalchemy import text

from app import clock
from app.extensions import db
from tests.fakes.govuk import start_fake_govuk
from tests.fakes.ndelius import start_fake_ndelius
from tests.integration.ndelius_kit import NOW, appointments, assert_one_each, manager, started_group  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
APP_NAME = "several-instances-test"  # the processes' PostgreSQL application_name
QUEUED = re.compile(r"periodic job queued: (?P<job>[a-z -]+) period (?P<period>\d+) by ")
INTERVALS = {"NDELIUS_RELAY_INTERVAL": "1", "NDELIUS_SWEEP_INTERVAL": "1", "EVENTS_RELAY_INTERVAL": "1",
             "NDELIUS_RECONCILE_INTERVAL": "2", "PROGRESS_VERIFY_INTERVAL": "2", "BANK_HOLIDAYS_REFRESH_INTERVAL": "2",
             "SCHEDULER_TICK": "0.1"}
EVERY_PERIOD = ("sweep", "reconcile", "progress verify", "bank holidays")  # queued whatever the database holds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], object], timeout: float = 60, what: str = "") -> None:
    """Poll an observable state until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        time.sleep(0.1)


class Processes:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs, self.running = env, logs, {}

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        with (self.logs / f"{name}.log").open("w") as log:
            process = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True)
        self.running[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()

    def kill(self, name: str) -> None:
        process = self.running.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for name in list(self.running):
            self.kill(name)  # nothing of theirs is needed any more


@pytest.fixture
def nd(app):  # type: ignore[no-untyped-def]
    """A fake nDelius that takes the run's HMPPS Auth tokens (as the real one does), clocks at NOW."""
    if app.config["BACKEND"] != "postgresql":
        pytest.skip("several instances share one PostgreSQL database")
    server = start_fake_ndelius(hmpps_auth_url=os.environ["HMPPS_AUTH_URL"])
    server.set(now=NOW.isoformat(timespec="minutes"))
    clock.freeze(NOW)
    yield server
    server.stop()


@pytest.fixture
def govuk(app):  # type: ignore[no-untyped-def]
    from app.services.bank_holidays import load_snapshot

    fake = start_fake_govuk()
    yield fake
    fake.stop()
    db.session.rollback()
    load_snapshot()  # the shipped data as it was, for the tests after
    db.session.commit()


@pytest.fixture
def processes(app, nd, govuk, tmp_path) -> Iterator[Processes]:
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=app.config["REDIS_URL"],
               RQ_QUEUE=app.config["RQ_QUEUE"], SECRET_KEY="several-instances-share-this-key", PROXY_HOPS="0",
               LAO_CHECKS="false", LOG_LEVEL="INFO", NDELIUS_URL=nd.url, BANK_HOLIDAYS_URL=govuk.url,
               PYTHONPATH=str(ROOT), PGAPPNAME=APP_NAME, **INTERVALS)
    running = Processes(env, tmp_path)
    try:
        yield running
    finally:
        running.stop_all()
        # A killed process's server backend may still be in a query; end them before the next test empties tables.
        ours = text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name")
        left = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name")

        def gone() -> bool:
            db.session.rollback()  # pg_stat_activity is read once per transaction
            db.session.execute(ours, {"name": APP_NAME})
            return db.session.scalar(left, {"name": APP_NAME}) == 0

        wait_for(gone, what="their connections to end")
        db.session.rollback()


def web_server(processes: Processes, name: str) -> str:
    port = free_port()
    processes.start(name, [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "wsgi:app"])
    return f"http://127.0.0.1:{port}"


def answers(url: str) -> bool:
    try:
        return requests.get(url + "/login", timeout=5).status_code == 200
    except requests.RequestException:  # not listening, or still loading the app
        return False


def on(base: str, url: str) -> str:
    """The same path and query on another server."""
    parts, other = urlsplit(url), urlsplit(base)
    return urlunsplit((other.scheme, other.netloc, parts.path, parts.query, ""))


def periods(processes: Processes, *names: str) -> dict[str, list[int]]:
    """Job -> every period queued, by any of these schedulers, in order (a period twice shows twice)."""
    found: dict[str, list[int]] = {}
    for name in names:
        for match in QUEUED.finditer(processes.log(name)):
            found.setdefault(match["job"], []).append(int(match["period"]))
    return {job: sorted(ps) for job, ps in found.items()}


def test_two_of_everything_behave_like_one(processes, app, nd, world, manager):
    web_a, web_b = web_server(processes, "web-a"), web_server(processes, "web-b")
    for name in ("worker-a", "worker-b"):
        processes.start(name, [sys.executable, "-m", "jobs.worker"])
    for name in ("scheduler-a", "scheduler-b"):
        processes.start(name, [sys.executable, "-m", "jobs.scheduler"])
    wait_for(lambda: answers(web_a) and answers(web_b), what="both web servers to answer")

    # A sign-in begun on web A comes back to web B: the session (and the OAuth state in it) is the signed cookie.
    person = requests.Session()
    start = person.get(web_a + "/login/hmpps-auth", allow_redirects=False, timeout=10)
    assert start.status_code == 302
    approved = person.post(start.headers["Location"], data={"username": manager.username}, allow_redirects=False,
                           timeout=10)
    assert approved.status_code == 302
    back = person.get(on(web_b, approved.headers["Location"]), allow_redirects=False, timeout=10)
    assert back.status_code == 302, back.text[:500]
    for server in (web_a, web_b):
        page = person.get(server + "/integration", allow_redirects=False, timeout=10)
        assert page.status_code == 200 and "nDelius integration" in page.text

    group = started_group(world, manager, people=2)
    held = appointments(group)
    db.session.commit()
    wait_for(lambda: len(nd.appointments) == len(held), what="the first group in nDelius")
    assert_one_each(nd, held)
    wait_for(lambda: all(len(periods(processes, "scheduler-a", "scheduler-b").get(job, [])) >= 3
                         for job in ("relay", *EVERY_PERIOD)), what="three periods of each job")

    # One of each is killed: a scheduler at any moment, a worker between jobs, web A.
    processes.kill("scheduler-a")
    redis = Redis.from_url(app.config["REDIS_URL"])
    worker_a = next(w for w in Worker.all(connection=redis) if w.pid == processes.running["worker-a"].pid)

    def idle() -> bool:
        worker_a.refresh()
        return worker_a.get_state() == "idle"

    wait_for(idle, what="worker A between jobs")
    processes.kill("worker-a")
    processes.kill("web-a")
    killed_at = time.time()

    second = started_group(world, manager, people=1, code="G2")
    both = held + appointments(second)
    db.session.commit()
    wait_for(lambda: len(nd.appointments) == len(both), what="the second group in nDelius")
    assert_one_each(nd, both)
    page = person.get(web_b + "/integration", allow_redirects=False, timeout=10)
    assert page.status_code == 200 and "nDelius integration" in page.text
    sweep_period = int(killed_at // 1)
    wait_for(lambda: max(periods(processes, "scheduler-b").get("sweep", [0])) >= sweep_period + 3,
             what="scheduler B to go on alone")

    queued = periods(processes, "scheduler-a", "scheduler-b")
    for job, seen in queued.items():
        assert len(seen) == len(set(seen)), f"{job}: a period queued twice: {seen}"
    for job in EVERY_PERIOD:  # every period, none left out
        seen = queued[job]
        assert seen == list(range(seen[0], seen[-1] + 1)), f"{job}: a period left out: {seen}"
    assert periods(processes, "scheduler-a") and periods(processes, "scheduler-b"), "both schedulers took turns"
    db.session.rollback()
    recorded = dict(db.session.execute(text("SELECT name, outcome FROM periodic_run")).tuples().all())
    assert {job: recorded.get(job) for job in ("relay", *EVERY_PERIOD)} == dict.fromkeys(("relay", *EVERY_PERIOD), "ok")


def test_two_schedulers_queue_each_period_once_and_take_over_a_dead_claim(app, redis):
    from jobs.scheduler import lock_key, tick, timetable

    def queueing(jobs):  # type: ignore[no-untyped-def]  # the recovery watchdog is not queueing (tests: test_recovery)
        return [job for job in jobs if job.name != "recovery"]

    a, b = queueing(timetable(app.config, 0.0)), queueing(timetable(app.config, 0.0))
    assert tick(a, 0.0, owner="a") == ["relay", "sweep", "domain events"]
    assert tick(b, 0.2, owner="b") == []  # the same periods: A has them
    assert tick(b, 5.0, owner="b") == ["relay", "domain events"]  # their next periods (every 5 s, 2 s)
    assert tick(a, 5.3, owner="a") == []
    # A scheduler that claimed the next period and died before queueing: its claim expires, then B takes over.
    relay = b[0]
    redis.set(lock_key(app.config["RQ_QUEUE"], relay, 2), "dead", px=300)
    assert tick(b, 10.0, owner="b") == ["domain events"]
    wait_for(lambda: not redis.exists(lock_key(app.config["RQ_QUEUE"], relay, 2)), what="the dead claim to expire")
    assert tick(b, 10.5, owner="b") == ["relay"]
    assert tick(a, 11.0, owner="a") == []
