"""The person's page (issue 14.5) and the two sources of truth shown on it (14.3)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from app import clock
from app.extensions import db
from app.integrations.probation_cases import Case, Component
from app.models import CaseDisagreement, Session
from app.services import attendance, case_data, membership


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
    try:
        membership.allocate(manager, group, sam)
    except Exception as exc:  # noqa: BLE001
        assert "no further appointments" in str(exc).lower()
    else:
        raise AssertionError("allocation should be refused")


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
