"""Attendance against a real database: completion per person across groups and catch-ups, stored progress
kept equal to a full recomputation (and `flask progress verify` catching any difference), referral status,
the nDelius outbox, and concurrent saves (no lost update, a repeated key applied once)."""
from __future__ import annotations

import threading
from datetime import date, datetime, time

import pytest
from sqlalchemy import func, select, update

from app import clock
from app.extensions import db
from app.models import (
    Attendance,
    AttendanceHistory,
    Attendee,
    Membership,
    OutboxItem,
    ProcessedRequest,
    Referral,
    ReferralProgress,
    Session,
    TemplateCompletion,
)
from app.models.base import utcnow
from app.services import attendance, catch_ups
from app.services.attendance import RowInput, StaleAttendance


@pytest.fixture
def setting(world):  # type: ignore[no-untyped-def]
    region = world.region()
    manager = world.user(region, "treatment_manager", "tm")
    people = (world.referral(region, "Alex Able"), world.referral(region, "Bea Best"))
    group = world.started(world.group(manager, "BC1", members=people), manager)
    sessions = list(db.session.scalars(select(Session).where(Session.group_id == group.id).order_by(Session.starts_at)))
    return {"region": region, "manager": manager, "group": group, "people": people, "sessions": sessions}


def _attendee(session: Session, referral: Referral) -> Attendee:
    return next(a for a in session.attendees if a.referral_id == referral.id)


def _record(manager, session, referral, outcome, **kwargs):  # type: ignore[no-untyped-def]
    attendee = _attendee(session, referral)
    current = attendee.attendance
    attendance.record(manager, attendee, outcome=outcome, seen_version=current.version if current else None, **kwargs)
    db.session.commit()
    return attendee


def _verify_cli(app) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    result = app.test_cli_runner().invoke(args=["progress", "verify"])
    return result.exit_code, result.output


def test_only_attended_and_complied_completes_and_progress_is_stored(app, setting):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 12, 31, 12))
    alex = setting["people"][0]
    first, second = setting["sessions"][0], setting["sessions"][1]
    _record(setting["manager"], first, alex, "ATTC")
    _record(setting["manager"], second, alex, "AFTC")
    stored = db.session.get(ReferralProgress, alex.id)
    assert (stored.sessions_completed, stored.sessions_total, stored.modules_completed, stored.percent) == (1, 27, 1, 3)
    assert not stored.complete
    assert _verify_cli(app) == (0, "Stored progress matches attendance.\n")


def test_a_catch_up_completes_the_missed_session_and_a_correction_falls_back(app, setting):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 4, 14, 9))
    alex = setting["people"][0]
    missed = setting["sessions"][1]
    _record(setting["manager"], missed, alex, "UAAB")
    catch_up = catch_ups.schedule(setting["manager"], missed, referral_ids=[alex.id], on=date(2026, 4, 15),
                                  at=time(14), facilitator_id=missed.lead_facilitator.id)
    clock.freeze(datetime(2026, 4, 15, 15))
    _record(setting["manager"], catch_up, alex, "ATTC")
    assert db.session.get(ReferralProgress, alex.id).sessions_completed == 1
    # The original is corrected to ATTC too, then the catch-up corrected to UAAB: the original still completes.
    _record(setting["manager"], missed, alex, "ATTC")
    _record(setting["manager"], catch_up, alex, "UAAB")
    completion = db.session.scalar(select(TemplateCompletion).filter_by(referral_id=alex.id))
    assert completion.attendee_id == _attendee(missed, alex).id
    _record(setting["manager"], missed, alex, "AAME")
    assert db.session.scalar(select(func.count(TemplateCompletion.id))) == 0
    assert db.session.get(ReferralProgress, alex.id).sessions_completed == 0
    assert _verify_cli(app)[0] == 0


def test_completion_carries_across_groups_of_the_same_programme(app, setting, world):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 5, 1, 9))
    alex = setting["people"][0]
    for session in setting["sessions"][:3]:
        _record(setting["manager"], session, alex, "ATTC")
    membership = db.session.scalar(select(Membership).filter_by(referral_id=alex.id))
    membership.left_at = utcnow()
    db.session.commit()
    second = world.started(world.group(setting["manager"], "BC2", start=date(2026, 3, 30), members=(alex,)),
                           setting["manager"])
    later = db.session.scalars(select(Session).where(Session.group_id == second.id).order_by(Session.starts_at)).all()
    _record(setting["manager"], later[3], alex, "ATTC")  # a template not done in the first group
    stored = db.session.get(ReferralProgress, alex.id)
    assert stored.sessions_completed == 4
    assert _verify_cli(app)[0] == 0


def test_status_moves_to_on_programme_then_programme_complete(app, setting):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2027, 3, 1, 9))
    alex = setting["people"][0]
    assert db.session.get(Referral, alex.id).status == "Scheduled"
    _record(setting["manager"], setting["sessions"][0], alex, "AFTC")
    assert db.session.get(Referral, alex.id).status == "On programme"
    for session in setting["sessions"]:
        _record(setting["manager"], session, alex, "ATTC")
    stored = db.session.get(ReferralProgress, alex.id)
    assert (stored.complete, stored.modules_completed, stored.percent) == (True, 7, 100)
    assert db.session.get(Referral, alex.id).status == "Programme complete"
    # A correction that undoes completion takes the status back.
    _record(setting["manager"], setting["sessions"][-1], alex, "UAAB")
    assert db.session.get(Referral, alex.id).status == "On programme"
    assert _verify_cli(app)[0] == 0


@pytest.mark.parametrize("tamper", ["percent", "modules", "complete", "sessions", "missing_completion",
                                    "extra_completion", "missing_progress"])
def test_progress_verify_exits_non_zero_on_any_tampered_row(app, setting, tamper):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 5, 1, 9))
    alex, bea = setting["people"]
    for session in setting["sessions"][:3]:
        _record(setting["manager"], session, alex, "ATTC")
    _record(setting["manager"], setting["sessions"][0], bea, "UAAB")
    assert _verify_cli(app)[0] == 0
    row = ReferralProgress.__table__
    if tamper == "percent":
        db.session.execute(update(row).where(row.c.referral_id == alex.id).values(percent=50))
    elif tamper == "modules":
        db.session.execute(update(row).where(row.c.referral_id == alex.id).values(modules_completed=0))
    elif tamper == "complete":
        db.session.execute(update(row).where(row.c.referral_id == alex.id).values(complete=True))
    elif tamper == "sessions":
        db.session.execute(update(row).where(row.c.referral_id == alex.id).values(sessions_completed=2))
    elif tamper == "missing_completion":
        db.session.delete(db.session.scalars(select(TemplateCompletion)).first())
    elif tamper == "extra_completion":
        db.session.add(TemplateCompletion(referral_id=bea.id, session_template_id=setting["sessions"][0].session_template_id,
                                          attendee_id=_attendee(setting["sessions"][0], bea).id))
    elif tamper == "missing_progress":
        db.session.delete(db.session.get(ReferralProgress, alex.id))
    db.session.commit()
    code, output = _verify_cli(app)
    assert code == 1, output
    assert "referral" in output


def test_an_outcome_change_writes_one_outbox_row_and_a_time_change_none(app, setting):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 4, 13, 12))
    alex = setting["people"][0]
    session = setting["sessions"][1]
    _record(setting["manager"], session, alex, "ATTC")
    _record(setting["manager"], session, alex, "ATTC", arrived_at=time(10, 5))
    _record(setting["manager"], session, alex, "ATTC", arrived_at=time(10, 5), notes="Good")
    updates = db.session.scalar(select(func.count(OutboxItem.id)).where(OutboxItem.action == "update"))
    assert updates == 2  # the outcome, then the notes; not the arrival time
    assert db.session.scalar(select(func.count(AttendanceHistory.id))) == 3


def _in_threads(app, *jobs):  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)

    def run(i, job):  # type: ignore[no-untyped-def]
        with app.app_context():
            barrier.wait()
            try:
                results[i] = job()
            except Exception as exc:  # noqa: BLE001 (the test inspects what each thread got)
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def _save_in_thread(attendee_id: int, manager_id: int, outcome: str, key: str | None):  # type: ignore[no-untyped-def]
    from app.models import User

    def job():  # type: ignore[no-untyped-def]
        attendee = db.session.get(Attendee, attendee_id)
        actor = db.session.get(User, manager_id)
        return attendance.save_row(actor, attendee, RowInput(outcome=outcome), seen_version=None, key=key)

    return job


def test_two_saves_of_the_same_version_at_once_leave_one_record_and_one_conflict(app, setting):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 4, 13, 12))
    attendee_id, manager_id = _attendee(setting["sessions"][1], setting["people"][0]).id, setting["manager"].id
    db.session.commit()  # the test's own session holds no transaction (on SQLite, no lock) while threads run
    results = _in_threads(app, _save_in_thread(attendee_id, manager_id, "ATTC", "thread-a-key"),
                          _save_in_thread(attendee_id, manager_id, "UAAB", "thread-b-key"))
    assert sorted(type(r).__name__ for r in results) == ["StaleAttendance", "str"], results
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Attendance.id))) == 1
    assert db.session.scalar(select(func.count(AttendanceHistory.id))) == 1
    assert db.session.scalar(select(func.count(ProcessedRequest.id))) == 1  # the loser's key was not kept


def test_one_request_sent_twice_at_once_is_applied_once(app, setting):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 4, 13, 12))
    attendee_id, manager_id = _attendee(setting["sessions"][1], setting["people"][0]).id, setting["manager"].id
    db.session.commit()
    results = _in_threads(app, _save_in_thread(attendee_id, manager_id, "ATTC", "same-key-twice"),
                          _save_in_thread(attendee_id, manager_id, "ATTC", "same-key-twice"))
    assert sorted(str(r) for r in results) == ["repeated", "saved"], results
    db.session.expire_all()
    assert db.session.scalar(select(func.count(AttendanceHistory.id))) == 1
    assert db.session.scalar(select(func.count(OutboxItem.id)).where(OutboxItem.action == "update")) == 1


def test_a_stale_version_is_refused_without_writing(app, setting):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 4, 13, 12))
    attendee = _record(setting["manager"], setting["sessions"][1], setting["people"][0], "ATTC")
    with pytest.raises(StaleAttendance) as refused:
        attendance.save_row(setting["manager"], attendee, RowInput(outcome="UAAB"), seen_version=None, key=None)
    assert refused.value.current.outcome == "ATTC"
    assert db.session.scalar(select(Attendance.outcome)) == "ATTC"
    assert db.session.scalar(select(func.count(AttendanceHistory.id))) == 1
