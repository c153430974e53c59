"""nDelius sync figures (issue 5; RELIABILITY L3): prints one JSON object.

* the outbox drain rate: a 12-person group's 324 appointments created against the fake nDelius answering at once;
* a full cascade: every one of those appointments moved a week (324 updates) against the fake at 200 ms a call,
  with the time it takes and the peak number of calls in flight (L3: < 5 min, <= 2 at once).

Runs on its own database (BENCH_NDELIUS_DATABASE_URL; default a fresh PostgreSQL database pd_bench_ndelius,
dropped afterwards; `sqlite:///...` works too) and Redis db (BENCH_NDELIUS_REDIS_URL, default db 10)."""
from __future__ import annotations

import json
import os
import sys
import time
from datetime import time as dtime
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN = os.environ.get("BENCH_POSTGRES_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DB_NAME = "pd_bench_ndelius"
DB_URL = os.environ.get("BENCH_NDELIUS_DATABASE_URL", PG_ADMIN.rsplit("/", 1)[0] + f"/{DB_NAME}")
REDIS_URL = os.environ.get("BENCH_NDELIUS_REDIS_URL", "redis://127.0.0.1:6379/10")
LATENCY_MS = int(os.environ.get("BENCH_NDELIUS_LATENCY_MS", "200"))
PEOPLE = 12


def _admin(sql: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


def main() -> int:
    from flask_migrate import upgrade
    from sqlalchemy import select

    from app import clock, create_app
    from app.extensions import db
    from app.models import NDeliusAppointment, Session
    from app.scheduling import Slot
    from app.services import ndelius_sync, outbox
    from tests.factories import World
    from tests.fakes.ndelius import start_fake_ndelius

    postgres = DB_URL.startswith("postgresql")
    if postgres:
        _admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        _admin(f'CREATE DATABASE "{DB_NAME}"')
    fake = start_fake_ndelius()
    app = create_app({"SQLALCHEMY_DATABASE_URI": DB_URL, "SQLALCHEMY_ENGINE_OPTIONS": {}, "REDIS_URL": REDIS_URL,
                      "NDELIUS_URL": fake.url, "HMPPS_AUTH_URL": fake.token_url, "LOG_LEVEL": "WARNING"})
    figures: dict = {"database": "postgresql" if postgres else "sqlite", "people": PEOPLE,
                     "concurrency": app.config["NDELIUS_CONCURRENCY"]}
    try:
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
            from redis import Redis

            Redis.from_url(REDIS_URL).delete("circuit:ndelius")
            world = World()
            region = world.region("BN", "Bench")
            manager = world.user(region, "treatment_manager", "tm.bench")
            people = tuple(world.referral(region) for _ in range(PEOPLE))
            group = world.group(manager, "BENCH", start=clock.today() + timedelta(days=14),
                                slots=(Slot(0, dtime(10)),), members=people)
            world.started(group, manager)
            appointments = db.session.scalar(select(db.func.count(NDeliusAppointment.id)))
            figures["appointments"] = appointments

            started = time.monotonic()
            created = ndelius_sync.drain()
            seconds = time.monotonic() - started
            figures["drain"] = {"created": created.created, "seconds": round(seconds, 2),
                                "per_second": round(created.created / seconds, 1), "latency_ms": 0}

            for session in db.session.scalars(select(Session).where(Session.group_id == group.id)):
                session.starts_at += timedelta(days=7)
                session.ends_at += timedelta(days=7)
            for appointment in db.session.scalars(select(NDeliusAppointment)):
                outbox.appointment_changed(appointment)
            db.session.commit()
            fake.set(latency_ms=LATENCY_MS)
            fake.peak_concurrency = 0
            started = time.monotonic()
            cascade = ndelius_sync.drain()
            seconds = time.monotonic() - started
            figures["cascade"] = {"updated": cascade.updated, "seconds": round(seconds, 1),
                                  "per_second": round(cascade.updated / seconds, 1), "latency_ms": LATENCY_MS,
                                  "peak_concurrency": fake.peak_concurrency,
                                  "needs_attention": cascade.needs_attention, "retrying": cascade.retrying}
            figures["ndelius_holds_one_each"] = (
                len(fake.appointments) == appointments and not fake.duplicates)
            db.session.remove()
            db.engine.dispose()
    finally:
        fake.stop()
        if postgres:
            _admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    print(json.dumps({"ndelius_sync": figures}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
