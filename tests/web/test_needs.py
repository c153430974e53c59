"""What a person cannot do (issue 15.3): times in the week, delivery locations and non-associations recorded on
the person's pages; allocation (whichever page sends it) and Find a group say which of them stops a group;
suggested one-to-ones go round the times."""
from __future__ import annotations

from datetime import datetime, time

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import AuditEvent, ExcludedLocation, Membership, NonAssociation, Session, Unavailability
from app.scheduling import Slot
from app.services import membership, needs
from app.services.errors import ServiceError


@pytest.fixture
def north(world):  # type: ignore[no-untyped-def]
    region = world.region("NW", "North West")
    clock.freeze(datetime(2026, 3, 1, 9))
    manager = world.user(region, "treatment_manager", "tm.nw")
    return {
        "region": region, "manager": manager,
        "lead": world.user(region, "lead", "lead.nw"),
        "jordan": world.referral(region, "Jordan Smith", "N100001"),
        "casey": world.referral(region, "Casey Jones", "N100002"),
        "monday": world.group(manager, "MON1"),  # Monday 10:00, Room 1
        "thursday": world.group(manager, "THU1", slots=(Slot(3, time(14)),)),
    }


def _add_time(browser, person, day="0", start="09:00", end="17:00", reason="Works at the depot"):  # type: ignore[no-untyped-def]
    return browser.post(f"/people/{person.id}/needs/times", {
        "time-day_of_week": day, "time-start_time": start, "time-end_time": end, "time-reason": reason})


def test_a_manager_records_a_time_they_cannot_attend_and_groups_meeting_then_refuse(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    jordan = north["jordan"]
    page = browser.get(f"/people/{jordan.id}/needs")
    assert page.status_code == 200 and "What Jordan Smith cannot do" in page.data.decode()
    response = _add_time(browser, jordan)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/people/{jordan.id}/needs#times")
    page = browser.get(f"/people/{jordan.id}/needs").data.decode()
    assert "Jordan Smith cannot attend on Mondays 09:00–17:00 (Works at the depot): groups meeting then will " \
           "not take them" in page
    assert "added Monday 09:00–17:00 (Works at the depot)" in page  # the changes list, from the audit trail
    row = db.session.scalar(select(Unavailability))
    assert (row.day_of_week, row.start_time, row.end_time, row.reason) == (0, time(9), time(17), "Works at the depot")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "referral.unavailability_added"))
    assert (event.object_type, event.object_id, event.after["day"], event.user.username) == (
        "referral", jordan.id, "Monday", "tm.nw")

    find = browser.get(f"/referrals/{jordan.id}/groups").data.decode()
    assert "Cannot attend on Mondays 09:00–17:00 (Works at the depot)" in find
    assert "Groups that can take Jordan Smith (1)" in find
    assert "Group MON1 meets on Monday 10:00–12:30, when Jordan Smith cannot attend (Mondays 09:00–17:00: " \
           "Works at the depot)" in find
    refused = browser.post(f"/referrals/{jordan.id}/allocate", {"group_id": str(north["monday"].id)})
    assert refused.status_code == 400
    assert "Group MON1 meets on Monday 10:00–12:30, when Jordan Smith cannot attend" in refused.data.decode()
    assert db.session.scalar(select(func.count(Membership.id))) == 0
    allowed = browser.post(f"/referrals/{jordan.id}/allocate", {"group_id": str(north["thursday"].id)})
    assert allowed.status_code == 302
    assert db.session.scalar(select(Membership.group_id)) == north["thursday"].id


def test_a_time_that_only_touches_the_session_does_not_stop_it(app, north):  # type: ignore[no-untyped-def]
    jordan, manager = north["jordan"], north["manager"]
    needs.add_unavailability(manager, jordan, day_of_week=0, start=time(12, 30), end=time(18), reason="Work")
    needs.add_unavailability(manager, jordan, day_of_week=0, start=time(7), end=time(10), reason="School run")
    assert membership.allocate(manager, north["monday"], jordan).membership.group_id == north["monday"].id


def test_the_allocate_page_refuses_through_the_same_rule(browser, north):  # type: ignore[no-untyped-def]
    needs.add_excluded_location(north["manager"], north["jordan"], location="  room 1 ", reason="Victim lives nearby")
    browser.sign_in("tm.nw")
    group = north["monday"]
    page = browser.get(f"/groups/{group.id}/members/allocate").data.decode()
    assert "Group MON1 meets at Room 1, a location Jordan Smith cannot attend (Victim lives nearby)" in page
    response = browser.post(f"/groups/{group.id}/members/allocate", {"referral_id": str(north["jordan"].id)})
    assert response.status_code == 400 and "Not a valid choice" in response.data.decode()
    with pytest.raises(ServiceError, match="a location Jordan Smith cannot attend"):
        membership.allocate(north["manager"], group, north["jordan"])


def test_locations_are_recorded_matched_by_name_and_removed(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    jordan = north["jordan"]
    page = browser.get(f"/people/{jordan.id}/needs").data.decode()
    assert "The region&#39;s groups meet at: Room 1" in page and '<option value="Room 1">' in page
    response = browser.post(f"/people/{jordan.id}/needs/locations",
                            {"location-location": "ROOM 1", "location-reason": "No bus on Mondays"})
    assert response.status_code == 302
    twice = browser.post(f"/people/{jordan.id}/needs/locations",
                         {"location-location": "room  1", "location-reason": "Again"})
    assert twice.status_code == 400 and "room 1 is already a location Jordan Smith cannot attend" in twice.data.decode()
    find = browser.get(f"/referrals/{jordan.id}/groups").data.decode()
    assert "Group MON1 meets at Room 1, a location Jordan Smith cannot attend (No bus on Mondays)" in find
    assert "Groups that can take Jordan Smith (0)" in find  # THU1 also meets in Room 1
    place = db.session.scalar(select(ExcludedLocation))
    response = browser.post(f"/people/{jordan.id}/needs/locations/{place.id}/remove")
    assert response.status_code == 302
    assert "Removed: Jordan Smith can attend ROOM 1 again" in browser.get(f"/people/{jordan.id}/needs").data.decode()
    assert db.session.scalar(select(func.count(ExcludedLocation.id))) == 0
    assert [e.action for e in db.session.scalars(select(AuditEvent).where(AuditEvent.object_type == "referral")
                                                 .order_by(AuditEvent.id))] == [
        "referral.location_excluded", "referral.location_allowed"]
    assert "Groups that can take Jordan Smith (2)" in browser.get(f"/referrals/{jordan.id}/groups").data.decode()


def test_a_non_association_keeps_two_people_apart_both_ways(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    jordan, casey = north["jordan"], north["casey"]
    membership.allocate(north["manager"], north["monday"], casey)
    response = browser.post(f"/people/{jordan.id}/needs/non-associations",
                            {"association-crn": "n100002", "association-reason": "Co-defendants"})
    assert response.status_code == 302
    page = browser.get(f"/people/{jordan.id}/needs").data.decode()
    assert "Jordan Smith and Casey Jones will not be put in a group together" in page
    assert "Co-defendants" in page and "N100002" in page
    pair = db.session.scalar(select(NonAssociation))
    assert (pair.referral_id, pair.other_referral_id) == (jordan.id, casey.id)
    # audited on both people
    assert sorted(db.session.scalars(select(AuditEvent.object_id).where(
        AuditEvent.action == "referral.non_association_added"))) == sorted([jordan.id, casey.id])

    find = browser.get(f"/referrals/{jordan.id}/groups").data.decode()
    assert "Must not be in a group with Casey Jones (N100002)" in find
    assert "Jordan Smith must not be in a group with Casey Jones, who is in group MON1 (non-association)" in find
    refused = browser.post(f"/referrals/{jordan.id}/allocate", {"group_id": str(north["monday"].id)})
    assert refused.status_code == 400 and "(non-association)" in refused.data.decode()
    # the other way round: Jordan in THU1, Casey cannot join it
    membership.allocate(north["manager"], north["thursday"], jordan)
    db.session.refresh(casey)
    cm = db.session.scalar(select(Membership).where(Membership.referral_id == casey.id))
    membership.remove(north["manager"], cm, reason="Moving", new_status="Awaiting allocation")
    with pytest.raises(ServiceError, match="Casey Jones must not be in a group with Jordan Smith, who is in group THU1"):
        membership.allocate(north["manager"], north["thursday"], casey)
    # the person page of either shows it
    assert "Must not be in a group with Jordan Smith (N100001)" in browser.get(f"/people/{casey.id}").data.decode()


def test_a_non_association_between_two_people_already_together_says_so(browser, north):  # type: ignore[no-untyped-def]
    jordan, casey = north["jordan"], north["casey"]
    membership.allocate(north["manager"], north["monday"], jordan)
    membership.allocate(north["manager"], north["monday"], casey)
    browser.sign_in("tm.nw")
    response = browser.post(f"/people/{casey.id}/needs/non-associations",
                            {"association-crn": "N100001", "association-reason": "Threats"})
    assert response.status_code == 302
    page = browser.get(f"/people/{casey.id}/needs").data.decode()
    assert "They are both in group MON1 now: remove one of them from it" in page
    assert "Both in group MON1" in page
    pair = db.session.scalar(select(NonAssociation))
    assert browser.post(f"/people/{casey.id}/needs/non-associations/{pair.id}/remove").status_code == 302
    assert "Removed: Casey Jones and Jordan Smith may be in a group together" in \
        browser.get(f"/people/{casey.id}/needs").data.decode()
    assert db.session.scalar(select(func.count(NonAssociation.id))) == 0


@pytest.mark.parametrize(("data", "message"), [
    ({"time-day_of_week": "-1", "time-start_time": "09:00", "time-end_time": "17:00", "time-reason": "Work"},
     "Choose the day they cannot attend"),
    ({"time-day_of_week": "0", "time-start_time": "", "time-end_time": "17:00", "time-reason": "Work"},
     "Enter the time they cannot attend from, like 09:00"),
    ({"time-day_of_week": "0", "time-start_time": "17:00", "time-end_time": "09:00", "time-reason": "Work"},
     "The end time must be after the start time"),
    ({"time-day_of_week": "0", "time-start_time": "09:00", "time-end_time": "17:00", "time-reason": "  "},
     "Enter why they cannot attend then, for example work"),
    ({"time-day_of_week": "0", "time-start_time": "9 o&#39;clock", "time-end_time": "17:00", "time-reason": "W"},
     "Not a valid time value"),
])
def test_a_time_that_cannot_be_recorded_says_why(browser, north, data, message):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    response = browser.post(f"/people/{north['jordan'].id}/needs/times", data)
    assert response.status_code == 400
    page = response.data.decode()
    assert message in page and page.count("There is a problem") == 1 and "<title>Error: " in page
    assert db.session.scalar(select(func.count(Unavailability.id))) == 0


@pytest.mark.parametrize(("crn", "message"), [
    ("", "Enter the CRN of the person they must not be in a group with"),
    ("N100001", "Enter someone else&#39;s CRN"),
    ("L900001", "Nobody with CRN L900001 has a referral in this region"),
])
def test_a_non_association_that_cannot_be_recorded_says_why(browser, north, world, crn, message):  # type: ignore[no-untyped-def]
    world.referral(world.region("LDN", "London"), "Larry London", "L900001")
    browser.sign_in("tm.nw")
    response = browser.post(f"/people/{north['jordan'].id}/needs/non-associations",
                            {"association-crn": crn, "association-reason": "Reason"})
    assert response.status_code == 400 and message in response.data.decode()


def test_everyone_sees_what_a_person_cannot_do_and_only_managers_change_it(browser, north):  # type: ignore[no-untyped-def]
    jordan = north["jordan"]
    needs.add_unavailability(north["manager"], jordan, day_of_week=2, start=time(13), end=time(15), reason="Carer")
    browser.sign_in("lead.nw")
    page = browser.get(f"/people/{jordan.id}").data.decode()
    assert "Before allocating" in page and "Cannot attend on Wednesdays 13:00–15:00 (Carer)" in page
    assert "Change what Jordan Smith cannot do" not in page
    assert browser.get(f"/people/{jordan.id}/needs").status_code == 403
    assert _add_time(browser, jordan).status_code == 403
    row = db.session.scalar(select(Unavailability))
    assert browser.post(f"/people/{jordan.id}/needs/times/{row.id}/remove").status_code == 403
    assert db.session.scalar(select(func.count(Unavailability.id))) == 1


def test_another_regions_manager_gets_404(browser, north, world):  # type: ignore[no-untyped-def]
    london = world.region("LDN", "London")
    world.user(london, "treatment_manager", "tm.ldn")
    jordan = north["jordan"]
    row = needs.add_unavailability(north["manager"], jordan, day_of_week=2, start=time(13), end=time(15), reason="C")
    browser.sign_in("tm.ldn")
    assert browser.get(f"/people/{jordan.id}/needs").status_code == 404
    assert _add_time(browser, jordan).status_code == 404
    assert browser.post(f"/people/{jordan.id}/needs/times/{row.id}/remove").status_code == 404
    assert db.session.scalar(select(func.count(Unavailability.id))) == 1


def test_someone_elses_row_is_404(browser, north):  # type: ignore[no-untyped-def]
    row = needs.add_unavailability(north["manager"], north["casey"], day_of_week=2, start=time(13), end=time(15),
                                   reason="C")
    browser.sign_in("tm.nw")
    assert browser.post(f"/people/{north['jordan'].id}/needs/times/{row.id}/remove").status_code == 404
    assert db.session.scalar(select(func.count(Unavailability.id))) == 1


def test_suggested_one_to_ones_go_round_the_times_they_cannot_attend(browser, world):  # type: ignore[no-untyped-def]
    region = world.region("NW", "North West")
    lead = world.facilitator(region, "Fran Lead")
    manager = world.user(region, "treatment_manager", "tm.nw")
    alex = world.referral(region, "Alex Able")
    group = world.started(world.group(manager, "BC1", lead=lead, members=(alex,)), manager)
    clock.freeze(datetime(2026, 3, 16, 9))
    placeholder = db.session.scalar(select(Session).where(Session.group_id == group.id,
                                                          Session.starts_at == datetime(2026, 3, 23, 10)))
    browser.sign_in("tm.nw")
    assert "Suggested: Mon 23 Mar, 10:00–11:00" in browser.get(
        f"/sessions/{placeholder.id}/one-to-ones").data.decode()
    needs.add_unavailability(manager, alex, day_of_week=0, start=time(9), end=time(13), reason="Work")
    needs.add_unavailability(manager, alex, day_of_week=0, start=time(14), end=time(17), reason="Work")
    page = browser.get(f"/sessions/{placeholder.id}/one-to-ones").data.decode()
    assert "Suggested: Mon 23 Mar, 13:00–14:00" in page
    needs.add_unavailability(manager, alex, day_of_week=0, start=time(13), end=time(14), reason="Lunch")
    page = browser.get(f"/sessions/{placeholder.id}/one-to-ones").data.decode()
    assert "Suggested: Tue 24 Mar, 09:00–10:00" in page


def test_recording_a_time_their_current_group_meets_says_so(browser, north):  # type: ignore[no-untyped-def]
    jordan = north["jordan"]
    membership.allocate(north["manager"], north["monday"], jordan)
    browser.sign_in("tm.nw")
    assert _add_time(browser, jordan, start="11:00", end="12:00", reason="New job").status_code == 302
    page = browser.get(f"/people/{jordan.id}/needs").data.decode()
    assert "They are in a group that does not fit any more: Group MON1 meets on Monday 10:00–12:30, when Jordan " \
           "Smith cannot attend (Mondays 11:00–12:00: New job). Talk to them, or remove them from the group and " \
           "find another." in page
    assert _add_time(browser, jordan, day="2", reason="Gym").status_code == 302  # MON1 still clashes on Monday
    assert "does not fit any more: Group MON1" in browser.get(f"/people/{jordan.id}/needs").data.decode()
    response = browser.post(f"/people/{north['casey'].id}/needs/locations",
                            {"location-location": "Elsewhere", "location-reason": "Far"})
    assert response.status_code == 302
    assert "does not fit any more" not in browser.get(f"/people/{north['casey'].id}/needs").data.decode()
