"""Booking one-to-ones against a placeholder: a staggered suggestion per member, accepted or changed one by
one; nobody double-booked, never on a bank holiday."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import Attendee, AuditEvent, NDeliusAppointment, OutboxItem, Session

PLACEHOLDER = datetime(2026, 3, 23, 10)  # the pre-group one-to-one slot of the worked example


@pytest.fixture
def slot(world):  # type: ignore[no-untyped-def]
    region = world.region("NW", "North West")
    lead = world.facilitator(region, "Fran Lead")
    manager = world.user(region, "treatment_manager", "tm.nw")
    world.user(region, "facilitator", "fac.lead", facilitator=lead)
    people = tuple(world.referral(region, name) for name in ("Alex Able", "Billie Brown", "Charlie Cole"))
    group = world.started(world.group(manager, "BC1", lead=lead, members=people), manager)
    clock.freeze(datetime(2026, 3, 16, 9))
    placeholder = db.session.scalar(select(Session).where(Session.group_id == group.id,
                                                         Session.starts_at == PLACEHOLDER))
    return {"placeholder": placeholder, "group": group, "lead": lead,
            "people": {a.referral.person_name: a.referral_id for a in placeholder.attendees}}


def _book(browser, slot, name, date, time, *, key=None, **extra):  # type: ignore[no-untyped-def]
    rid = slot["people"][name]
    data = {"referral_id": str(rid), f"p{rid}-date": date, f"p{rid}-start_time": time,
            f"p{rid}-facilitator_id": str(slot["lead"].id), "idempotency_key": key or f"book-{rid}-{date}-{time}"}
    data.update(extra)
    return browser.post(f"/sessions/{slot['placeholder'].id}/one-to-ones", data)


def test_each_member_gets_a_staggered_suggestion_inside_working_hours(browser, slot):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    page = browser.get(f"/sessions/{slot['placeholder'].id}/one-to-ones").data.decode()
    assert "0 of 3" in page
    # In name order, one after another from the placeholder's start, the facilitator never double-booked.
    assert "Suggested: Mon 23 Mar, 10:00–11:00" in page
    assert "Suggested: Mon 23 Mar, 11:00–12:00" in page
    assert "Suggested: Mon 23 Mar, 12:00–13:00" in page
    assert page.index("Alex Able") < page.index("11:00–12:00") < page.index("Charlie Cole")


def test_accepting_a_suggestion_books_a_one_to_one_against_the_placeholder(browser, slot):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    response = _book(browser, slot, "Alex Able", "2026-03-23", "10:00")
    assert response.status_code == 302
    booking = db.session.scalar(select(Session).where(Session.kind == "one_to_one"))
    assert booking.parent_id == slot["placeholder"].id
    assert (booking.starts_at, booking.ends_at) == (datetime(2026, 3, 23, 10), datetime(2026, 3, 23, 11))
    assert [a.referral.person_name for a in booking.attendees] == ["Alex Able"]
    assert booking.lead_facilitator.name == "Fran Lead"
    creates = db.session.scalar(select(func.count(OutboxItem.id)).join(NDeliusAppointment).join(Attendee)
                                .where(Attendee.session_id == booking.id, OutboxItem.action == "create"))
    assert creates == 1
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "session.one_to_one_booked"))
    page = browser.get(f"/sessions/{slot['placeholder'].id}/one-to-ones").data.decode()
    assert "1 of 3" in page and "Booked" in page
    # The others' suggestions go round the booking.
    assert "Suggested: Mon 23 Mar, 10:00–11:00" not in page


def test_a_changed_time_is_booked_as_changed(browser, slot):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    assert _book(browser, slot, "Billie Brown", "2026-03-24", "15:30").status_code == 302
    booking = db.session.scalar(select(Session).where(Session.kind == "one_to_one"))
    assert booking.starts_at == datetime(2026, 3, 24, 15, 30)


def test_a_booking_can_be_moved_and_nDelius_hears_about_it(browser, slot):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    _book(browser, slot, "Alex Able", "2026-03-23", "10:00")
    booking = db.session.scalar(select(Session).where(Session.kind == "one_to_one"))
    response = _book(browser, slot, "Alex Able", "2026-03-25", "09:30", booking_id=str(booking.id),
                     version=str(booking.version))
    assert response.status_code == 302
    db.session.refresh(booking)
    assert booking.starts_at == datetime(2026, 3, 25, 9, 30)
    assert db.session.scalar(select(func.count(OutboxItem.id)).where(OutboxItem.action == "update")) == 1
    assert db.session.scalar(select(func.count(Session.id)).where(Session.kind == "one_to_one")) == 1


def test_nobody_is_booked_twice_for_the_same_one_to_one(browser, slot):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    _book(browser, slot, "Alex Able", "2026-03-23", "10:00")
    again = _book(browser, slot, "Alex Able", "2026-03-24", "10:00")
    assert again.status_code == 400 and "already has this one-to-one" in again.data.decode()
    repeated = _book(browser, slot, "Billie Brown", "2026-03-23", "11:00", key="same-request")
    repeated_again = _book(browser, slot, "Billie Brown", "2026-03-23", "11:00", key="same-request")
    assert repeated.status_code == 302 and repeated_again.status_code == 302
    assert db.session.scalar(select(func.count(Session.id)).where(Session.kind == "one_to_one")) == 2


@pytest.mark.parametrize(("name", "date", "time", "message"), [
    ("Billie Brown", "2026-03-23", "10:30", "Fran Lead is already facilitating"),  # Alex's booking
    ("Billie Brown", "2026-04-03", "10:00", "is a bank holiday"),  # Good Friday
    ("Billie Brown", "2026-03-10", "10:00", "must be in the future"),
    ("Billie Brown", "", "10:00", "Enter the date of the one-to-one"),
])
def test_a_booking_the_rules_refuse_says_why_next_to_the_field(browser, slot, name, date, time, message):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    _book(browser, slot, "Alex Able", "2026-03-23", "10:00")
    response = _book(browser, slot, name, date, time)
    assert response.status_code == 400
    page = response.data.decode()
    assert message in page and "govuk-error-message" in page
    assert db.session.scalar(select(func.count(Session.id)).where(Session.kind == "one_to_one")) == 1


def test_only_one_to_one_placeholders_take_bookings(browser, slot):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    group_session = db.session.scalar(select(Session).where(Session.group_id == slot["group"].id,
                                                           Session.starts_at == datetime(2026, 4, 13, 10)))
    assert browser.get(f"/sessions/{group_session.id}/one-to-ones").status_code == 404


def test_facilitators_cannot_book_one_to_ones(browser, slot):  # type: ignore[no-untyped-def]
    browser.sign_in("fac.lead")
    assert browser.get(f"/sessions/{slot['placeholder'].id}/one-to-ones").status_code == 403
    assert _book(browser, slot, "Alex Able", "2026-03-23", "10:00").status_code == 403
