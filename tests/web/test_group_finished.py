"""A group's end (issue 15.4): shown as Finished once its last session is past and recorded, closed by a lead,
its members' statuses following the completion rules."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Attendee, AuditEvent, Group, Membership, Referral, Session
from app.services import attendance

LAST_SESSION = datetime(2026, 11, 30, 10)  # the post-programme review of a group starting Mon 23 Mar 2026


@pytest.fixture
def ended(world):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 3, 1, 9))
    region = world.region("NW", "North West")
    manager = world.user(region, "treatment_manager", "tm.nw")
    world.user(region, "lead", "lead.nw", name="Lee Lead")
    world.user(region, "facilitator", "fac.nw")
    london = world.region("LDN", "London")
    world.user(london, "lead", "lead.ldn")
    people = (world.referral(region, "Alex Able"), world.referral(region, "Billie Brown"),
              world.referral(region, "Casey Cole"))
    group = world.started(world.group(manager, "BC1", members=people), manager)
    clock.freeze(datetime(2026, 12, 1, 9))
    return {"group": group, "manager": manager, "people": people}


def _record_all(ended, *, skip_last_for: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """Alex attends everything (completes); Billie misses one session; Casey is deferred half way."""
    manager = ended["manager"]
    attendees = db.session.scalars(
        select(Attendee).join(Session, Session.id == Attendee.session_id)
        .where(Session.group_id == ended["group"].id).order_by(Session.starts_at, Attendee.id)).all()
    first = attendees[0].session_id
    for attendee in attendees:
        name = attendee.referral.person_name
        if skip_last_for == name and attendee.session.starts_at == LAST_SESSION:
            continue
        missed = name == "Billie Brown" and attendee.session_id == first
        attendance.record(manager, attendee, outcome="UAAB" if missed else "ATTC")
    db.session.commit()
    casey = db.session.scalar(select(Referral).where(Referral.person_name == "Casey Cole"))
    casey.status = "Deferred"
    db.session.commit()


def _group_row(page: str, code: str) -> str:
    start = page.index(f">{code}</a>")
    return page[start:page.index("</tr>", start)]


def test_a_started_group_whose_last_session_is_past_but_not_recorded_is_not_finished(browser, ended):  # type: ignore[no-untyped-def]
    _record_all(ended, skip_last_for="Billie Brown")
    browser.sign_in("lead.nw")
    assert 'govuk-tag--green">Started</strong>' in _group_row(browser.get("/groups").data.decode(), "BC1")
    page = browser.get(f"/groups/{ended['group'].id}").data.decode()
    assert ("The group's last session was on 30 November 2026. 1 outcome still to record before the group can "
            "be closed.") in page
    assert "Close group BC1" not in page
    response = browser.post(f"/groups/{ended['group'].id}/close")
    assert response.status_code == 409
    assert "Group BC1 cannot be closed yet: 1 outcome still to record at its sessions" in response.data.decode()
    db.session.expire_all()
    assert db.session.get(Group, ended["group"].id).closed_at is None


def test_a_group_before_its_last_session_cannot_be_closed(browser, ended):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 11, 1, 9))
    browser.sign_in("lead.nw")
    response = browser.post(f"/groups/{ended['group'].id}/close")
    assert response.status_code == 409
    assert "Group BC1 cannot be closed yet: its last session is on 30 November 2026" in response.data.decode()


def test_a_finished_group_shows_finished_and_a_lead_closes_it(browser, ended):  # type: ignore[no-untyped-def]
    _record_all(ended)
    group_id = ended["group"].id
    browser.sign_in("lead.nw")
    assert 'govuk-tag--blue">Finished</strong>' in _group_row(browser.get("/groups").data.decode(), "BC1")
    page = browser.get(f"/groups/{group_id}").data.decode()
    assert "The group's last session was on 30 November 2026 and every outcome is recorded." in page
    assert "Close group BC1</button>" in page

    response = browser.post(f"/groups/{group_id}/close")
    assert response.status_code == 302 and response.headers["Location"] == f"/groups/{group_id}"
    page = browser.get(f"/groups/{group_id}").data.decode()
    assert ("Group BC1 closed: 1 programme complete, 1 back on the waiting list to finish in another group, "
            "1 kept their status.") in page
    assert "Closed on 1 December 2026 by Lee Lead." in page
    assert "Members (0 of 12)" in page and "Everyone left the group when it was closed." in page
    assert "Allocate someone" not in page
    assert 'govuk-tag--grey">Closed</strong>' in _group_row(browser.get("/groups").data.decode(), "BC1")

    db.session.expire_all()
    statuses = {r.person_name: r.status for r in db.session.scalars(select(Referral))}
    assert statuses == {"Alex Able": "Programme complete", "Billie Brown": "Awaiting allocation",
                        "Casey Cole": "Deferred"}
    memberships = db.session.scalars(select(Membership).order_by(Membership.id)).all()
    assert all(m.left_at is not None for m in memberships)
    assert [m.left_status for m in memberships] == ["Programme complete", "Awaiting allocation", "Deferred"]
    assert {m.left_reason for m in memberships} == {"The group finished and was closed"}
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "group.closed"))
    assert (event.after["programme_complete"], event.after["awaiting_allocation"], event.after["status_kept"]) == \
        (1, 1, 1)
    # closing twice says so
    again = browser.post(f"/groups/{group_id}/close")
    assert again.status_code == 409 and "Group BC1 is already closed" in again.data.decode()
    # Billie is back on the waiting list, with the group they left
    waiting = browser.get("/referrals").data.decode()
    assert "Billie Brown" in waiting


def test_facilitators_cannot_close_a_group_and_other_regions_do_not_see_it(browser, ended):  # type: ignore[no-untyped-def]
    _record_all(ended)
    browser.sign_in("fac.nw")
    assert browser.post(f"/groups/{ended['group'].id}/close").status_code == 403
    assert "Close group BC1" not in browser.get(f"/groups/{ended['group'].id}").data.decode()
    browser.sign_in("lead.ldn")
    assert browser.post(f"/groups/{ended['group'].id}/close").status_code == 404


def test_a_closed_group_can_no_longer_be_edited(browser, ended):  # type: ignore[no-untyped-def]
    _record_all(ended)
    browser.sign_in("tm.nw")
    assert browser.post(f"/groups/{ended['group'].id}/close").status_code == 302
    group = db.session.get(Group, ended["group"].id)
    response = browser.post(f"/groups/{group.id}/edit", {
        "code": "BC9", "cohort": "general", "sex": "male", "delivery_location": "Room 1", "location_code": "",
        "treatment_manager_id": "0", "version": str(group.version)})
    assert response.status_code == 400
    assert "Group BC1 is closed: it can no longer be changed" in response.data.decode()
