from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Group, Operation, Session


@pytest.fixture
def north(world):  # type: ignore[no-untyped-def]
    region = world.region("NW", "North West")
    return {
        "region": region,
        "manager": world.user(region, "treatment_manager", "tm.nw"),
        "facilitator": world.user(region, "facilitator", "fac.nw"),
        "lead": world.facilitator(region, "Fran Lead"),
        "cover": world.facilitator(region, "Cal Cover"),
    }


def _new_group_form(north, **overrides):  # type: ignore[no-untyped-def]
    form = {
        "code": "BC1", "cohort": "general", "sex": "male", "delivery_location": "Room 2",
        "earliest_start_date": "2026-03-23", "slots-0-day": "0", "slots-0-start_time": "10:00",
        "lead_facilitator_id": str(north["lead"].id), "cover_facilitator_ids": [str(north["cover"].id)],
    }
    form.update(overrides)
    return form


def test_signed_out_people_are_sent_to_sign_in(browser, north):  # type: ignore[no-untyped-def]
    response = browser.get("/groups")
    assert response.status_code == 302 and response.headers["Location"] == "/login?next=/groups"


def test_a_form_post_without_the_csrf_token_is_refused(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    response = browser.post("/groups/new", _new_group_form(north), csrf=False)
    assert response.status_code == 400


def test_creating_a_group_shows_each_error_next_to_its_field(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    response = browser.post("/groups/new", _new_group_form(
        north, code="", **{"slots-0-day": "", "slots-0-start_time": ""}, earliest_start_date="31/02/2026"))
    assert response.status_code == 400
    page = response.data.decode()
    assert "Enter a group code" in page
    assert "Enter the earliest start date as a real date" in page
    assert "Add at least one day and time" in page
    assert "govuk-error-summary" in page
    assert db.session.scalar(select(func.count(Group.id))) == 0


def test_a_half_filled_slot_is_refused(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    response = browser.post("/groups/new", _new_group_form(north, **{"slots-1-day": "3"}))
    assert response.status_code == 400
    assert b"Enter both a day and a start time" in response.data


def test_a_duplicate_group_code_is_refused_next_to_the_code(browser, north, world):  # type: ignore[no-untyped-def]
    world.group(north["manager"], "BC1")
    browser.sign_in("tm.nw")
    response = browser.post("/groups/new", _new_group_form(north))
    assert response.status_code == 400
    assert b"A group with code BC1 already exists in your region" in response.data


def test_treatment_manager_creates_and_starts_a_group_and_sees_its_schedule(browser, north, world, run_jobs):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    created = browser.post("/groups/new", _new_group_form(north))
    assert created.status_code == 302
    group = db.session.scalar(select(Group).filter_by(code="BC1"))
    page = browser.get(f"/groups/{group.id}").data.decode()
    assert "Start group" in page and "Fran Lead" in page and "Cal Cover" in page and "Monday 10:00" in page

    started = browser.post(f"/groups/{group.id}/start")
    assert started.status_code == 302
    operation = db.session.scalar(select(Operation).filter_by(group_id=group.id))
    waiting = browser.get(f"/groups/{group.id}").data.decode()
    assert f'hx-get="/operations/{operation.id}"' in waiting and "Start group" not in waiting

    run_jobs()
    poll = browser.get(f"/operations/{operation.id}", htmx=True)
    assert poll.status_code == 200
    assert poll.headers["HX-Trigger"] == "operation-finished"
    assert b"27 sessions scheduled" in poll.data and b"hx-trigger=\"every 1s\"" not in poll.data

    schedule = browser.get(f"/groups/{group.id}", htmx=True).data.decode()
    assert "<html" not in schedule  # just the schedule block
    assert "Mon 23 Mar 2026" in schedule and "Mon 13 Apr 2026" in schedule
    assert "Mon 4 May 2026" not in schedule and "Mon 11 May 2026" in schedule
    assert "Introduction to Building Choices" in schedule


def test_starting_a_group_twice_makes_one_schedule(browser, north, world, run_jobs):  # type: ignore[no-untyped-def]
    group = world.group(north["manager"])
    browser.sign_in("tm.nw")
    browser.post(f"/groups/{group.id}/start")
    browser.post(f"/groups/{group.id}/start")
    assert db.session.scalar(select(func.count(Operation.id))) == 1
    run_jobs()
    again = browser.post(f"/groups/{group.id}/start", follow_redirects=True)
    assert b"This group has already started" in again.data
    assert db.session.scalar(select(func.count(Session.id))) == 27


def test_a_facilitator_cannot_create_or_start_groups(browser, north, world):  # type: ignore[no-untyped-def]
    group = world.group(north["manager"])
    browser.sign_in("fac.nw")
    assert browser.get("/groups/new").status_code == 403
    assert browser.post(f"/groups/{group.id}/start").status_code == 403
    assert db.session.scalar(select(func.count(Operation.id))) == 0


def test_regions_never_see_each_others_groups(browser, north, world):  # type: ignore[no-untyped-def]
    london = world.region("LDN", "London")
    world.user(london, "treatment_manager", "tm.ldn")
    ours = world.group(north["manager"], "SENTINEL-NW")
    browser.sign_in("tm.ldn")
    assert b"SENTINEL-NW" not in browser.get("/groups").data
    assert browser.get(f"/groups/{ours.id}").status_code == 404
    assert browser.post(f"/groups/{ours.id}/start").status_code == 404


def test_operation_progress_is_not_visible_to_another_region(browser, north, world):  # type: ignore[no-untyped-def]
    group = world.group(north["manager"])
    operation = Operation(kind="generate", region_id=group.region_id, group_id=group.id)
    db.session.add(operation)
    db.session.commit()
    london = world.region("LDN", "London")
    world.user(london, "lead", "lead.ldn")
    browser.sign_in("lead.ldn")
    assert browser.get(f"/operations/{operation.id}", htmx=True).status_code == 404


def test_a_failed_operation_says_why_and_stops_polling(browser, north, world):  # type: ignore[no-untyped-def]
    group = world.group(north["manager"])
    operation = Operation(kind="generate", region_id=group.region_id, group_id=group.id, status="failed",
                          error="The schedule could not be generated: no slots")
    db.session.add(operation)
    db.session.commit()
    browser.sign_in("tm.nw")
    poll = browser.get(f"/operations/{operation.id}", htmx=True)
    assert b"no slots" in poll.data and b"every 1s" not in poll.data


def test_sign_out_makes_a_copied_cookie_useless(browser, north, app):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    cookie = browser.client.get_cookie("session").value
    browser.post("/logout")
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    assert thief.get("/groups").status_code == 302


def test_a_sign_out_or_a_lock_out_in_one_server_process_holds_in_another_that_kept_the_person(app, north):  # type: ignore[no-untyped-def]
    """Each process keeps the signed-in person's row (app/web/auth/kept_users.py); a change to it in any other
    process is seen on the next request, not after the row is dropped."""
    from app import create_app
    from tests.conftest import Browser

    other = create_app(dict(app.config))  # a second server process: its own kept rows, the same Redis
    person = Browser(app, app.test_client())
    person.sign_in("tm.nw")
    cookie = person.client.get_cookie("session").value
    elsewhere = other.test_client()
    elsewhere.set_cookie("session", cookie)
    with other.app_context():
        assert elsewhere.get("/groups").status_code == 200  # kept there now
        assert elsewhere.get("/groups").status_code == 200
    person.post("/logout")
    with other.app_context():
        assert elsewhere.get("/groups").status_code == 302

    again = Browser(app, app.test_client())
    again.sign_in("tm.nw")
    elsewhere.set_cookie("session", again.client.get_cookie("session").value)
    with other.app_context():
        assert elsewhere.get("/groups").status_code == 200
    north["manager"].active = False  # an admin's change, committed outside any request
    db.session.commit()
    with other.app_context():
        assert elsewhere.get("/groups").status_code == 302


def test_pages_carry_security_headers(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    response = browser.get("/groups")
    csp = response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp and "nonce-" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def _age_session(browser, **seconds_ago):  # type: ignore[no-untyped-def]
    import time

    with browser.client.session_transaction() as s:
        for key, ago in seconds_ago.items():
            s[key] = int(time.time()) - ago


def test_thirty_minutes_idle_signs_you_out(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    _age_session(browser, last_seen=29 * 60)
    assert browser.get("/groups").status_code == 200
    _age_session(browser, last_seen=31 * 60)
    response = browser.get("/groups")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert browser.get("/groups").status_code == 302


def test_the_idle_clock_moves_a_minute_at_a_time_so_most_pages_leave_the_cookie_alone(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    _age_session(browser, last_seen=2 * 60)
    moved = browser.get("/groups")
    assert moved.status_code == 200 and "Set-Cookie" in moved.headers  # last seen two minutes ago: updated
    again = browser.get("/groups")
    assert again.status_code == 200 and "Set-Cookie" not in again.headers  # within the minute: unchanged


def test_ten_hours_after_sign_in_the_session_ends_even_when_active(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    _age_session(browser, signed_in_at=10 * 3600 + 1, last_seen=10)
    assert browser.get("/groups").status_code == 302


def test_a_timed_out_htmx_request_is_sent_to_sign_in(browser, north, world):  # type: ignore[no-untyped-def]
    group = world.group(north["manager"])
    browser.sign_in("tm.nw")
    _age_session(browser, last_seen=31 * 60)
    response = browser.get(f"/groups/{group.id}", htmx=True)
    assert response.status_code == 401 and response.headers["HX-Redirect"] == "/login"


def test_a_disabled_account_is_locked_out_at_once(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    north["manager"].active = False
    db.session.commit()
    assert browser.get("/groups").status_code == 302


def test_an_open_register_keeps_the_session_alive_within_the_absolute_limit(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("fac.nw")
    for _ in range(6):  # 6 pings 25 minutes apart: 150 minutes without a tap
        _age_session(browser, last_seen=25 * 60)
        assert browser.post("/keep-alive", htmx=True).status_code == 204
    assert browser.get("/groups").status_code == 200
    _age_session(browser, signed_in_at=10 * 3600 + 1, last_seen=60)
    assert browser.post("/keep-alive", htmx=True).status_code == 401


def test_starting_a_group_warns_on_its_page_about_each_facilitator_double_booking(browser, north, world, run_jobs):  # type: ignore[no-untyped-def]
    from datetime import datetime, time

    from app.scheduling import Slot

    nia = world.facilitator(north["region"], "Nia New")
    bc2 = world.started(world.group(north["manager"], "BC2", slots=(Slot(1, time(10)),), lead=nia,
                                    location="Merrion House, Leeds"), north["manager"])
    moved = next(s for s in db.session.scalars(select(Session).where(Session.group_id == bc2.id))
                 if s.session_template.label == "2.1")
    moved.starts_at, moved.ends_at = datetime(2026, 4, 13, 11), datetime(2026, 4, 13, 13, 30)
    db.session.commit()
    browser.sign_in("tm.nw")
    browser.post("/groups/new", _new_group_form(north, cover_facilitator_ids=[str(nia.id)]))
    group = db.session.scalar(select(Group).filter_by(code="BC1"))
    assert 'id="start-clashes"' not in browser.get(f"/groups/{group.id}").data.decode()

    browser.post(f"/groups/{group.id}/start")
    run_jobs()
    operation = db.session.scalar(select(Operation).filter_by(group_id=group.id))
    poll = browser.get(f"/operations/{operation.id}", htmx=True).data.decode()
    assert "27 sessions scheduled, 23 Mar 2026 to 30 Nov 2026; 1 facilitator double booking to check" in poll

    schedule = browser.get(f"/groups/{group.id}", htmx=True).data.decode()  # what the finished poll reloads
    warning = schedule.split('<div class="govuk-warning-text app-clash" id="start-clashes">')[1].split("</ul>")[0]
    assert "Nia New is already booked at the same time as sessions of this group." in warning
    assert [line.strip() for line in warning.split("<li>")[1:]] == [(
        "Nia New is already booked on group BC2, 2.1 Introduction to Building Choices, Mon 13 Apr 2026 11:00–13:30 "
        "at Merrion House, Leeds – overlaps 2.1 at 10:00</li>")]
    assert f'href="/groups/{group.id}/facilitators">Change facilitators' in schedule

    ours = next(s for s in db.session.scalars(select(Session).where(Session.group_id == group.id))
                if s.session_template.label == "2.1")
    changed = browser.post(f"/groups/{group.id}/sessions/{ours.id}/facilitators",
                           {"lead_facilitator_id": str(north["lead"].id)})
    assert changed.status_code == 302
    assert 'id="start-clashes"' not in browser.get(f"/groups/{group.id}").data.decode()
