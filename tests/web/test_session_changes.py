"""Cancelling a session, deleting a booking made in error, and changing who is expected at one session (issue
15.2): exact statuses, what the pages show, the nDelius outbox rows and the audit trail."""
from __future__ import annotations

from datetime import date, datetime, time

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import (
    Attendee,
    AuditEvent,
    Membership,
    NDeliusAppointment,
    Operation,
    OutboxItem,
    Session,
)
from app.services import attendance, catch_ups
from app.services.ndelius_plan import appointment_payload

CANCELLED = datetime(2026, 6, 1, 10)  # a future group session ("now" is 20 May 2026; 25 May is a bank holiday)


@pytest.fixture
def north(world):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 3, 1, 9))
    region = world.region("NW", "North West")
    manager = world.user(region, "treatment_manager", "tm.nw", name="Terry Manager")
    world.user(region, "facilitator", "fac.nw")
    world.user(region, "lead", "lead.nw")
    people = tuple(world.referral(region, n) for n in ("Alex Able", "Billie Brown", "Casey Cole"))
    group = world.started(world.group(manager, "BC1", members=people), manager)
    for appointment in db.session.scalars(select(NDeliusAppointment)):  # as if the relay had sent them
        appointment.sync_state, appointment.remote_state = "synced", "present"
    db.session.execute(OutboxItem.__table__.update().values(status="done"))
    db.session.commit()
    clock.freeze(datetime(2026, 5, 20, 9))
    return {"group": group, "manager": manager, "people": {r.person_name: r.id for r in people}}


def _at(group_id: int, starts_at: datetime) -> Session:
    return db.session.scalar(select(Session).where(Session.group_id == group_id, Session.starts_at == starts_at,
                                                   Session.kind == "scheduled"))


def _pending(action: str) -> set[int]:
    return set(db.session.scalars(select(OutboxItem.appointment_id).where(OutboxItem.status == "pending",
                                                                          OutboxItem.action == action)))


def _appointments_of(session_id: int) -> set[int]:
    return set(db.session.scalars(select(NDeliusAppointment.id).join(Attendee).where(
        Attendee.session_id == session_id, Attendee.removed_at.is_(None))))


def test_the_change_page_is_for_managers(browser, north):  # type: ignore[no-untyped-def]
    session = _at(north["group"].id, CANCELLED)
    for username in ("fac.nw", "lead.nw"):
        browser.sign_in(username)
        assert browser.get(f"/sessions/{session.id}/change").status_code == 403
        assert browser.post(f"/sessions/{session.id}/cancel", {"cancel-reason": "x"}).status_code == 403
    browser.sign_in("tm.nw")
    response = browser.get(f"/sessions/{session.id}/change")
    assert response.status_code == 200
    page = response.data.decode()
    assert "Change this session" in page and "Cancel this session" in page
    assert "Alex Able" in page and "Take off<span class=\"govuk-visually-hidden\"> Alex Able</span>" in page
    assert "Everyone in the group is expected at this session." in page
    assert "Delete this" not in page  # a generated session is cancelled, never deleted
    register = browser.get(f"/sessions/{session.id}").data.decode()
    assert f'href="/sessions/{session.id}/change">Cancel, or change who is expected</a>' in register


def test_cancelling_a_session_keeps_it_struck_through_with_the_reason_and_tells_ndelius(browser, north):  # type: ignore[no-untyped-def]
    group_id = north["group"].id
    session = _at(group_id, CANCELLED)
    appointments = _appointments_of(session.id)
    browser.sign_in("tm.nw")
    response = browser.post(f"/sessions/{session.id}/cancel", {"cancel-reason": "The room is flooded"})
    assert response.status_code == 302 and response.headers["Location"] == f"/sessions/{session.id}"
    register = browser.get(f"/sessions/{session.id}").data.decode()
    assert ("Session cancelled. 3 nDelius appointments to mark “Rescheduled – service request”. It stays on the "
            "schedule") in register
    assert "This session was cancelled: The room is flooded." in register
    assert '<strong class="govuk-tag govuk-tag--grey">Cancelled</strong>' in register
    # its rows show what is stored, with no outcome buttons (a save would be refused)
    assert register.count('class="app-register-row"') == 3 and 'name="outcome"' not in register
    assert register.count("<dt>Notes</dt><dd>None</dd>") == 3
    schedule = browser.get(f"/groups/{group_id}").data.decode()
    row_start = schedule.index('app-schedule__cancelled')
    row = schedule[row_start:schedule.index("</tr>", row_start)]
    assert "Managing my feelings, part 1" in row and "Cancelled" in row
    assert "The room is flooded" in row and "Mon 1 Jun 2026" in row
    assert "27 sessions" in schedule  # still on the schedule

    db.session.expire_all()
    session = db.session.get(Session, session.id)
    assert (session.status, session.cancel_reason, session.cancelled_by.name) == (
        "cancelled", "The room is flooded", "Terry Manager")
    assert _pending("update") == appointments
    for appointment in db.session.scalars(select(NDeliusAppointment).where(NDeliusAppointment.id.in_(appointments))):
        assert appointment_payload(appointment)["outcome"] == {"code": "RSSR"}
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "session.cancelled"))
    assert event.after == {"status": "cancelled", "reason": "The room is flooded", "appointments_updated": 3,
                           "ndelius_outcome": "RSSR"}
    assert "Session cancelled" in browser.get(f"/sessions/{session.id}/history").data.decode()
    # the template is still to be done: everyone who was expected can have a catch-up
    catch_up = browser.get(f"/sessions/{session.id}/catch-up")
    assert catch_up.status_code == 200
    page = catch_up.data.decode()
    assert all(name in page for name in ("Alex Able", "Billie Brown", "Casey Cole"))
    # and cancelling twice says so
    again = browser.post(f"/sessions/{session.id}/cancel", {"cancel-reason": "again"})
    assert again.status_code == 400 and "This session has already been cancelled" in again.data.decode()


def test_a_cancellation_needs_a_reason(browser, north):  # type: ignore[no-untyped-def]
    session = _at(north["group"].id, CANCELLED)
    browser.sign_in("tm.nw")
    response = browser.post(f"/sessions/{session.id}/cancel", {"cancel-reason": "  "})
    assert response.status_code == 400
    assert "Enter why the session is cancelled" in response.data.decode()
    assert db.session.get(Session, session.id).status == "scheduled"


def test_a_session_with_outcomes_recorded_is_not_cancelled(browser, north):  # type: ignore[no-untyped-def]
    session = _at(north["group"].id, datetime(2026, 5, 18, 10))
    attendance.record(north["manager"], session.attendees[0], outcome="ATTC")
    db.session.commit()
    name = session.attendees[0].referral.person_name
    browser.sign_in("tm.nw")
    response = browser.post(f"/sessions/{session.id}/cancel", {"cancel-reason": "Did not happen"})
    assert response.status_code == 400
    assert (f"Outcomes are recorded for this session ({name}): it happened, so it cannot be cancelled."
            in response.data.decode())


def test_cancelling_is_refused_while_the_schedule_is_rescheduled(browser, north):  # type: ignore[no-untyped-def]
    session = _at(north["group"].id, CANCELLED)
    db.session.add(Operation(kind="cascade", status="running", user_id=north["manager"].id,
                             region_id=north["group"].region_id, group_id=north["group"].id))
    db.session.commit()
    browser.sign_in("tm.nw")
    response = browser.post(f"/sessions/{session.id}/cancel", {"cancel-reason": "Trainer ill"})
    assert response.status_code == 409
    assert "A reschedule of this group is in progress. Wait for it to finish, then try again." in \
        response.data.decode()


def _catch_up(north):  # type: ignore[no-untyped-def]
    missed = _at(north["group"].id, datetime(2026, 5, 18, 10))
    alex = next(a for a in missed.attendees if a.referral.person_name == "Alex Able")
    attendance.record(north["manager"], alex, outcome="UAAB")
    db.session.commit()
    return catch_ups.schedule(north["manager"], missed, referral_ids=[alex.referral_id], on=date(2026, 5, 21),
                              at=time(14), facilitator_id=north["group"].lead_facilitator.id)


def test_a_catch_up_booked_in_error_is_deleted_and_its_appointment_deleted_in_ndelius(browser, north):  # type: ignore[no-untyped-def]
    booking = _catch_up(north)
    booking_id, group_id = booking.id, north["group"].id
    appointments = _appointments_of(booking_id)
    browser.sign_in("tm.nw")
    page = browser.get(f"/sessions/{booking_id}/change").data.decode()
    assert "Delete this catch-up</button>" in page
    response = browser.post(f"/sessions/{booking_id}/delete", {})
    assert response.status_code == 302 and response.headers["Location"] == f"/groups/{group_id}"
    schedule = browser.get(f"/groups/{group_id}").data.decode()
    assert ("Deleted the Helpful and unhelpful feelings catch-up on 21 May 2026 at 14:00. 1 nDelius appointment to "
            "delete.") in schedule
    assert "Thu 21 May 2026" not in schedule
    assert browser.get(f"/sessions/{booking_id}").status_code == 404
    assert browser.get(f"/sessions/{booking_id}/change").status_code == 404
    assert _pending("delete") == appointments
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "session.deleted"))
    assert event.before["people"] == ["Alex Able"] and event.after == {"appointments_deleted": 1}


def test_a_generated_session_cannot_be_deleted(browser, north):  # type: ignore[no-untyped-def]
    session = _at(north["group"].id, CANCELLED)
    browser.sign_in("tm.nw")
    response = browser.post(f"/sessions/{session.id}/delete", {})
    assert response.status_code == 400
    assert "Only a catch-up or a booked one-to-one can be deleted." in response.data.decode()
    assert db.session.get(Session, session.id).deleted_at is None


def test_taking_someone_off_one_session_and_adding_them_back_keeps_ndelius_in_step(browser, north):  # type: ignore[no-untyped-def]
    session = _at(north["group"].id, CANCELLED)
    billie = north["people"]["Billie Brown"]
    appointment_id = db.session.scalar(select(NDeliusAppointment.id).join(Attendee).where(
        Attendee.session_id == session.id, Attendee.referral_id == billie))
    browser.sign_in("tm.nw")
    response = browser.post(f"/sessions/{session.id}/expected/remove", {"remove-referral_id": str(billie)})
    assert response.status_code == 302 and response.headers["Location"] == f"/sessions/{session.id}/change"
    page = browser.get(f"/sessions/{session.id}/change").data.decode()
    assert "Billie Brown is no longer expected at this session; their nDelius appointment is deleted." in page
    assert f'<option value="{billie}">Billie Brown</option>' in page  # offered to add back
    assert _pending("delete") == {appointment_id}
    register = browser.get(f"/sessions/{session.id}").data.decode()
    assert "0 of 2" in register
    # other sessions still expect Billie
    assert db.session.scalar(select(func.count(Attendee.id)).where(
        Attendee.referral_id == billie, Attendee.removed_at.is_(None))) == 26

    response = browser.post(f"/sessions/{session.id}/expected/add", {"add-referral_id": str(billie)})
    assert response.status_code == 302
    page = browser.get(f"/sessions/{session.id}/change").data.decode()
    assert "Billie Brown is now expected at this session; nDelius gets their appointment." in page
    assert _pending("create") == {appointment_id}
    actions = [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions[-2:] == ["session.attendee_removed", "session.attendee_added"]


def test_a_new_member_is_added_to_one_session(browser, north, world):  # type: ignore[no-untyped-def]
    session = _at(north["group"].id, CANCELLED)
    newcomer = world.referral(north["group"].region, "Dana Dale")
    db.session.add(Membership(group_id=north["group"].id, referral_id=newcomer.id))
    db.session.commit()
    browser.sign_in("tm.nw")
    response = browser.post(f"/sessions/{session.id}/expected/add", {"add-referral_id": str(newcomer.id)})
    assert response.status_code == 302
    attendee = db.session.scalar(select(Attendee).where(Attendee.session_id == session.id,
                                                        Attendee.referral_id == newcomer.id))
    assert attendee is not None and attendee.removed_at is None
    appointment = db.session.scalar(select(NDeliusAppointment).filter_by(attendee_id=attendee.id))
    assert _pending("create") == {appointment.id}


def test_who_is_expected_cannot_change_once_the_session_has_started(browser, north):  # type: ignore[no-untyped-def]
    session = _at(north["group"].id, datetime(2026, 5, 18, 10))
    browser.sign_in("tm.nw")
    response = browser.post(f"/sessions/{session.id}/expected/remove",
                            {"remove-referral_id": str(north["people"]["Alex Able"])})
    assert response.status_code == 400
    assert "This session has already started: record attendance on its register instead" in response.data.decode()
    response = browser.post(f"/sessions/{session.id}/expected/add", {"add-referral_id": "0"})
    assert response.status_code == 400 and "Choose a person to add" in response.data.decode()


def test_another_regions_session_is_not_found(browser, north, world):  # type: ignore[no-untyped-def]
    world.user(world.region("LDN", "London"), "treatment_manager", "tm.ldn")
    session = _at(north["group"].id, CANCELLED)
    browser.sign_in("tm.ldn")
    assert browser.get(f"/sessions/{session.id}/change").status_code == 404
    assert browser.post(f"/sessions/{session.id}/cancel", {"cancel-reason": "x"}).status_code == 404


def test_a_booked_one_to_one_is_deleted_and_its_placeholder_cannot_be_cancelled_while_booked(browser, north):  # type: ignore[no-untyped-def]
    from app.services import one_to_ones

    placeholder = _at(north["group"].id, datetime(2026, 6, 29, 10))
    alex = north["people"]["Alex Able"]
    booking = one_to_ones.book(north["manager"], placeholder, referral_id=alex, on=date(2026, 6, 30), at=time(14),
                               facilitator_id=north["group"].lead_facilitator.id)
    booking_id, placeholder_id = booking.id, placeholder.id
    appointments = _appointments_of(booking_id)
    browser.sign_in("tm.nw")
    refused = browser.post(f"/sessions/{placeholder_id}/cancel", {"cancel-reason": "Not needed"})
    assert refused.status_code == 400
    assert "One-to-ones are booked against this session: delete or cancel them first" in refused.data.decode()
    page = browser.get(f"/sessions/{booking_id}/change").data.decode()
    assert "Delete this one-to-one</button>" in page and "Add a member of the group" not in page
    response = browser.post(f"/sessions/{booking_id}/delete", {})
    assert response.status_code == 302
    assert ("Deleted the Managing myself one-to-one on 30 June 2026 at 14:00. 1 nDelius appointment to "
            "delete.") in browser.get(f"/groups/{north['group'].id}").data.decode()
    assert _pending("delete") == appointments
    assert one_to_ones.bookings(db.session.get(Session, placeholder_id)) == {}  # Alex can be booked again
    assert browser.post(f"/sessions/{placeholder_id}/cancel", {"cancel-reason": "Not needed"}).status_code == 302
