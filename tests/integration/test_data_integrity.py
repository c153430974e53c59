"""RELIABILITY §D: SQLite safety under concurrency, atomic operations, wall-clock times across clock changes."""
from __future__ import annotations

import threading
import uuid
from datetime import date, time

import pytest
from sqlalchemy import func, select, text

from app.extensions import db
from app.integrations.ndelius import build_appointment
from app.models import Attendance, Attendee, AuditEvent, OutboxItem, Session, User
from app.scheduling import Slot
from app.services import attendance


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(app):  # type: ignore[no-untyped-def]
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite settings")
    assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert db.session.execute(text("PRAGMA busy_timeout")).scalar() >= 5000


def test_concurrent_attendance_writers_lose_nothing(app, world):  # type: ignore[no-untyped-def]
    region = world.region()
    manager = world.user(region, "treatment_manager")
    people = tuple(world.referral(region) for _ in range(15))
    group = world.started(world.group(manager, members=people), manager)
    attendee_ids = db.session.scalars(select(Attendee.id).join(Session).where(Session.group_id == group.id)
                                      .order_by(Attendee.id)).all()[:400]
    manager_id = manager.id
    db.session.commit()  # end this test's own transaction: on SQLite it would hold the write lock
    errors: list[BaseException] = []

    def writer(chunk: list[int]) -> None:
        with app.app_context():
            try:
                actor = db.session.get(User, manager_id)
                for attendee_id in chunk:
                    attendance.record(actor, db.session.get(Attendee, attendee_id), outcome="ATTC",
                                      seen_version=None)
                    db.session.commit()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    def reader(stop: threading.Event) -> None:
        # A reader is a page render (a GET): its transactions begin deferred and never take the write lock.
        with app.test_request_context("/groups", method="GET"):
            while not stop.is_set():
                db.session.scalar(select(func.count(Attendance.id)))
                db.session.rollback()
            db.session.remove()

    stop = threading.Event()
    readers = [threading.Thread(target=reader, args=(stop,)) for _ in range(2)]
    writers = [threading.Thread(target=writer, args=(attendee_ids[i::8],)) for i in range(8)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert errors == []
    assert db.session.scalar(select(func.count(Attendance.id))) == len(attendee_ids)


def test_a_failure_part_way_through_a_generation_leaves_no_trace(app, world, monkeypatch):  # type: ignore[no-untyped-def]
    from app.services import outbox, schedule

    region = world.region()
    manager = world.user(region, "treatment_manager")
    group = world.group(manager, members=(world.referral(region),))
    calls = {"n": 0}
    original = outbox.appointments_created

    def failing(attendees):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 10:
            raise RuntimeError("worker lost its database half-way")
        original(attendees)

    monkeypatch.setattr(outbox, "appointments_created", failing)
    audit_before = db.session.scalar(select(func.count(AuditEvent.id)))
    with pytest.raises(RuntimeError):
        world.started(group, manager)
    assert db.session.scalar(select(func.count(Session.id))) == 0
    assert db.session.scalar(select(func.count(OutboxItem.id))) == 0
    assert db.session.scalar(select(func.count(AuditEvent.id))) == audit_before
    assert schedule.latest_operation(group.id, ("generate",)).status == "failed"


@pytest.mark.parametrize("start, slot, change", [
    (date(2026, 3, 16), Slot(0, time(10)), date(2026, 3, 29)),    # clocks go forward
    (date(2026, 10, 12), Slot(0, time(10)), date(2026, 10, 25)),  # clocks go back
])
def test_sessions_keep_their_wall_clock_time_across_clock_changes(app, world, start, slot, change):  # type: ignore[no-untyped-def]
    region = world.region()
    manager = world.user(region, "treatment_manager")
    group = world.started(world.group(manager, start=start, slots=(slot,)), manager)
    starts = db.session.scalars(select(Session.starts_at).where(Session.group_id == group.id)).all()
    assert {s.time() for s in starts} == {slot.start}
    before_change = max(s for s in starts if s.date() < change)
    after_change = min(s for s in starts if s.date() > change)
    assert before_change.time() == after_change.time() == time(10)
    payload = build_appointment(reference_uuid=uuid.uuid4(), requirement_id=1, licence_condition_id=None,
                                starts_at=after_change, ends_at=after_change.replace(hour=11),
                                module_role=None, staff_code="S1", team_code="T1", outcome_code="ATTC")
    assert payload["date"] == after_change.date().isoformat() and payload["startTime"] == "10:00"


def test_saving_a_row_with_no_outcome_keeps_the_stored_counts_at_zero(app, world):  # type: ignore[no-untyped-def]
    from app.models import ReferralProgress

    region = world.region()
    manager = world.user(region, "treatment_manager")
    person = world.referral(region)
    group = world.started(world.group(manager, members=(person,)), manager)
    attendee = db.session.scalars(select(Attendee).join(Session).where(Session.group_id == group.id)).first()
    attendance.record(manager, attendee, outcome=None, arrived_at=time(10, 5), seen_version=None)
    db.session.commit()
    stored = db.session.get(ReferralProgress, person.id)
    assert (stored.outcomes_recorded, stored.outcomes_attended, stored.outcomes_complied) == (0, 0, 0)
