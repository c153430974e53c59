"""`make bench`: figures, not assertions. Prints one JSON object.

Builds (once) a national-volume PostgreSQL dataset (`flask demo scale`, database BENCH_DATABASE, default
pd_bench), starts the app with gunicorn against it and a Redis, and loads each page with wrk at 50 concurrent
connections; the same load against a minimal Flask endpoint under the same gunicorn settings gives the floor of
the stack. Then times schedule generation, cascade computation and `flask progress verify`."""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import requests

os.environ.setdefault("DEMO_MODE", "true")  # a local run: a development SECRET_KEY will do

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
DB_NAME = os.environ.get("BENCH_DATABASE", "pd_bench")
GROUPS = int(os.environ.get("BENCH_GROUPS", "5000"))
DB_URL = os.environ.get("BENCH_DATABASE_URL", f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
DURATION = os.environ.get("BENCH_SECONDS", "10")
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "50"))
# BENCH_PAGES=register_get,attendance_tap measures only those pages; BENCH_TIMINGS=0 skips the timings after them
ONLY = [name for name in os.environ.get("BENCH_PAGES", "").split(",") if name]
WITH_TIMINGS = os.environ.get("BENCH_TIMINGS", "1") != "0"
OUTPUT = os.environ.get("BENCH_OUTPUT", "")  # also write the JSON here (make bench: for the table)
TAPS_FILE = f"/tmp/pd-bench-taps-{DB_NAME}.txt"
GUNICORN = ["--workers", os.environ.get("BENCH_WORKERS", "4"), "--threads", "1", "--worker-class", "sync",
            "--backlog", "2048", "--log-level", "warning"]


def env() -> dict[str, str]:
    e = dict(os.environ, DATABASE_URL=DB_URL, REDIS_URL=REDIS_URL, FLASK_APP="wsgi.py", LOG_LEVEL="WARNING",
             SECRET_KEY="bench")
    return e


def flask(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "flask", *args], cwd=ROOT, env=env(), check=check, capture_output=True,
                          text=True)


def ensure_dataset() -> dict:
    admin = DB_URL.rsplit("/", 1)[0] + "/postgres"
    from sqlalchemy import create_engine, text

    engine = create_engine(admin.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": DB_NAME}).scalar()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
    engine.dispose()
    flask("db", "upgrade")
    started = time.monotonic()
    result = flask("demo", "scale", "--groups", str(GROUPS), check=False)
    if result.returncode == 0:
        return {"built": True, "seconds": round(time.monotonic() - started, 1), "summary": result.stdout.strip().splitlines()[-1]}
    if "already there" in result.stderr:
        return {"built": False}
    raise SystemExit(result.stderr)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(target: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([PY, "-m", "gunicorn", *GUNICORN, "--bind", f"127.0.0.1:{port}", target], cwd=ROOT,
                            env=env(), start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(base + "/health" if "wsgi" in target else base + "/", timeout=10)
            return proc, base
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"{target} did not start")


def drain(base: str) -> None:
    """Let requests queued by the previous run finish before the next measurement starts."""
    for _ in range(60):
        started = time.monotonic()
        try:
            requests.get(base + "/login", timeout=30)
        except requests.RequestException:
            pass
        if time.monotonic() - started < 0.2:
            return
        time.sleep(1)


def wrk(url: str, connections: int = CONNECTIONS, seconds: str = DURATION, **extra: str) -> dict:
    """Closed-loop load: `connections` clients each sending the next request as soon as one is answered.
    The timeout is long so that slow answers are measured, not dropped."""
    script = ROOT / "bench" / "percentiles.lua"
    e = dict(os.environ, **extra)
    threads = "2" if connections > 1 else "1"
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "-s",
                          str(script), url], env=e, capture_output=True, text=True, check=True).stdout
    return json.loads(out.split("BENCH_JSON", 1)[1])


def start_fakes() -> None:
    """The fake HMPPS Auth and fake nDelius the app signs people in through (in this process)."""
    sys.path.insert(0, str(ROOT))
    from tests.fakes.hmpps_auth import start_fake_hmpps_auth
    from tests.fakes.ndelius import start_fake_ndelius

    auth = start_fake_hmpps_auth()
    ndelius = start_fake_ndelius(hmpps_auth_url=auth.url)
    os.environ.update(HMPPS_AUTH_URL=auth.url, NDELIUS_URL=ndelius.url)


def sign_in(base: str, username: str) -> tuple[requests.Session, str]:
    """Through the fake HMPPS Auth (a scale user `tm.s01` is a treatment manager in region S01)."""
    from tests.fakes.staff import register_staff

    prefix, region = username.split(".")
    role = {"tm": "treatment_manager", "lead": "lead", "fac": "facilitator"}[prefix]
    register_staff(os.environ["HMPPS_AUTH_URL"], os.environ["NDELIUS_URL"], username=username, name=username,
                   role=role, region_code=region.upper())
    s = requests.Session()
    start = s.get(base + "/login/hmpps-auth", allow_redirects=False, timeout=30)
    back = s.post(start.headers["Location"], data={"username": username}, allow_redirects=False, timeout=30)
    s.get(back.headers["Location"], timeout=30)
    page = s.get(base + "/groups", timeout=30).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    return s, token


def targets() -> dict:
    """Concrete ids in the busiest region: a past session with a full register, its group, a region month."""
    code = r"""
from sqlalchemy import select, func
from app import clock, create_app
from app.extensions import db
from app.models import Session, Attendee, Region, Group
app = create_app()
with app.app_context():
    now = clock.now_local()  # the dataset runs into the future: registers and taps are of sessions already held
    region = db.session.scalar(select(Region).where(Region.code == "S01"))
    session = db.session.scalars(select(Session).join(Group).where(Group.region_id == region.id,
        Session.kind == "scheduled", Session.status == "scheduled", Session.starts_at < now)
        .order_by(Session.starts_at.desc()).offset(200).limit(1)).one()
    attendee = db.session.scalar(select(Attendee.id).where(Attendee.session_id == session.id).limit(1))
    # Distinct past attendees with a recorded outcome: each tap changes one of them at the version it has, so
    # every tap under load is a real write (no conflicts), as a facilitator's taps are.
    from app.models import Attendance
    taps = db.session.execute(select(Attendee.session_id, Attendee.id, Attendance.version, Attendance.outcome)
        .join(Attendance, Attendance.attendee_id == Attendee.id).join(Session, Session.id == Attendee.session_id)
        .join(Group, Group.id == Session.group_id).where(Group.region_id == region.id, Session.starts_at < now,
                                                         Session.status == "scheduled", Attendee.removed_at.is_(None))
        .order_by(Attendee.id.desc()).limit(%d)).all()
    with open(%r, "w") as f:
        for sid, aid, version, outcome in taps:
            f.write(f"/sessions/{sid}/attendees/{aid}\toutcome={'AFTC' if outcome == 'ATTC' else 'ATTC'}&version={version}\n")
    print({"session": session.id, "group": session.group_id, "attendee": attendee,
           "month": session.starts_at.strftime("%%Y-%%m"), "day": session.starts_at.strftime("%%Y-%%m-%%d")})
""" % (TAPS, TAPS_FILE)
    run = subprocess.run([PY, "-c", code], cwd=ROOT, env=env(), capture_output=True, text=True)
    if run.returncode:
        raise SystemExit(run.stderr)
    out = run.stdout
    import ast

    return ast.literal_eval(out.strip().splitlines()[-1])


# Pages under load, filled from targets(): (name, method, path template, form fields, htmx)
PAGES = [
    ("register_get", "GET", "/sessions/{session}", None, False),
    ("attendance_tap", "POST", "/sessions/{session}/attendees/{attendee}", {"outcome": "ATTC"}, True),
    ("calendar_region_month", "GET", "/calendar?view=month&scope=region&date={day}", None, False),
    ("progress_grid", "GET", "/progress/groups/{group}", None, False),
    ("regional_dashboard", "GET", "/progress", None, False),
    ("groups_list", "GET", "/groups", None, False),
    # No target: a signed-in page that shows nothing (a 404 in the service's layout). What every page costs
    # before its own work: the session cookie, loading the user, the layout, the database round trips.
    ("signed_in_floor", "GET", "/no-such-page", None, False),
]
EXPECTED_STATUS = {"signed_in_floor": 404}
TAPS = 20000


def timings() -> dict:
    code = r"""
import json, time
from datetime import date, datetime, time as t
from app import create_app, clock
from app.extensions import db
from app.scheduling import Slot, generate, postpone, ExistingSession
from app.services.programme import ensure_building_choices, programme_spec
from app.services.bank_holidays import holiday_dates
app = create_app()
with app.app_context():
    spec = programme_spec(ensure_building_choices())
    hol = holiday_dates(date(2026, 1, 1))
    slots = [Slot(0, t(10)), Slot(3, t(14))]
    generate(spec, slots, date(2026, 3, 23), hol)
    n = time.perf_counter(); generate(spec, slots, date(2026, 3, 23), hol); one = time.perf_counter() - n
    n = time.perf_counter()
    for i in range(1000):
        generate(spec, slots, date(2026, 1, 5) + (date(2026,1,6)-date(2026,1,5)) * (i % 300), hol)
    thousand = time.perf_counter() - n
    planned = generate(spec, slots, date(2026, 3, 23), hol)
    timeline = [ExistingSession(key=f"{p.module_number}.{p.session_number}", module_number=p.module_number,
        session_number=p.session_number, name=p.name, session_type=p.session_type, kind="scheduled",
        starts_at=p.starts_at, ends_at=p.ends_at) for p in planned]
    n = time.perf_counter()
    postpone(spec, timeline, "3.3", datetime(2026, 5, 7, 14), None, cascade=True, now=datetime(2026, 4, 20, 9),
             slots=slots, bank_holidays=hol)
    cascade = time.perf_counter() - n
    print(json.dumps({"generate_one_group_ms": round(one * 1000, 2), "generate_1000_groups_ms": round(thousand * 1000, 1),
                      "cascade_compute_ms": round(cascade * 1000, 2)}))
"""
    run = subprocess.run([PY, "-c", code], cwd=ROOT, env=env(), capture_output=True, text=True)
    if run.returncode:
        raise SystemExit(run.stderr)
    out = run.stdout
    result = json.loads(out.strip().splitlines()[-1])
    started = time.monotonic()
    verify = flask("progress", "verify", check=False)
    result["progress_verify_seconds"] = round(time.monotonic() - started, 2)
    result["progress_verify_ok"] = verify.returncode == 0
    return result


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def measure_page(session: requests.Session, token: str, cookie: str, base: str, ids: dict, floor: dict,
                 page: tuple) -> dict:
    """One page under load, then with one client. Raises PageFailed with the reason it could not be measured."""
    name, method, path, form, htmx = page
    url = base + path.format(**ids)
    if form:
        probe_path, probe_body = Path(TAPS_FILE).read_text().splitlines()[-1].split("\t")
        url, form = base + probe_path, dict(pair.split("=", 1) for pair in probe_body.split("&"))
    try:
        probe = session.request(method, url, data=form, timeout=60,
                                headers={"X-CSRFToken": token, **({"HX-Request": "true"} if htmx else {})})
    except requests.RequestException as exc:
        raise PageFailed(f"{method} {path} did not answer ({type(exc).__name__})") from exc
    if name in EXPECTED_STATUS:
        if probe.status_code != EXPECTED_STATUS[name]:
            raise PageFailed(f"{method} {path} answered {probe.status_code}")
    elif probe.status_code >= 400 or (probe.status_code >= 300 and method == "GET"):
        raise PageFailed(f"{method} {path} answered {probe.status_code}")
    # The User-Agent the person signed in with, as a browser sends it: Flask-Login's session protection marks a
    # session not fresh when it changes, which re-signs the cookie on every request of a run (wrk sends the same
    # cookie throughout), a cost no real user pays (about 30 % of a signed-in 404's time, py-spy on one worker).
    extra = {"BENCH_COOKIE": cookie, "BENCH_METHOD": method, "BENCH_USER_AGENT": session.headers["User-Agent"]}
    if form:
        extra.update(BENCH_BODY=urlencode(form), BENCH_CSRF=token, BENCH_TAPS=TAPS_FILE)
    if htmx:
        extra["BENCH_HTMX"] = "1"
    drain(base)
    started_load = load()[0]
    result = wrk(url, **extra)
    result["load_1m"] = max(started_load, load()[0])
    drain(base)
    # the same page with one client at a time: the cost of one request, without queueing
    result["one_client"] = wrk(url, connections=1, seconds="5", **extra, BENCH_TAP_OFFSET=str(TAPS // 2))
    result["vs_minimal_p95"] = round(result["p95_ms"] / max(floor["p95_ms"], 0.01), 1)
    result["throughput_vs_minimal"] = round(result["rps"] / floor["rps"], 3)
    return result


class PageFailed(Exception):
    pass


def main() -> int:
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    report: dict = {"load": {"start": load(), "cpus": os.cpu_count(), "when": time.strftime("%Y-%m-%d %H:%M %Z")},
                    "dataset": ensure_dataset(), "connections": CONNECTIONS, "seconds_per_run": int(DURATION)}
    ids = targets()
    floor_proc, floor_base = serve("bench.minimal:app")
    try:
        report["minimal_endpoint"] = wrk(floor_base + "/")
        report["minimal_endpoint"]["load_1m"] = load()[0]
    finally:
        floor_proc.terminate()
        floor_proc.wait()
    start_fakes()
    app_proc, base = serve("wsgi:app")
    pages: dict = {}
    try:
        session, token = sign_in(base, "tm.s01")
        for page in PAGES:
            if ONLY and page[0] not in ONLY:
                continue
            # Signed in afresh for each page, as wrk sends one cookie for a whole run: a cookie whose "last seen"
            # is over a minute old is signed again on every request it comes with (a browser would take the new
            # one at once), a cost no real user pays on every page. A page's two runs take well under a minute.
            session, token = sign_in(base, "tm.s01")
            cookie = "session=" + session.cookies.get("session")
            try:
                pages[page[0]] = measure_page(session, token, cookie, base, ids, report["minimal_endpoint"], page)
            except (PageFailed, subprocess.CalledProcessError, ValueError, IndexError) as exc:
                reason = str(exc) if isinstance(exc, PageFailed) else f"{type(exc).__name__}: {exc}"
                pages[page[0]] = {"error": reason[:200], "load_1m": load()[0]}
        try:
            last_tap = Path(TAPS_FILE).read_text().splitlines()[-2]  # never used by wrk above
            tap_path, tap_body = last_tap.split("\t")
            partial = session.post(base + tap_path, data=tap_body,
                                   headers={"X-CSRFToken": token, "HX-Request": "true",
                                            "Content-Type": "application/x-www-form-urlencoded"})
            report["attendance_tap_status"] = partial.status_code
            full = session.get(base + PAGES[0][2].format(**ids))
            report["attendance_tap_bytes"] = {"htmx_partial": len(partial.content), "full_page": len(full.content)}
        except (OSError, IndexError, ValueError, requests.RequestException) as exc:
            report["attendance_tap_bytes"] = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        app_proc.terminate()
        app_proc.wait()
    report["pages"] = pages
    if WITH_TIMINGS:
        report.update(timings())
    report["load"]["end"] = load()
    text = json.dumps(report, indent=2)
    print(text)
    if OUTPUT:
        Path(OUTPUT).parent.mkdir(parents=True, exist_ok=True)
        Path(OUTPUT).write_text(text + "\n")
    return 0

if __name__ == "__main__":
    sys.exit(main())
