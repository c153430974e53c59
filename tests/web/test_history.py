from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Attendee, Session
from app.services import attendance


def test_group_and_session_history_show_who_changed_what(browser, world):  # type: ignore[no-untyped-def]
    region = world.region()
    manager = world.user(region, "treatment_manager", "tm.nw")
    person = world.referral(region, "Pat Example")
    group = world.started(world.group(manager, "HIST1", members=(person,)), manager)
    session = db.session.scalars(select(Session).where(Session.group_id == group.id)).first()
    attendee = db.session.scalar(select(Attendee).where(Attendee.session_id == session.id))
    attendance.record(manager, attendee, outcome="UAAB", seen_version=None)
    db.session.commit()
    browser.sign_in("tm.nw")
    page = browser.get(f"/groups/{group.id}/history").data.decode()
    assert "Group created" in page and "Group schedule generated" in page and manager.name in page
    session_page = browser.get(f"/sessions/{session.id}/history").data.decode()
    assert "Attendance recorded" in session_page and "UAAB" in session_page


def test_another_regions_history_is_not_found(browser, world):  # type: ignore[no-untyped-def]
    north, london = world.region("NW", "North"), world.region("LDN", "London")
    group = world.started(world.group(world.user(north, "treatment_manager")), world.user(north, "admin"))
    world.user(london, "lead", "lead.ldn")
    session = db.session.scalars(select(Session).where(Session.group_id == group.id)).first()
    browser.sign_in("lead.ldn")
    assert browser.get(f"/groups/{group.id}/history").status_code == 404
    assert browser.get(f"/sessions/{session.id}/history").status_code == 404
