"""Catch-ups: booked by a treatment manager from a missed session, for one or more people; attending one
completes the session; every attempt stays visible."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import (
    Attendee,
    AuditEvent,
    NDeliusAppointment,
    OutboxItem,
    ReferralProgress,
    Session,
    TemplateCompletion,
)
from app.services import attendance as attendance_service

MISSED = datetime(2026, 4, 13, 10)  # "Introduction to Building Choices"


@pytest.fixture
def missed(world):  # type: ignore[no-untyped-def]
    region = world.region("NW", "North West")
    lead = world.facilitator(region, "Fran Lead")
    spare = world.facilitator(region, "Sam Spare")
    manager = world.user(region, "treatment_manager", "tm.nw")
    world.user(region, "facilitator", "fac.lead", facilitator=lead)
    people = tuple(world.referral(region, name) for name in ("Alex Able", "Billie Brown", "Charlie Cole"))
    group = world.started(world.group(manager, "BC1", lead=lead, members=people), manager)
    clock.freeze(datetime(2026, 4, 14, 9))
    session = db.session.scalar(select(Session).where(Session.group_id == group.id, Session.starts_at == MISSED))
    outcomes = {"Alex Able": "UAAB", "Billie Brown": "AFTC", "Charlie Cole": "ATTC"}
    for attendee in session.attendees:
        attendance_service.record(manager, attendee, outcome=outcomes[attendee.referral.person_name], seen_version=None)
    db.session.commit()
    by_name = {a.referral.person_name: a.referral_id for a in session.attendees}
    return {"session": session, "group": group, "people": by_name, "spare": spare, "lead": lead, "manager": manager}


def _book(browser, missed, people, *, date="2026-04-16", time="14:00", facilitator=None, key="catch-up-key-1"):  # type: ignore[no-untyped-def]
    return browser.post(f"/sessions/{missed['session'].id}/catch-up", {
        "people": [str(missed["people"][p]) for p in people], "date": date, "start_time": time,
        "facilitator_id": str(facilitator or missed["spare"].id), "idempotency_key": key,
    })


def test_the_catch_up_page_offers_only_people_who_missed_the_session(browser, missed):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    page = browser.get(f"/sessions/{missed['session'].id}/catch-up").data.decode()
    assert "Alex Able" in page and "Billie Brown" in page and "Charlie Cole" not in page
    assert "Did not attend" in page and "Attended but failed to comply" in page


def test_a_catch_up_for_two_people_is_a_session_of_the_same_template(browser, missed):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    response = _book(browser, missed, ["Alex Able", "Billie Brown"])
    assert response.status_code == 302
    catch_up = db.session.scalar(select(Session).where(Session.kind == "catch_up"))
    assert catch_up.parent_id == missed["session"].id
    assert catch_up.session_template_id == missed["session"].session_template_id
    assert (catch_up.starts_at, catch_up.ends_at) == (datetime(2026, 4, 16, 14), datetime(2026, 4, 16, 16, 30))
    assert catch_up.lead_facilitator.name == "Sam Spare"
    assert sorted(a.referral.person_name for a in catch_up.attendees) == ["Alex Able", "Billie Brown"]
    appointments = db.session.scalar(select(func.count(NDeliusAppointment.id)).join(Attendee)
                                     .where(Attendee.session_id == catch_up.id))
    assert appointments == 2
    creates = db.session.scalar(select(func.count(OutboxItem.id)).join(NDeliusAppointment).join(Attendee)
                                .where(Attendee.session_id == catch_up.id, OutboxItem.action == "create"))
    assert creates == 2
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "session.catch_up_scheduled"))
    assert response.headers["Location"].endswith(f"/sessions/{catch_up.id}")


def test_attending_the_catch_up_completes_the_session_and_every_attempt_stays_visible(browser, missed):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    _book(browser, missed, ["Alex Able"])
    catch_up = db.session.scalar(select(Session).where(Session.kind == "catch_up"))
    alex = catch_up.attendees[0]
    before = db.session.get(ReferralProgress, alex.referral_id)
    assert before is None or before.sessions_completed == 0
    clock.freeze(datetime(2026, 4, 16, 15))
    response = browser.post(f"/sessions/{catch_up.id}/attendees/{alex.id}",
                            {"outcome": "ATTC", "version": "", "idempotency_key": "catch-up-attended"}, htmx=True)
    assert response.status_code == 200
    completion = db.session.scalar(select(TemplateCompletion).where(TemplateCompletion.referral_id == alex.referral_id))
    assert completion.session_template_id == missed["session"].session_template_id and completion.attendee_id == alex.id
    assert db.session.get(ReferralProgress, alex.referral_id).sessions_completed == 1
    original = browser.get(f"/sessions/{missed['session'].id}").data.decode()
    assert "Catch-up" in original and "Thu 16 Apr 2026, 14:00" in original and "Completed at another session" in original
    catch_up_page = browser.get(f"/sessions/{catch_up.id}").data.decode()
    assert "Catch-up for" in catch_up_page and "Mon 13 Apr 2026, 10:00" in catch_up_page


def test_a_second_attempt_is_allowed_after_a_missed_catch_up(browser, missed):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    _book(browser, missed, ["Alex Able"])
    first = db.session.scalar(select(Session).where(Session.kind == "catch_up"))
    clock.freeze(datetime(2026, 4, 16, 15))
    attendance_service.record(missed["manager"], first.attendees[0], outcome="UAAB", seen_version=None)
    db.session.commit()
    response = browser.post(f"/sessions/{first.id}/catch-up", {
        "people": [str(missed["people"]["Alex Able"])], "date": "2026-04-21", "start_time": "10:00",
        "facilitator_id": str(missed["spare"].id), "idempotency_key": "second-attempt-1"})
    assert response.status_code == 302
    attempts = db.session.scalars(select(Session).where(Session.kind == "catch_up").order_by(Session.starts_at)).all()
    assert len(attempts) == 2 and attempts[1].parent_id == first.id
    page = browser.get(f"/sessions/{missed['session'].id}").data.decode()
    assert "Thu 16 Apr 2026, 14:00" in page and "Tue 21 Apr 2026, 10:00" in page


def test_a_submitted_catch_up_form_sent_twice_books_one_catch_up(browser, missed):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    assert _book(browser, missed, ["Alex Able"], key="double-click-1").status_code == 302
    assert _book(browser, missed, ["Alex Able"], key="double-click-1").status_code == 302
    assert db.session.scalar(select(func.count(Session.id)).where(Session.kind == "catch_up")) == 1


@pytest.mark.parametrize(("people", "fields", "message"), [
    ([], {}, "Choose at least one person"),
    (["Charlie Cole"], {}, "Choose people who missed this session"),
    (["Alex Able"], {"date": "2026-04-13"}, "The catch-up must be in the future"),
    (["Alex Able"], {"date": "2026-05-04"}, "is a bank holiday"),
    (["Alex Able"], {"date": "31/02/2026"}, "Enter a real date"),
    (["Alex Able"], {"date": ""}, "Enter the date of the catch-up"),
    (["Alex Able"], {"date": "2026-04-20", "time": "10:00"}, "Fran Lead is already facilitating"),
])
def test_a_catch_up_the_rules_refuse_says_why_and_books_nothing(browser, missed, people, fields, message):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    kwargs = {k: v for k, v in fields.items()}
    if "time" in kwargs:
        kwargs["facilitator"] = missed["lead"].id
    response = _book(browser, missed, people, **kwargs)
    assert response.status_code == 400
    assert message in response.data.decode()
    assert db.session.scalar(select(func.count(Session.id)).where(Session.kind == "catch_up")) == 0


def test_a_person_already_in_a_session_then_is_not_double_booked(browser, missed):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    response = _book(browser, missed, ["Alex Able"], date="2026-04-20", time="11:00")  # the group meets 10:00–12:30
    assert response.status_code == 400 and "Alex Able is already expected at" in response.data.decode()


def test_only_treatment_managers_book_catch_ups(browser, missed):  # type: ignore[no-untyped-def]
    browser.sign_in("fac.lead")
    assert browser.get(f"/sessions/{missed['session'].id}/catch-up").status_code == 403
    assert _book(browser, missed, ["Alex Able"]).status_code == 403
    assert db.session.scalar(select(func.count(Session.id)).where(Session.kind == "catch_up")) == 0


def test_another_regions_manager_cannot_book_a_catch_up(browser, missed, world):  # type: ignore[no-untyped-def]
    world.user(world.region("SW", "South West"), "treatment_manager", "tm.sw")
    browser.sign_in("tm.sw")
    assert _book(browser, missed, ["Alex Able"]).status_code == 404


def test_a_missed_row_on_the_register_links_to_a_catch_up_for_that_person(browser, missed):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    page = browser.get(f"/sessions/{missed['session'].id}").data.decode()
    assert f"catch-up?person={missed['people']['Alex Able']}" in page
    assert f"catch-up?person={missed['people']['Charlie Cole']}" not in page  # attended and complied
    form = browser.get(f"/sessions/{missed['session'].id}/catch-up?person={missed['people']['Alex Able']}").data.decode()
    assert f'value="{missed["people"]["Alex Able"]}" checked' in form


def test_once_everyone_who_missed_has_caught_up_the_register_offers_no_catch_up(browser, missed):  # type: ignore[no-untyped-def]
    """The register's links and the booking page ask one rule (catch_ups.may_have_catch_up)."""
    browser.sign_in("tm.nw")
    _book(browser, missed, ["Alex Able", "Billie Brown"])
    catch_up = db.session.scalar(select(Session).where(Session.kind == "catch_up"))
    clock.freeze(datetime(2026, 4, 16, 15))
    for n, attendee in enumerate(catch_up.attendees):
        assert browser.post(f"/sessions/{catch_up.id}/attendees/{attendee.id}",
                            {"outcome": "ATTC", "version": "", "idempotency_key": f"caught-up-{n:04d}"},
                            htmx=True).status_code == 200
    page = browser.get(f"/sessions/{missed['session'].id}").data.decode()
    assert "Book a catch-up" not in page and page.count("Completed at another session") == 2
    booking = browser.get(f"/sessions/{missed['session'].id}/catch-up").data.decode()
    assert "Alex Able" not in booking and "Billie Brown" not in booking


def test_someone_who_has_left_the_group_is_not_offered_or_booked_a_catch_up(browser, missed):  # type: ignore[no-untyped-def]
    from app.models import Membership
    from app.services import membership

    alex = db.session.scalar(select(Membership).where(Membership.referral_id == missed["people"]["Alex Able"]))
    membership.remove(missed["manager"], alex, reason="Moved away", new_status="Awaiting allocation")
    browser.sign_in("tm.nw")
    page = browser.get(f"/sessions/{missed['session'].id}/catch-up").data.decode()
    assert "Billie Brown" in page and "Alex Able" not in page
    response = _book(browser, missed, ["Alex Able"])
    assert response.status_code == 400
    assert ("Choose people who missed this session, are still in the group and have not completed it since"
            in response.data.decode())
    assert db.session.scalar(select(func.count(Session.id)).where(Session.kind == "catch_up")) == 0
