"""The person's page (issue 14.5) and the two sources of truth shown on it (14.3)."""
from __future__ import annotations

import re
from datetime import datetime

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.integrations.probation_cases import Case, Component
from app.models import CaseDisagreement, Membership, Session
from app.services import attendance, case_data, membership
from app.services.errors import ServiceError


def test_the_person_page_shows_both_sources_history_groups_sessions_and_completion(app, world, browser):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 9, 1, 9))
    region = world.region()
    manager = world.user(region, "treatment_manager", "tm")
    alex = world.referral(region, "Alex Able", crn="X500001")
    case_data.record_referral(alex)
    case_data.apply_case(alex, Case("X500001", "Alexander Able", None, "male", "NW",
                                    (Component(alex.requirement_id, 1, None, None),), ()))
    db.session.commit()
    group = world.started(world.group(manager, "BC1", members=(alex,)), manager)
    first = db.session.scalar(select(Session).where(Session.group_id == group.id).order_by(Session.starts_at))
    attendee = next(a for a in first.attendees if a.referral_id == alex.id)
    attendance.record(manager, attendee, outcome="ATTC", seen_version=None, notes="Engaged well")
    db.session.commit()

    browser.sign_in("tm")
    page = browser.get(f"/people/{alex.id}").get_data(as_text=True)
    assert "Alexander Able" in page  # nDelius wins
    assert "Alex Able" in page and "The referral and nDelius disagree (1)" in page
    assert "Engaged well" in page and "app-outcome--ATTC" in page
    assert "BC1" in page and "(current)" in page
    assert "Awaiting allocation → <strong>Scheduled</strong>" in page
    assert "On programme" in page  # after the attended session
    assert "1. Pre-group one-to-ones</strong>:\n    <strong class=\"govuk-tag govuk-tag--green\">Complete" in page

    [open_] = case_data.open_disagreements(referral_id=alex.id)
    refused = browser.post(f"/people/{alex.id}/disagreements/{open_.id}/resolve", {"note": ""})
    assert refused.status_code == 400 and "Say what you have done" in refused.get_data(as_text=True)
    done = browser.post(f"/people/{alex.id}/disagreements/{open_.id}/resolve",
                        {"note": "Asked the probation practitioner to correct the referral"})
    assert done.status_code == 302
    assert db.session.get(CaseDisagreement, open_.id).resolved_at is not None
    assert "disagree" not in browser.get(f"/people/{alex.id}").get_data(as_text=True)


def test_a_terminated_requirement_shows_on_the_person_and_stops_allocation(app, world, browser):  # type: ignore[no-untyped-def]
    region = world.region()
    manager = world.user(region, "treatment_manager", "tm")
    sam = world.referral(region, "Sam Smith", crn="X500002")
    case_data.record_referral(sam)
    case_data.apply_case(sam, Case("X500002", "Sam Smith", None, "male", "NW",
                                   (Component(sam.requirement_id, 1, None, datetime(2026, 5, 1).date()),), ()))
    db.session.commit()
    browser.sign_in("tm")
    page = browser.get(f"/people/{sam.id}").get_data(as_text=True)
    assert "No further appointments" in page and "ended on 1 May 2026" in page
    group = world.group(manager, "BC2")
    with pytest.raises(ServiceError, match="^" + re.escape(
            f"No further appointments can be made for Sam Smith: nDelius shows this person's requirement "
            f"{sam.requirement_id} as ended on 1 May 2026: no further appointments can be made for them until it is "
            "replaced in nDelius") + "$") as refused:
        membership.allocate(manager, group, sam)
    assert refused.value.field == "referral_id"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Membership)) == 0  # nothing written


def test_ndelius_refusing_a_terminated_requirement_stops_further_appointments(app, world, case_ndelius):  # type: ignore[no-untyped-def]
    from app.models import NDeliusAppointment, Referral
    from app.services import ndelius_sync

    clock.freeze(datetime(2026, 3, 1, 9))
    case_ndelius.set(now="2026-03-01T09:00")
    region = world.region()
    manager = world.user(region, "treatment_manager", "tm")
    kim = world.referral(region, "Kim Wood", crn="X500003")
    group = world.group(manager, "BC3", members=(kim,))
    group.location_code = "LOC1"
    db.session.commit()
    world.started(group, manager)
    case_ndelius.set(terminated_requirements=[kim.requirement_id])
    ndelius_sync.drain(breaker=False)
    db.session.expire_all()
    kim = db.session.get(Referral, kim.id)
    assert kim.requirement_terminated_at is not None and "Invalid Requirement IDs" in kim.requirement_terminated_reason
    states = {a.sync_state for a in db.session.scalars(select(NDeliusAppointment))}
    assert states == {"needs_attention"}
    reasons = {a.last_error for a in db.session.scalars(select(NDeliusAppointment))}
    assert all("requirement" in r for r in reasons)
    # and once out of the group, nobody can allocate them to another while nDelius refuses their requirement
    membership.remove(manager, membership.active_membership(kim), reason="Requirement ended",
                      new_status="Awaiting allocation")
    db.session.commit()
    with pytest.raises(ServiceError, match="^" + re.escape(
            "No further appointments can be made for Kim Wood: nDelius refused an appointment because it no longer "
            "accepts this person's requirement or licence condition (\"Invalid Requirement IDs\"): it may have been "
            "terminated. No further appointments can be made for them until it is put right in nDelius") + "$"):
        membership.allocate(manager, world.group(manager, "BC4"), kim)


def _rows(html: str, heading_id: str) -> list[str]:
    """The text of each body row of the table under the heading with this id."""
    section = html.split(f'id="{heading_id}"', 1)[1].split("</table>", 1)[0].split("<tbody", 1)[1]
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split())
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", section, re.DOTALL)]


def test_the_person_page_shows_bus_stopping_and_a_catch_up_against_the_session_it_replaces(app, world, browser):  # type: ignore[no-untyped-def]
    """Issue 14.5: someone who missed 2.1 in group A and caught up, then left A (bus stopping) and joined B at
    their point: both groups are listed with when they joined and left, and the catch-up is listed with the
    session it replaces."""
    from datetime import date, time

    from app.models import Attendee
    from app.scheduling import Slot
    from app.services import catch_ups as catch_up

    tuesday = Slot(1, time(10))
    clock.freeze(datetime(2026, 3, 1, 9))
    region = world.region()
    manager = world.user(region, "treatment_manager", "tm")
    bo = world.referral(region, "Bo Stop", crn="X500004")
    group_a = world.group(manager, "A", start=date(2026, 3, 3), slots=(tuesday,))
    first = membership.allocate(manager, group_a, bo).membership
    world.started(group_a, manager)

    def attendee_at(group, number):  # type: ignore[no-untyped-def]
        return next(a for a in db.session.scalars(select(Attendee).join(Session).where(
            Session.group_id == group.id, Attendee.referral_id == bo.id, Session.kind == "scheduled"))
            if (a.session.session_template.module.module_number, a.session.session_template.session_number)
            == number)

    clock.freeze(datetime(2026, 3, 25, 12))
    missed = attendee_at(group_a, (2, 1))
    attendance.record(manager, missed, outcome="UAAB", seen_version=None)
    db.session.commit()
    lead = next(sf.facilitator_id for sf in missed.session.facilitators if sf.role == "lead")
    caught_up = catch_up.schedule(manager, missed.session, referral_ids=[bo.id], on=date(2026, 3, 27),
                                  at=time(14), facilitator_id=lead, key="bo-catch-up")
    db.session.commit()

    clock.freeze(datetime(2026, 4, 22, 12))
    attendance.record(manager, caught_up.attendees[0], outcome="ATTC", seen_version=None, notes="Caught up")
    for number in ((1, 1), (2, 2), (2, 3), (3, 1), (3, 2)):
        attendance.record(manager, attendee_at(group_a, number), outcome="ATTC", seen_version=None)
    db.session.commit()
    membership.remove(manager, first, reason="Moved house", new_status="Awaiting allocation")
    db.session.commit()
    clock.freeze(datetime(2026, 4, 23, 12))
    group_b = world.started(world.group(manager, "B", start=date(2026, 3, 3), slots=(tuesday,)), manager)
    membership.allocate(manager, group_b, bo)

    browser.sign_in("tm")
    page = browser.get(f"/people/{bo.id}").get_data(as_text=True)
    groups = page.split('id="groups"', 1)[1].split("</ul>", 1)[0]
    items = re.findall(r"<li>(.*?)</li>", groups, re.DOTALL)
    assert [" ".join(re.sub(r"<[^>]+>", " ", item).split()) for item in items] == [
        ("Group A : joined 1 Mar 2026 09:00, left 22 Apr 2026 12:00 (Awaiting allocation): Moved house – bus "
         "stopping: may rejoin a group at the same point within 12 weeks"),
        "Group B : joined 23 Apr 2026 12:00 (current)",
    ]
    rows = _rows(page, "sessions")
    assert rows[1:3] == [
        "24 Mar 2026, 10:00 Getting started: Introduction to Building Choices Group A ✗ Did not attend",
        ("27 Mar 2026, 14:00 Getting started: Introduction to Building Choices Catch-up Catch-up for the session on "
         "24 Mar 2026 A ✓ Attended Caught up"),
    ]
    assert f'Catch-up for <a class="govuk-link" href="/sessions/{missed.session_id}">the session on 24 Mar 2026</a>' in page
    assert page.count("Catch-up for ") == 1  # only the catch-up says what it replaces
    # the sessions of A after they left stay listed, no longer expected; B's are theirs now
    assert "28 Apr 2026, 10:00 Managing myself: Managing my feelings, part 1 Group A no longer expected (left the " \
           "group) … To be confirmed" in rows
    assert "28 Apr 2026, 10:00 Managing myself: Managing my feelings, part 1 Group B … To be confirmed" in rows
