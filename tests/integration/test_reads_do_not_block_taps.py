"""Issue 16.2: page reads do not take the write lock. Twenty people have the register open, each request stopped
half-way through reading it (inside its transaction); a facilitator's tap is saved and answered while all twenty
are still reading. On SQLite only a transaction that may write begins with BEGIN IMMEDIATE: had the reads taken
the write lock, the second reader could not even begin and the tap would wait behind them."""
from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import event, select

from app import clock, create_app
from app.extensions import db
from app.models import Attendance, Session
from tests.conftest import Browser

READERS = 20
FIRST_GROUP_SESSION = datetime(2026, 4, 13, 10)


def test_twenty_page_reads_under_way_do_not_delay_a_tap(app, world):  # type: ignore[no-untyped-def]
    region = world.region("NW", "North West")
    lead = world.facilitator(region, "Fran Lead")
    manager = world.user(region, "treatment_manager", "tm.nw")
    world.user(region, "facilitator", "fac.lead", facilitator=lead)
    for n in range(READERS):
        world.user(region, "lead", f"lead.{n}")
    people = tuple(world.referral(region, name) for name in ("Alex Able", "Billie Brown", "Charlie Cole"))
    group = world.started(world.group(manager, "BC1", lead=lead, members=people), manager)
    clock.freeze(FIRST_GROUP_SESSION.replace(hour=11))
    session = db.session.scalar(select(Session).where(Session.group_id == group.id,
                                                      Session.starts_at == FIRST_GROUP_SESSION))
    attendee = next(a for a in session.attendees if a.referral.person_name == "Alex Able")
    session_id, attendee_id = session.id, attendee.id
    db.session.commit()

    # The same database served with a pool big enough for every request at once (as many server processes).
    # Nothing kept (REGION_CACHE_SECONDS=0): each of the twenty reads the register from the database.
    server = create_app({**app.config, "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": READERS + 5},
                         "REGION_CACHE_SECONDS": 0})
    readers = [Browser(server, server.test_client()) for _ in range(READERS)]
    for n, reader in enumerate(readers):
        reader.sign_in(f"lead.{n}")
    facilitator = Browser(server, server.test_client())
    facilitator.sign_in("fac.lead")
    facilitator.get(f"/sessions/{session_id}")

    reading = threading.local()
    inside = threading.Condition()
    under_way: list[int] = []
    finish_reading = threading.Event()

    def pause_half_way(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        """A reader stops after its first query of the page (its transaction has begun and read)."""
        if getattr(reading, "n", None) is not None and not reading.paused and "FROM programme_session" in statement:
            reading.paused = True
            with inside:
                under_way.append(reading.n)
                inside.notify_all()
            finish_reading.wait(timeout=120)

    answers: dict[int, int] = {}

    def read(n: int) -> None:
        reading.n, reading.paused = n, False
        with server.app_context():
            answers[n] = readers[n].client.get(f"/sessions/{session_id}").status_code

    with server.app_context():
        engine = db.engine
    event.listen(engine, "after_cursor_execute", pause_half_way)
    threads = [threading.Thread(target=read, args=(n,), daemon=True) for n in range(READERS)]
    try:
        for thread in threads:
            thread.start()
        with inside:
            inside.wait_for(lambda: len(under_way) == READERS, timeout=60)
        assert len(under_way) == READERS, f"only {len(under_way)} of {READERS} page reads could be under way at once"

        tap = facilitator.post(f"/sessions/{session_id}/attendees/{attendee_id}",
                               {"version": "", "current_outcome": "", "outcome": "ATTC", "idempotency_key": "k-1"},
                               htmx=True)
        still_reading = READERS - len(answers)
    finally:
        finish_reading.set()
        for thread in threads:
            thread.join(timeout=60)
        event.remove(engine, "after_cursor_execute", pause_half_way)
        with server.app_context():
            db.session.remove()
            db.engine.dispose()

    assert tap.status_code == 200 and "Saved for Alex Able" in tap.data.decode()
    assert still_reading == READERS  # the tap was answered while every read was still under way
    assert db.session.scalar(select(Attendance.outcome).filter_by(attendee_id=attendee_id)) == "ATTC"
    assert sorted(answers.values()) == [200] * READERS
