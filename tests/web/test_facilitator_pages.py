"""Changing facilitators through the pages, with the double-booking warning; a facilitator's own sessions."""
from __future__ import annotations

from datetime import datetime, time

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Session
from app.scheduling import Slot
from tests.conftest import Browser


@pytest.fixture
def north(world):  # type: ignore[no-untyped-def]
    region = world.region("NW", "North West")
    fran = world.facilitator(region, "Fran Lead")
    nia = world.facilitator(region, "Nia New")
    manager = world.user(region, "treatment_manager", "tm.nw")
    world.user(region, "facilitator", "fac.nw", facilitator=fran)
    world.user(region, "lead", "lead.nw")
    world.user(region, "facilitator", "unlinked.nw")
    people = tuple(world.referral(region) for _ in range(2))
    group = world.started(world.group(manager, "BC1", lead=fran, members=people), manager)
    other = world.started(world.group(manager, "BC2", lead=nia, slots=(Slot(0, time(11)),)), manager)
    clock.freeze(datetime(2026, 5, 1, 12))
    return {"region": region, "fran": fran, "nia": nia, "group": group, "other": other}


def _future(group):  # type: ignore[no-untyped-def]
    return db.session.scalars(select(Session).where(Session.group_id == group.id,
                                                    Session.starts_at > clock.now_local())
                              .order_by(Session.starts_at)).all()


def test_changing_the_group_lead_warns_about_a_double_booking_then_saves_anyway(browser, north):  # type: ignore[no-untyped-def]
    group = north["group"]
    browser.sign_in("tm.nw")
    show = browser.get(f"/groups/{group.id}").data.decode()
    assert f'href="/groups/{group.id}/facilitators"' in show
    page = browser.get(f"/groups/{group.id}/facilitators").data.decode()
    assert "Change the group&#39;s facilitators" in page or "Change the group's facilitators" in page
    assert "Future sessions" in page

    warned = browser.post(f"/groups/{group.id}/facilitators", {"lead_facilitator_id": str(north["nia"].id)})
    text = warned.data.decode()
    assert warned.status_code == 409
    assert "Nia New is already booked at the same time. Nothing has been saved yet." in text
    assert ("Nia New is already booked on group BC2, 3.1 Understanding my feelings, Mon 11 May 2026 11:00–13:30 at "
            "Room 1 – overlaps 3.1 at 10:00") in text
    assert all(s.lead_facilitator.name == "Fran Lead" for s in _future(group))

    key = text.split('name="accepted" value="')[1].split('"')[0]
    saved = browser.post(f"/groups/{group.id}/facilitators",
                         {"lead_facilitator_id": str(north["nia"].id), "accepted": key})
    assert saved.status_code == 302
    assert all(s.lead_facilitator.name == "Nia New" for s in _future(group))
    shown = browser.get(f"/groups/{group.id}").data.decode()
    assert "Facilitators of group BC1 saved. 23 sessions updated, 46 nDelius appointments to update." in shown
    assert "19 double bookings accepted." in shown  # every future group session; the one-to-ones end at 11:00


def test_a_team_without_a_lead_is_refused_next_to_the_field(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    response = browser.post(f"/groups/{north['group'].id}/facilitators",
                            {"lead_facilitator_id": "0", "cover_facilitator_ids": [str(north["nia"].id)]})
    assert response.status_code == 400
    assert b"Choose a lead facilitator" in response.data and b"govuk-error-summary" in response.data


def test_changing_one_sessions_facilitators(browser, north):  # type: ignore[no-untyped-def]
    session = _future(north["group"])[1]  # 18 May, BC2 is not booked with Fran at that hour
    browser.sign_in("tm.nw")
    url = f"/groups/{north['group'].id}/sessions/{session.id}/facilitators"
    page = browser.get(url).data.decode()
    assert "Facilitators of 3.2 Helpful and unhelpful feelings" in page
    response = browser.post(url, {"lead_facilitator_id": str(north["fran"].id),
                                  "cover_facilitator_ids": [str(north["nia"].id)]})
    assert response.status_code == 409 and b"Nia New is already booked on group BC2" in response.data
    response = browser.post(url, {"lead_facilitator_id": str(north["nia"].id), "cover_facilitator_ids": []})
    assert response.status_code == 409
    db.session.refresh(session)
    assert session.lead_facilitator.name == "Fran Lead"


def test_a_session_of_another_group_is_not_found(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    other_session = _future(north["other"])[0]
    assert browser.get(f"/groups/{north['group'].id}/sessions/{other_session.id}/facilitators").status_code == 404


def test_a_facilitator_sees_their_own_sessions_by_week(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("fac.nw")
    assert b'href="/facilitators/mine"' in browser.get("/facilitators").data
    mine = browser.get("/facilitators/mine")
    assert mine.status_code == 302 and mine.headers["Location"].endswith(f"/facilitators/{north['fran'].id}")
    page = browser.get(f"/facilitators/{north['fran'].id}").data.decode()
    assert "My sessions" in page and "Week commencing 27 April 2026" in page and "This week" in page
    assert "Week commencing 11 May 2026" in page and "BC1" in page and "BC2" not in page
    assert "Change<span" not in page  # facilitators cannot change teams
    earlier = browser.get(f"/facilitators/{north['fran'].id}?past=1").data.decode()
    assert "Week commencing 23 March 2026" in earlier and "Week commencing 11 May 2026" not in earlier


def test_an_unlinked_facilitator_account_is_told_so(app, north):  # type: ignore[no-untyped-def]
    person = Browser(app, app.test_client())
    person.sign_in("unlinked.nw")
    assert b"not linked to a facilitator record" in person.get("/facilitators/mine").data


def test_managers_and_leads_see_the_region_facilitators(browser, north, world):  # type: ignore[no-untyped-def]
    stranger = world.facilitator(world.region("LDN", "London"), "Lon Don")
    browser.sign_in("lead.nw")
    page = browser.get("/facilitators").data.decode()
    assert "Fran Lead" in page and "Nia New" in page and "Lon Don" not in page
    assert browser.get(f"/facilitators/{stranger.id}").status_code == 404
    assert browser.get(f"/groups/{north['group'].id}/facilitators").status_code == 403
