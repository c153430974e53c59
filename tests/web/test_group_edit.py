"""Editing a group after it was created and after it started (issue 15.1): the audit trail, the members still
matching, nDelius told of a new location for the sessions to come, the schedule guard and two editors at once."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import Attendee, AuditEvent, Group, NDeliusAppointment, Operation, OutboxItem, Session
from app.services.ndelius_plan import appointment_payload


@pytest.fixture
def north(world):  # type: ignore[no-untyped-def]
    region = world.region("NW", "North West")
    manager = world.user(region, "treatment_manager", "tm.nw", name="Terry Manager")
    other_tm = world.user(region, "treatment_manager", "tm2.nw", name="Tess Other")
    london = world.region("LDN", "London")
    ldn_tm = world.user(london, "treatment_manager", "tm.ldn", name="Lon Manager")
    world.user(region, "facilitator", "fac.nw")
    world.user(region, "lead", "lead.nw")
    people = (world.referral(region, "Alex Able"), world.referral(region, "Billie Brown"))
    group = world.group(manager, "BC1", members=people)
    group.location_code = "OFF1"
    db.session.commit()
    return {"region": region, "manager": manager, "other_tm": other_tm, "ldn_tm": ldn_tm, "group": group}


def _form(group: Group, **overrides):  # type: ignore[no-untyped-def]
    form = {"code": group.code, "cohort": group.cohort, "sex": group.sex,
            "delivery_location": group.delivery_location, "location_code": group.location_code or "",
            "treatment_manager_id": str(group.treatment_manager_id or 0), "version": str(group.version)}
    if group.learning_disability:
        form["learning_disability"] = "y"
    form.update(overrides)
    return form


def test_the_edit_page_shows_the_group_as_it_is(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    response = browser.get(f"/groups/{north['group'].id}/edit")
    assert response.status_code == 200
    page = response.data.decode()
    assert "Change the group&#39;s details" in page or "Change the group's details" in page
    assert 'value="BC1"' in page and 'value="Room 1"' in page and 'value="OFF1"' in page
    assert f'<option selected value="{north["manager"].id}">Terry Manager</option>' in page
    assert "Tess Other" in page and "Lon Manager" not in page  # treatment managers of the group's region only
    assert 'name="csrf_token"' in page


def test_facilitators_and_leads_cannot_edit_a_group(browser, north):  # type: ignore[no-untyped-def]
    for username in ("fac.nw", "lead.nw"):
        browser.sign_in(username)
        assert browser.get(f"/groups/{north['group'].id}/edit").status_code == 403
        assert browser.post(f"/groups/{north['group'].id}/edit", _form(north["group"])).status_code == 403


def test_another_regions_group_is_not_found(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.ldn")
    assert browser.get(f"/groups/{north['group'].id}/edit").status_code == 404


def test_editing_a_group_before_it_starts_saves_every_field_with_its_audit(browser, north):  # type: ignore[no-untyped-def]
    group = north["group"]
    for m in group.active_memberships:  # a general, male-only group with nobody in it can become anything
        db.session.delete(m)
    db.session.commit()
    browser.sign_in("tm.nw")
    response = browser.post(f"/groups/{group.id}/edit", _form(
        group, code="BC1-F", cohort="sexual", sex="female", learning_disability="y",
        delivery_location="Bolton Office, room 4", location_code="n07off2",
        treatment_manager_id=str(north["other_tm"].id)))
    assert response.status_code == 302 and response.headers["Location"] == f"/groups/{group.id}"
    db.session.expire_all()
    group = db.session.get(Group, group.id)
    assert (group.code, group.cohort, group.sex, group.learning_disability, group.delivery_location,
            group.location_code, group.treatment_manager_id) == (
        "BC1-F", "sexual", "female", True, "Bolton Office, room 4", "N07OFF2", north["other_tm"].id)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "group.edited"))
    assert event.before == {"code": "BC1", "cohort": "general", "sex": "male", "learning_disability": False,
                            "delivery_location": "Room 1", "location_code": "OFF1",
                            "treatment_manager": "Terry Manager"}
    assert event.after == {"code": "BC1-F", "cohort": "sexual", "sex": "female", "learning_disability": True,
                           "delivery_location": "Bolton Office, room 4", "location_code": "N07OFF2",
                           "treatment_manager": "Tess Other"}
    page = browser.get(f"/groups/{group.id}").data.decode()
    assert ("Group BC1-F saved: group code, cohort, sex, LDC setting, delivery location, nDelius office location "
            "code and treatment manager changed.") in page
    assert "Bolton Office, room 4" in page and "(nDelius office N07OFF2)" in page and "Tess Other" in page
    history = browser.get(f"/groups/{group.id}/history").data.decode()
    assert "Group edited" in history and "Bolton Office, room 4" in history


def test_a_new_sex_a_member_does_not_match_is_refused_naming_them(browser, north):  # type: ignore[no-untyped-def]
    group = north["group"]
    browser.sign_in("tm.nw")
    response = browser.post(f"/groups/{group.id}/edit", _form(group, sex="female"))
    assert response.status_code == 400
    page = response.data.decode()
    assert ("The group cannot become a female group: Alex Able and Billie Brown are male. Remove them from the "
            "group first, or keep it male.") in page
    assert "govuk-error-summary" in page
    db.session.expire_all()
    assert db.session.get(Group, group.id).sex == "male"
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "group.edited")) == 0
    # mixed fits everyone
    assert browser.post(f"/groups/{group.id}/edit", _form(group, sex="mixed")).status_code == 302


def test_a_new_cohort_or_ldc_setting_a_member_does_not_match_is_refused(browser, north):  # type: ignore[no-untyped-def]
    group = north["group"]
    alex = group.active_memberships[0].referral
    alex.cohort = "sexual"
    db.session.commit()
    browser.sign_in("tm.nw")
    response = browser.post(f"/groups/{group.id}/edit", _form(group, cohort="sexual"))
    assert response.status_code == 400
    assert ("The group cannot be for the sexual offence cohort: Billie Brown is in the general offence cohort. "
            "Remove them from the group first, or keep its cohort.") in response.data.decode()
    response = browser.post(f"/groups/{group.id}/edit", _form(group, learning_disability="y"))
    assert response.status_code == 400
    assert ("The group cannot become an LDC group: Alex Able and Billie Brown do not need one. Remove them from "
            "the group first, or keep the LDC setting.") in response.data.decode()


def test_a_code_another_group_of_the_region_has_is_refused(browser, north, world):  # type: ignore[no-untyped-def]
    world.group(north["manager"], "BC2")
    browser.sign_in("tm.nw")
    response = browser.post(f"/groups/{north['group'].id}/edit", _form(north["group"], code="BC2"))
    assert response.status_code == 400
    assert "A group with code BC2 already exists in your region" in response.data.decode()


def test_a_treatment_manager_of_another_region_is_refused(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    response = browser.post(f"/groups/{north['group'].id}/edit",
                            _form(north["group"], treatment_manager_id=str(north["ldn_tm"].id)))
    assert response.status_code == 400
    assert "Not a valid choice" in response.data.decode()


def test_a_save_over_someone_elses_change_is_refused_and_shows_theirs(browser, north):  # type: ignore[no-untyped-def]
    group = north["group"]
    browser.sign_in("tm.nw")
    stale = _form(group, delivery_location="Mine")
    assert browser.post(f"/groups/{group.id}/edit", _form(group, delivery_location="Theirs")).status_code == 302
    response = browser.post(f"/groups/{group.id}/edit", stale)
    assert response.status_code == 409
    page = response.data.decode()
    assert "Someone else changed this group while you were editing it." in page and 'value="Theirs"' in page
    db.session.expire_all()
    assert db.session.get(Group, group.id).delivery_location == "Theirs"


def _appointments(group_id: int, *, future: bool):  # type: ignore[no-untyped-def]
    now = clock.now_local()
    when = Session.starts_at > now if future else Session.starts_at <= now
    return list(db.session.scalars(
        select(NDeliusAppointment).join(Attendee, Attendee.id == NDeliusAppointment.attendee_id)
        .join(Session, Session.id == Attendee.session_id).where(Session.group_id == group_id, when)))


def test_a_new_location_after_the_start_moves_the_sessions_to_come_and_tells_ndelius(browser, north, world):  # type: ignore[no-untyped-def]
    group = world.started(north["group"], north["manager"])
    for appointment in db.session.scalars(select(NDeliusAppointment)):  # as if the relay had sent them
        appointment.sync_state, appointment.remote_state = "synced", "present"
    db.session.execute(OutboxItem.__table__.update().values(status="done"))
    db.session.commit()
    clock.freeze(datetime(2026, 5, 20, 9, 0))
    future = _appointments(group.id, future=True)
    past = _appointments(group.id, future=False)
    assert future and past
    browser.sign_in("tm.nw")
    response = browser.post(f"/groups/{group.id}/edit", _form(group, delivery_location="Bolton Office",
                                                             location_code="N07OFF9"))
    assert response.status_code == 302
    future_sessions = len({a.attendee.session_id for a in future})
    page = browser.get(f"/groups/{group.id}").data.decode()
    assert (f"Group BC1 saved: delivery location and nDelius office location code changed. {future_sessions} future "
            f"sessions now at the new location, {len(future)} nDelius appointments to update.") in page
    pending = set(db.session.scalars(select(OutboxItem.appointment_id).where(OutboxItem.status == "pending",
                                                                             OutboxItem.action == "update")))
    assert pending == {a.id for a in future}
    db.session.expire_all()
    for appointment in _appointments(group.id, future=True):
        assert appointment.attendee.session.location == "Bolton Office"
        assert appointment_payload(appointment)["location"] == {"code": "N07OFF9"}
    for appointment in _appointments(group.id, future=False):  # what happened stays where it happened
        assert appointment.attendee.session.location == "Room 1"
        assert appointment_payload(appointment)["location"] == {"code": "OFF1"}
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "group.edited"))
    assert event.after["future_sessions_moved"] == future_sessions
    assert event.after["appointments_updated"] == len(future)


def test_a_new_location_is_refused_while_the_schedule_is_being_rescheduled(browser, north, world):  # type: ignore[no-untyped-def]
    group = world.started(north["group"], north["manager"])
    db.session.add(Operation(kind="cascade", status="queued", user_id=north["manager"].id,
                             region_id=group.region_id, group_id=group.id))
    db.session.commit()
    browser.sign_in("tm.nw")
    response = browser.post(f"/groups/{group.id}/edit", _form(group, delivery_location="Elsewhere"))
    assert response.status_code == 409
    assert "A reschedule of this group is in progress. Wait for it to finish, then try again." in response.data.decode()
    db.session.expire_all()
    assert db.session.get(Group, group.id).delivery_location == "Room 1"
    # a change that touches no session is not held up
    assert browser.post(f"/groups/{group.id}/edit", _form(group, code="BC1A")).status_code == 302


def test_the_group_page_offers_the_change_to_managers_only(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    assert f'href="/groups/{north["group"].id}/edit"' in browser.get(f"/groups/{north['group'].id}").data.decode()
    browser.sign_in("fac.nw")
    assert "/edit" not in browser.get(f"/groups/{north['group'].id}").data.decode()
