"""Stored progress cannot drift (issue 12.7): two saves for one person at the same moment, on PostgreSQL, in
real threads with their own connections, leave the stored progress equal to a full recomputation; a
unique-violation on a completion is not shown as someone else's edit."""
from __future__ import annotations

import threading
from datetime import date, datetime, time

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from app import clock
from app.extensions import db
from app.models import Attendee, ReferralProgress, Session, TemplateCompletion, User
from app.services import attendance, catch_ups, progress
from app.services.attendance import RowInput


@pytest.fixture
def person_with_two_rows(app, world):  # type: ignore[no-untyped-def]
    """Alex, in a started group; "Did not attend" recorded at 2.1, and a catch-up of 2.1 booked."""
    region = world.region()
    manager = world.user(region, "treatment_manager")
    alex = world.referral(region, "Alex Able")
    group = world.started(world.group(manager, members=(alex,)), manager)
    sessions = db.session.scalars(select(Session).where(Session.group_id == group.id)
                                  .order_by(Session.starts_at)).all()
    clock.freeze(datetime(2026, 4, 14, 9))
    intro = sessions[1]  # 2.1, Monday 13 April
    attendance.record(manager, intro.attendees[0], outcome="UAAB", seen_version=None)
    db.session.commit()
    catch_up = catch_ups.schedule(manager, intro, referral_ids=[alex.id], on=date(2026, 4, 15), at=time(14),
                                  facilitator_id=intro.lead_facilitator.id)
    clock.freeze(datetime(2026, 4, 21, 12))  # 1.1 (pre-group), 2.1, its catch-up and 2.2 have happened
    rows = {
        "original 2.1": intro.attendees[0], "catch-up 2.1": catch_up.attendees[0],
        "pre-group 1.1": sessions[0].attendees[0], "2.2": sessions[2].attendees[0],
    }
    return manager, alex, {name: (row.id, row.attendance.version if row.attendance else None)
                           for name, row in rows.items()}


def _race(app, manager_id: int, saves: list[tuple[int, int | None]]) -> list[object]:  # type: ignore[no-untyped-def]
    """Each save in its own thread and connection; all of them wait until every one has written its attendance
    row, then go on at once (the moment two saves for one person overlap)."""
    barrier = threading.Barrier(len(saves), timeout=20)
    waited = threading.local()

    def after_attendance_write(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith(("INSERT INTO ATTENDANCE ", "UPDATE ATTENDANCE ")) and \
                not getattr(waited, "done", False):
            waited.done = True
            barrier.wait()

    results: list[object] = [None] * len(saves)

    def save(i: int, attendee_id: int, version: int | None) -> None:
        with app.app_context():
            try:
                actor = db.session.get(User, manager_id)
                attendee = db.session.get(Attendee, attendee_id)
                results[i] = attendance.save_row(actor, attendee, RowInput("ATTC"), seen_version=version, key=None)
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                results[i] = exc
            finally:
                db.session.remove()

    event.listen(db.engine, "after_cursor_execute", after_attendance_write)
    try:
        threads = [threading.Thread(target=save, args=(i, *s)) for i, s in enumerate(saves)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        event.remove(db.engine, "after_cursor_execute", after_attendance_write)
    return results


@pytest.mark.parametrize("rows", [
    ("original 2.1", "catch-up 2.1"),  # one completion, claimed by both
    ("pre-group 1.1", "2.2"),  # two completions and two outcome counts
])
def test_two_saves_for_one_person_at_once_leave_progress_equal_to_a_recomputation(app, person_with_two_rows, rows):  # type: ignore[no-untyped-def]
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers: SQLite runs one write transaction at a time (BEGIN IMMEDIATE)")
    manager, alex, ids = person_with_two_rows
    manager_id, alex_id = manager.id, alex.id
    db.session.commit()

    results = _race(app, manager_id, [ids[name] for name in rows])

    assert results == ["saved", "saved"]  # neither was told someone else had changed their row
    db.session.expire_all()
    assert progress.verify() == []
    stored = db.session.get(ReferralProgress, alex_id)
    expected = 1 if rows[0] == "original 2.1" else 2
    assert (stored.sessions_completed, stored.outcomes_complied) == (expected, 2)
    assert len(db.session.scalars(select(TemplateCompletion).filter_by(referral_id=alex_id)).all()) == expected


def test_a_conflict_on_a_completion_is_tried_again_not_shown_as_someone_elses_edit(app, person_with_two_rows,  # type: ignore[no-untyped-def]
                                                                                   monkeypatch):
    manager, alex, ids = person_with_two_rows
    attendee_id, version = ids["2.2"]
    original = progress.attendee_changed
    calls = {"n": 0}

    def conflicting_once(attendee, record):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise IntegrityError("INSERT INTO template_completion", {}, Exception("uq_template_completion"))
        return original(attendee, record)

    monkeypatch.setattr(progress, "attendee_changed", conflicting_once)
    result = attendance.save_row(manager, db.session.get(Attendee, attendee_id), RowInput("ATTC"),
                                 seen_version=version, key="tap-1")
    assert result == "saved" and calls["n"] == 2
    assert db.session.get(ReferralProgress, alex.id).sessions_completed == 1
    assert progress.verify() == []


def _completion_always_recorded_meanwhile(monkeypatch, calls):  # type: ignore[no-untyped-def]
    """Every save loses the race for the completion: the database itself refuses a second TemplateCompletion of
    the same session template (as when another register's save commits one at the same moment)."""
    original = progress.attendee_changed

    def racing(attendee, record):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        for _ in range(2):
            db.session.add(TemplateCompletion(referral_id=attendee.referral_id, attendee_id=attendee.id,
                                              session_template_id=attendee.session.session_template_id))
        db.session.flush()
        return original(attendee, record)  # pragma: no cover - the flush above always fails

    monkeypatch.setattr(progress, "attendee_changed", racing)


def test_losing_the_race_for_a_completion_twice_is_not_shown_as_someone_elses_edit(app, person_with_two_rows,  # type: ignore[no-untyped-def]
                                                                                   monkeypatch):
    manager, _, ids = person_with_two_rows
    attendee_id, version = ids["2.2"]
    calls = {"n": 0}
    _completion_always_recorded_meanwhile(monkeypatch, calls)

    with pytest.raises(attendance.SavedAtTheSameMoment) as refused:
        attendance.save_row(manager, db.session.get(Attendee, attendee_id), RowInput("ATTC"),
                            seen_version=version, key="tap-2")

    assert not isinstance(refused.value, attendance.StaleAttendance) and calls["n"] == 2
    assert refused.value.field == "outcome"
    assert refused.value.message == ("2.2 was recorded as complete for Alex Able from another register at the same "
                                     "moment (their progress already shows it). Nobody changed this row: save it "
                                     "again.")
    db.session.expire_all()
    assert db.session.get(Attendee, attendee_id).attendance is None  # nothing written
    monkeypatch.undo()
    assert attendance.save_row(manager, db.session.get(Attendee, attendee_id), RowInput("ATTC"),
                               seen_version=version, key="tap-2") == "saved"  # saving again works, same key
    assert progress.verify() == []
