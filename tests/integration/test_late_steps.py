"""Late steps never move what happened or what someone changed (SPEC §3): a stored step moves its session only
if it has not started, has no attendance and is still where the plan found it; otherwise it is skipped and
listed on the operation. While a reschedule or generation of a group is queued or running, every other writer
of its sessions refuses, in the service."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import Attendee, Membership, Operation, Session, SessionFacilitator
from app.scheduling import Slot
from app.services import attendance, catch_ups, facilitators, membership, one_to_ones, reschedule
from app.services.errors import ServiceError
from app.services.schedule_guard import ScheduleBusy
from tests.integration import test_reschedule
from tests.integration.test_reschedule import NEW_START, new_group, session_of

manager = test_reschedule.manager  # the same fixture: a treatment manager, the clock at 20 May 2026 09:00

BUSY = "A reschedule of this group is in progress. Wait for it to finish, then try again."


def _postpone(manager, group) -> Operation:  # type: ignore[no-untyped-def]
    """3.3 (Mon 1 Jun) to Mon 8 Jun with the 20 sessions after it: stored, not yet applied."""
    return reschedule.request_postpone(manager, session_of(group, 3, 3), NEW_START, None, True)


def _finish(operation: Operation) -> Operation:
    reschedule.apply_plan(operation.id)
    db.session.expire_all()
    return db.session.get(Operation, operation.id)  # type: ignore[return-value]


def test_a_session_with_attendance_recorded_meanwhile_is_not_moved(world, manager):  # type: ignore[no-untyped-def]
    group = new_group(world, manager, "ATT")
    operation = _postpone(manager, group)
    target = session_of(group, 4, 1)
    before = (target.starts_at, target.ends_at)
    attendance.record(manager, target.attendees[0], outcome="AAME")  # an acceptable absence, in advance
    db.session.commit()
    operation = _finish(operation)
    target = db.session.get(Session, target.id)
    assert (target.starts_at, target.ends_at) == before
    assert operation.status == "succeeded"
    assert [e["text"] for e in operation.result["not_moved"]] == ["not moved: 4.1 — attendance already recorded"]
    assert operation.message.startswith("Moved 20 sessions. 1 session not moved (listed below).")
    assert session_of(group, 4, 2).starts_at > before[0]  # the others moved


def test_a_session_that_has_started_by_the_time_its_step_runs_is_not_moved(world, manager):  # type: ignore[no-untyped-def]
    group = new_group(world, manager, "STA")
    operation = _postpone(manager, group)
    clock.freeze(datetime(2026, 6, 1, 10, 30))  # the worker only gets to it once 3.3 has begun
    operation = _finish(operation)
    assert session_of(group, 3, 3).starts_at == datetime(2026, 6, 1, 10)
    assert [e["text"] for e in operation.result["not_moved"]] == ["not moved: 3.3 — has started"]


def test_a_session_moved_by_someone_else_meanwhile_stays_where_they_put_it(world, manager):  # type: ignore[no-untyped-def]
    group = new_group(world, manager, "MOV")
    operation = _postpone(manager, group)
    moved = session_of(group, 5, 2)
    moved.starts_at, moved.ends_at = datetime(2026, 12, 1, 14), datetime(2026, 12, 1, 16, 30)  # slipped in
    db.session.commit()
    relabelled = session_of(group, 5, 3)
    relabelled.location = "Room 9"  # same times, but a newer version than the plan saw
    db.session.commit()
    operation = _finish(operation)
    assert session_of(group, 5, 2).starts_at == datetime(2026, 12, 1, 14)
    assert [e["text"] for e in operation.result["not_moved"]] == [
        "not moved: 5.2 — moved by someone else meanwhile", "not moved: 5.3 — moved by someone else meanwhile"]


def test_the_step_carries_the_version_the_plan_saw(world, manager):  # type: ignore[no-untyped-def]
    group = new_group(world, manager, "VER")
    operation = _postpone(manager, group)
    for step in operation.steps:
        assert step.payload["version"] == db.session.get(Session, step.payload["session_id"]).version


def test_the_operation_page_lists_what_was_not_moved(world, manager, browser):  # type: ignore[no-untyped-def]
    group = new_group(world, manager, "PAG")
    operation = _postpone(manager, group)
    attendance.record(manager, session_of(group, 4, 1).attendees[0], outcome="AAME")
    db.session.commit()
    _finish(operation)
    browser.sign_in(manager.username)
    page = browser.get(f"/operations/{operation.id}", htmx=True).data.decode()
    assert "not moved: 4.1 — attendance already recorded" in page
    group_page = browser.get(f"/groups/{group.id}").data.decode()
    assert "Not moved by the last reschedule" in group_page
    assert "not moved: 4.1 — attendance already recorded" in group_page


# --- every other writer of the group's sessions refuses while a reschedule is queued or running ----------

@pytest.fixture
def busy(world, manager):  # type: ignore[no-untyped-def]
    """A group with a booked one-to-one, a missed session, and a cascade queued."""
    group = new_group(world, manager, "BSY")
    person = group.memberships[0].referral
    placeholder = session_of(group, 3, 7)  # the module 3 one-to-one, Mon 29 Jun
    lead = placeholder.facilitators[0].facilitator_id
    booking = one_to_ones.book(manager, placeholder, referral_id=person.id, on=date(2026, 6, 30), at=time(14),
                               facilitator_id=lead)
    missed = session_of(group, 2, 1)
    attendance.record(manager, next(a for a in missed.attendees if a.referral_id == person.id), outcome="UAAB")
    db.session.commit()
    operation = _postpone(manager, group)
    return {"group": group, "person": person, "placeholder": placeholder, "booking": booking, "lead": lead,
            "missed": missed, "operation": operation}


def _refused(call) -> None:  # type: ignore[no-untyped-def]
    counts = _counts()
    with pytest.raises(ScheduleBusy, match="A reschedule of this group is in progress"):
        call()
    db.session.rollback()
    assert _counts() == counts


def _counts() -> tuple[int, ...]:
    return tuple(db.session.scalar(select(func.count()).select_from(m)) or 0
                 for m in (Session, Attendee, Membership, SessionFacilitator))


def test_booking_a_one_to_one_is_refused_while_a_reschedule_is_queued(world, manager, busy):  # type: ignore[no-untyped-def]
    other = busy["group"].memberships[1].referral
    _refused(lambda: one_to_ones.book(manager, busy["placeholder"], referral_id=other.id, on=date(2026, 6, 30),
                                      at=time(16), facilitator_id=busy["lead"]))


def test_moving_a_one_to_one_is_refused_while_a_reschedule_is_queued(world, manager, busy):  # type: ignore[no-untyped-def]
    starts = busy["booking"].starts_at
    _refused(lambda: one_to_ones.change(manager, busy["booking"], on=date(2026, 7, 1), at=time(14),
                                        facilitator_id=busy["lead"], seen_version=busy["booking"].version))
    assert db.session.get(Session, busy["booking"].id).starts_at == starts


def test_booking_a_catch_up_is_refused_while_a_reschedule_is_queued(world, manager, busy):  # type: ignore[no-untyped-def]
    _refused(lambda: catch_ups.schedule(manager, busy["missed"], referral_ids=[busy["person"].id],
                                        on=date(2026, 6, 3), at=time(14), facilitator_id=busy["lead"]))


def test_changing_a_sessions_facilitators_is_refused_while_a_reschedule_is_queued(world, manager, busy):  # type: ignore[no-untyped-def]
    cover = world.facilitator(manager.region, "Casey Cover")
    _refused(lambda: facilitators.change_session_facilitators(manager, session_of(busy["group"], 4, 1),
                                                              busy["lead"], [cover.id]))


def test_changing_the_groups_facilitators_is_refused_while_a_reschedule_is_queued(world, manager, busy):  # type: ignore[no-untyped-def]
    other = world.facilitator(manager.region, "Lee Lead")
    _refused(lambda: facilitators.change_group_facilitators(manager, busy["group"], other.id, []))


def test_changing_days_and_times_is_refused_while_a_reschedule_is_queued(world, manager, busy):  # type: ignore[no-untyped-def]
    group = busy["group"]
    _refused(lambda: reschedule.request_reslot(manager, group, [Slot(2, time(14))], group.earliest_start_date,
                                               group.version))


def test_allocating_someone_is_refused_while_a_reschedule_is_queued(world, manager, busy):  # type: ignore[no-untyped-def]
    newcomer = world.referral(manager.region, "New Person")
    _refused(lambda: membership.allocate(manager, busy["group"], newcomer))


def test_removing_someone_is_refused_while_a_reschedule_is_queued(world, manager, busy):  # type: ignore[no-untyped-def]
    _refused(lambda: membership.remove(manager, busy["group"].memberships[0], reason="Moved away",
                                       new_status="Deferred"))


def test_a_generation_in_progress_refuses_them_too(world, manager):  # type: ignore[no-untyped-def]
    group = new_group(world, manager, "GEN")
    db.session.add(Operation(kind="generate", user_id=manager.id, region_id=group.region_id, group_id=group.id,
                             status="running"))
    db.session.commit()
    with pytest.raises(ScheduleBusy, match="This group's schedule is still being made"):
        facilitators.change_session_facilitators(manager, session_of(group, 4, 1),
                                                 session_of(group, 4, 1).facilitators[0].facilitator_id,
                                                 [world.facilitator(manager.region).id])


def test_once_the_reschedule_has_finished_the_writers_work_again(world, manager, busy):  # type: ignore[no-untyped-def]
    _finish(busy["operation"])
    other = busy["group"].memberships[1].referral
    booked = one_to_ones.book(manager, db.session.get(Session, busy["placeholder"].id), referral_id=other.id,
                              on=date(2026, 7, 7), at=time(16), facilitator_id=busy["lead"])
    assert booked is not None


# --- the one-to-ones and catch-ups a change of days and times could not keep --------------------------------

def test_bookings_a_days_and_times_change_could_not_keep_are_listed_until_re_booked(world, manager, browser):  # type: ignore[no-untyped-def]
    group = new_group(world, manager, "RBK")
    person = group.memberships[0].referral
    placeholder = session_of(group, 3, 7)  # Mon 29 Jun 10:00
    lead = placeholder.facilitators[0].facilitator_id
    booking = one_to_ones.book(manager, placeholder, referral_id=person.id, on=date(2026, 6, 29), at=time(14),
                               facilitator_id=lead)
    assert booking is not None
    # Wednesdays at 14:00 from now on: the placeholder moves, so the booked one-to-one must be re-booked
    operation = reschedule.request_reslot(manager, group, [Slot(2, time(14))], group.earliest_start_date,
                                          group.version)
    assert operation is not None
    assert [e["session_id"] for e in operation.result["rebook"]] == [booking.id]
    operation = _finish(operation)
    assert "1 booked session to re-book (listed on the group page)" in operation.message
    outcome = reschedule.latest_outcome(group)
    assert [s.id for s in outcome.rebook] == [booking.id]
    browser.sign_in(manager.username)
    page = browser.get(f"/groups/{group.id}").data.decode()
    assert "Booked sessions to re-book" in page and "change the booking" in page
    assert db.session.get(Session, booking.id).status == "scheduled"  # never silently deleted

    one_to_ones.change(manager, db.session.get(Session, booking.id), on=date(2026, 7, 2), at=time(10),
                       facilitator_id=lead, seen_version=None)
    assert reschedule.latest_outcome(group).rebook == []
    assert "Booked sessions to re-book" not in browser.get(f"/groups/{group.id}").data.decode()


def test_attendance_recorded_before_the_preview_keeps_its_session_out_of_the_plan(world, manager):  # type: ignore[no-untyped-def]
    """The plan says what will happen: a session with attendance is not listed as moving, and a push that would
    then break the 6-week gap before the post-programme review asks for a confirmation (the stateful test's
    review-gap invariant found it: the review stayed put, 35 days after 6.3, with nobody asked)."""
    group = new_group(world, manager, "GAP")
    review = session_of(group, 7, 1)
    attendance.record(manager, review.attendees[0], outcome="AAME")  # an acceptable absence, in advance
    db.session.commit()

    plan = reschedule.preview_postpone(manager, session_of(group, 3, 3), NEW_START, None, True)

    assert review.id not in {m.session.id for m in plan.moves} and len(plan.moves) == 20  # 3.3 and 19 after it
    assert plan.confirmations == [(
        "'Post-programme review' would be on Mon 30 Nov 2026, 5 weeks after 'Programme completion' on Mon 26 Oct "
        "2026: the programme keeps 6 weeks before 'Post-programme review'.")]
    assert plan.ends_after == plan.ends_before == date(2026, 11, 30)
    with pytest.raises(reschedule.ConfirmationNeeded):
        reschedule.request_postpone(manager, session_of(group, 3, 3), NEW_START, None, True)
    db.session.rollback()
    with pytest.raises(ServiceError, match="'Post-programme review' has attendance recorded, so it cannot be moved"):
        reschedule.preview_postpone(manager, review, review.starts_at + timedelta(weeks=1), None, True)
