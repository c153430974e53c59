"""nDelius figures (issue 16 items 3-4; RELIABILITY L3): prints one JSON object, with "table_rows" for
scripts/bench_report.py.

* demo data: every appointment of `flask demo seed` sent, and how many calls that took (target: fewer than a
  tenth as many calls as appointments);
* the outbox drain: a 12-person group's 324 appointments created against the fake nDelius answering at once;
* a full cascade: every one of those appointments moved a week (324 updates) against the fake at 200 ms a call,
  with the time it takes and the peak number of calls in flight (targets: < 10 s, <= 2 at once);
* reconciliation of the national dataset (`flask demo scale --groups 5000`, in PostgreSQL database
  BENCH_NDELIUS_SCALE_DATABASE, default pd_bench_ndelius_scale: built once - several minutes - and reused;
  every attendee given a synced nDelius appointment, and the fake seeded with them, a little drift added)
  against the fake answering at once: `flask ndelius reconcile` in a process of its own, its wall time and
  peak memory (targets: < 2 min, < 300 MB).

The drain and cascade run on a database of their own (BENCH_NDELIUS_DATABASE_URL; default a fresh PostgreSQL
database pd_bench_ndelius, dropped afterwards; `sqlite:///...` works too) and Redis db (BENCH_NDELIUS_REDIS_URL,
default db 10)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import time as dtime
from datetime import timedelta
from pathlib import Path

os.environ.setdefault("DEMO_MODE", "true")  # a local run: a development SECRET_KEY will do

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN = os.environ.get("BENCH_POSTGRES_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DB_NAME = "pd_bench_ndelius"
DB_URL = os.environ.get("BENCH_NDELIUS_DATABASE_URL", PG_ADMIN.rsplit("/", 1)[0] + f"/{DB_NAME}")
SCALE_DB = os.environ.get("BENCH_NDELIUS_SCALE_DATABASE", "pd_bench_ndelius_scale")
SCALE_URL = PG_ADMIN.rsplit("/", 1)[0] + f"/{SCALE_DB}"
SCALE_GROUPS = int(os.environ.get("BENCH_GROUPS", "5000"))
REDIS_URL = os.environ.get("BENCH_NDELIUS_REDIS_URL", "redis://127.0.0.1:6379/10")
LATENCY_MS = int(os.environ.get("BENCH_NDELIUS_LATENCY_MS", "200"))
PEOPLE = 12
DRIFT_EVERY = 997  # one seeded appointment in this many is changed in the fake (staff code), one more missing


def _admin(sql: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def relay_figures(fake) -> dict:  # type: ignore[no-untyped-def]
    from flask_migrate import upgrade
    from sqlalchemy import select

    from app import clock, create_app, demo
    from app.extensions import db
    from app.models import NDeliusAppointment, Session
    from app.scheduling import Slot
    from app.services import ndelius_sync, outbox
    from tests.factories import World

    postgres = DB_URL.startswith("postgresql")
    if postgres:
        _admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        _admin(f'CREATE DATABASE "{DB_NAME}"')
    app = create_app({"SQLALCHEMY_DATABASE_URI": DB_URL, "SQLALCHEMY_ENGINE_OPTIONS": {}, "REDIS_URL": REDIS_URL,
                      "NDELIUS_URL": fake.url, "HMPPS_AUTH_URL": fake.url, "LOG_LEVEL": "WARNING"})
    figures: dict = {"database": "postgresql" if postgres else "sqlite", "people": PEOPLE,
                     "concurrency": app.config["NDELIUS_CONCURRENCY"], "batch_size": app.config["NDELIUS_BATCH_SIZE"]}
    try:
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
            from redis import Redis

            Redis.from_url(REDIS_URL).delete("circuit:ndelius")
            demo.seed()
            held = db.session.scalar(select(db.func.count(NDeliusAppointment.id)))
            sent = ndelius_sync.drain()
            figures["demo"] = {"appointments": held, "calls": sent.calls, "created": sent.created,
                               "needs_attention": sent.needs_attention, "seconds": sent.seconds, "load": _load()}
            before = held

            world = World()
            region = world.region("BN", "Bench")
            manager = world.user(region, "treatment_manager", "tm.bench")
            people = tuple(world.referral(region) for _ in range(PEOPLE))
            group = world.group(manager, "BENCH", start=clock.today() + timedelta(days=14),
                                slots=(Slot(0, dtime(10)),), members=people)
            world.started(group, manager)
            appointments = db.session.scalar(select(db.func.count(NDeliusAppointment.id))) - before
            figures["appointments"] = appointments

            started = time.monotonic()
            created = ndelius_sync.drain()
            seconds = time.monotonic() - started
            figures["drain"] = {"created": created.created, "calls": created.calls, "seconds": round(seconds, 2),
                                "per_second": round(created.created / seconds, 1), "latency_ms": 0}

            for session in db.session.scalars(select(Session).where(Session.group_id == group.id)):
                session.starts_at += timedelta(days=7)
                session.ends_at += timedelta(days=7)
            for appointment in db.session.scalars(select(NDeliusAppointment).join(NDeliusAppointment.attendee)
                                                  .join(Session).where(Session.group_id == group.id)):
                outbox.appointment_changed(appointment)
            db.session.commit()
            fake.set(latency_ms=LATENCY_MS)
            fake.peak_concurrency = 0
            started = time.monotonic()
            cascade = ndelius_sync.drain()
            seconds = time.monotonic() - started
            fake.set(latency_ms=0)
            figures["cascade"] = {"updated": cascade.updated, "calls": cascade.calls, "seconds": round(seconds, 2),
                                  "per_second": round(cascade.updated / seconds, 1), "latency_ms": LATENCY_MS,
                                  "peak_concurrency": fake.peak_concurrency,
                                  "needs_attention": cascade.needs_attention, "retrying": cascade.retrying,
                                  "load": _load()}
            figures["ndelius_holds_one_each"] = (
                not fake.duplicates and all(n == 1 for n in fake.created_per_reference.values()))
            db.session.remove()
            db.engine.dispose()
    finally:
        if postgres:
            _admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    return figures


def _scale_env(fake) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return dict(os.environ, DATABASE_URL=SCALE_URL, REDIS_URL=REDIS_URL, FLASK_APP="wsgi.py", LOG_LEVEL="WARNING",
                NDELIUS_URL=fake.url, HMPPS_AUTH_URL=fake.token_url, SECRET_KEY="bench")


def _flask(fake, *args: str) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    return subprocess.run([sys.executable, "-m", "flask", *args], cwd=ROOT, env=_scale_env(fake),
                          capture_output=True, text=True, check=False)


def ensure_scale_dataset(fake) -> dict:  # type: ignore[no-untyped-def]
    """The national dataset in its own database (built once), with a synced appointment for every attendee."""
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": SCALE_DB}).scalar():
            conn.execute(text(f'CREATE DATABASE "{SCALE_DB}"'))
    engine.dispose()
    upgraded = _flask(fake, "db", "upgrade")
    if upgraded.returncode:
        raise SystemExit(upgraded.stderr)
    started = time.monotonic()
    built = _flask(fake, "demo", "scale", "--groups", str(SCALE_GROUPS))
    if built.returncode and "already there" not in built.stderr:
        raise SystemExit(built.stderr)
    report = {"built": built.returncode == 0, "seconds": round(time.monotonic() - started, 1)}
    engine = create_engine(SCALE_URL)
    added = 0
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE ndelius_appointment"))
        last = conn.execute(text("SELECT coalesce(max(id), 0) FROM attendee")).scalar()
        for start in range(0, last, 100_000):  # in slices: one statement of 1.5 M rows has the planner guess badly
            added += conn.execute(text(
                "INSERT INTO ndelius_appointment (attendee_id, reference, sync_state, remote_state, last_synced_at) "
                "SELECT a.id, gen_random_uuid(), 'synced', 'present', now() FROM attendee a "
                "WHERE a.id > :start AND a.id <= :end "
                "AND NOT EXISTS (SELECT 1 FROM ndelius_appointment n WHERE n.attendee_id = a.id)"),
                {"start": start, "end": start + 100_000}).rowcount
        if added:
            conn.execute(text("VACUUM ANALYZE ndelius_appointment"))
        conn.execute(text("DELETE FROM ndelius_disagreement"))
        conn.execute(text("DELETE FROM ndelius_reconciliation"))
    report["appointments_added"] = added
    engine.dispose()
    return report


def seed_fake_with_the_window(fake) -> dict:  # type: ignore[no-untyped-def]
    """What nDelius would hold for every appointment reconciliation looks at, with some drift."""
    from app import clock, create_app
    from app.services.ndelius_plan import NeedsPerson, expected_payload
    from app.services.ndelius_reconcile import PAGE, _held, _pages

    app = create_app({"SQLALCHEMY_DATABASE_URI": SCALE_URL, "SQLALCHEMY_ENGINE_OPTIONS": {}, "LOG_LEVEL": "WARNING"})
    seeded = changed = missing = 0
    with app.app_context():
        window_start = clock.today() - timedelta(days=app.config["NDELIUS_RECONCILE_DAYS_BACK"])
        n = 0
        for people in _pages(window_start, None, PAGE):
            batch = []
            for row in _held(window_start, [p.id for p in people]):
                n += 1
                try:
                    item = expected_payload(
                        reference=row.reference, requirement_id=row.requirement_id,
                        licence_condition_id=row.licence_condition_id, starts_at=row.starts_at,
                        ends_at=row.ends_at, module_role=row.module_role, staff_code=row.staff_code,
                        team_code=row.team_code, location_code=row.location_code, outcome_code=row.outcome)
                except NeedsPerson:
                    continue
                if n % DRIFT_EVERY == 0:
                    item["staff"] = {"code": "DRIFT1"}
                    changed += 1
                elif n % DRIFT_EVERY == 1:
                    missing += 1
                    continue
                batch.append(item)
            fake.seed(*batch)
            seeded += len(batch)
        from app.extensions import db

        db.session.remove()
        db.engine.dispose()
    return {"seeded": seeded, "changed": changed, "missing": missing}


# Runs one command and reports its peak memory: the wrapper's only child is the command, so RUSAGE_CHILDREN is
# that command's own peak resident set (kB on Linux).
PEAK_OF = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
           "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
           "sys.exit(r.returncode)")


def reconciliation_figures(fake) -> dict:  # type: ignore[no-untyped-def]
    figures: dict = {"dataset": ensure_scale_dataset(fake), "groups": SCALE_GROUPS}
    fake.reset()
    figures["fake"] = seed_fake_with_the_window(fake)
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-c", PEAK_OF, sys.executable, "-m", "flask", "ndelius", "reconcile"],
                         cwd=ROOT, env=_scale_env(fake), capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    peak = [line.split()[1] for line in run.stderr.splitlines() if line.startswith("PEAK_KB")]
    figures.update(seconds=round(seconds, 1), exit_code=run.returncode,
                   output=(run.stdout.strip() + " " + run.stderr.replace("PEAK_KB", "").strip())[-400:],
                   searches=len(fake.api_calls("POST", "/appointments/search")), load=_load(),
                   peak_mb=round(int(peak[0]) / 1024, 1) if peak else None)
    return figures


def table_rows(figures: dict) -> list[dict]:
    rows = []
    demo = figures.get("relay", {}).get("demo")
    if demo:
        rows.append({"name": "nDelius: demo data sync, calls", "value": f"{demo['calls']} for {demo['appointments']}",
                     "target": "< 1/10 as many as appointments",
                     "met": demo["calls"] * 10 < demo["appointments"], "load": demo.get("load")})
    cascade = figures.get("relay", {}).get("cascade")
    if cascade:
        rows.append({"name": f"nDelius: 12-person cascade ({cascade['updated']} updates, {cascade['latency_ms']} ms "
                             f"a call, {cascade['calls']} calls)", "value": f"{cascade['seconds']} s",
                     "target": "< 10 s", "met": cascade["seconds"] < 10 and cascade["updated"] == 324,
                     "load": cascade.get("load")})
        rows.append({"name": "nDelius: cascade calls in flight at most", "value": cascade["peak_concurrency"],
                     "target": "≤ 2", "met": cascade["peak_concurrency"] <= 2, "load": cascade.get("load")})
    national = figures.get("reconciliation")
    if national and "error" not in national:
        ok = national["exit_code"] in (0, 1) and "Compared" in national["output"]
        rows.append({"name": f"reconciliation, national ({national['searches']} searches)",
                     "value": f"{national['seconds']} s", "target": "< 120 s", "met": ok and national["seconds"] < 120,
                     "load": national.get("load"), **({} if ok else {"note": national["output"][-120:]})})
        peak = national.get("peak_mb")
        rows.append({"name": "reconciliation, national: peak memory", "value": f"{peak} MB",
                     "target": "< 300 MB", "met": ok and peak is not None and peak < 300, "load": national.get("load")})
    elif national:
        rows.append({"name": "reconciliation, national", "value": "–", "target": "< 120 s", "met": False,
                     "note": national["error"][-120:]})
    return rows


def main() -> int:
    from tests.fakes.hmpps_auth import start_fake_hmpps_auth
    from tests.fakes.ndelius import start_fake_ndelius

    figures: dict = {"load": {"start": list(os.getloadavg()), "cpus": os.cpu_count(),
                              "when": time.strftime("%Y-%m-%d %H:%M %Z")}}
    auth = start_fake_hmpps_auth()
    fake = start_fake_ndelius()
    # the bench's staff sign in as in real life: HMPPS Auth knows them, nDelius has their teams (tests/factories)
    os.environ.update({"HMPPS_AUTH_URL": auth.url, "NDELIUS_URL": fake.url})
    try:
        figures["relay"] = relay_figures(fake)
        fake.reset()
        try:
            figures["reconciliation"] = reconciliation_figures(fake)
        except (SystemExit, Exception) as exc:  # noqa: BLE001 - the other figures still count
            figures["reconciliation"] = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        fake.stop()
        auth.stop()
    figures["load"]["end"] = list(os.getloadavg())
    figures["table_rows"] = table_rows(figures)
    print(json.dumps({"ndelius_sync": figures["relay"], "ndelius_reconciliation": figures["reconciliation"],
                      "table_rows": figures["table_rows"], "load": figures["load"]}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
