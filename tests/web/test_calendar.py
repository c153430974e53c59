"""The calendar page, the postpone preview and confirmation over HTMX, changing days and times, the iCal feed."""
from __future__ import annotations

import html
import re
from datetime import date, datetime, time

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import AuditEvent, GroupSlot, Operation, OperationStep, OutboxItem, Session, SessionTemplate
from app.models.programme import Module
from app.scheduling import Slot


@pytest.fixture
def north(world):  # type: ignore[no-untyped-def]
    region = world.region("NW", "North West")
    lead = world.facilitator(region, "Fran Lead")
    people = (world.referral(region, "Sam Person"), world.referral(region, "Alex Person"))
    manager = world.user(region, "treatment_manager", "tm.nw")
    group = world.started(world.group(manager, "BC1", lead=lead, members=people), manager)
    return {
        "region": region, "manager": manager, "lead": lead, "people": people, "group": group,
        "facilitator": world.user(region, "facilitator", "fac.nw", facilitator=lead),
        "reader": world.user(region, "lead", "lead.nw"),
    }


def session_of(group, module: int, number: int) -> Session:  # type: ignore[no-untyped-def]
    return db.session.scalars(
        select(Session).join(SessionTemplate).join(Module)
        .where(Session.group_id == group.id, Session.kind == "scheduled", Module.module_number == module,
               SessionTemplate.session_number == number)
    ).one()


def starts(group) -> dict[str, datetime]:  # type: ignore[no-untyped-def]
    rows = db.session.scalars(select(Session).where(Session.group_id == group.id)).all()
    return {s.session_template.label: s.starts_at for s in rows}


def text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", html.unescape(response.data.decode()))


# --- the calendar -------------------------------------------------------------------------------------------

def test_month_view_shows_labelled_sessions_bank_holidays_and_today(browser, north):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 4, 14, 9, 0))
    browser.sign_in("tm.nw")
    page = text(browser.get(f"/calendar?view=month&date=2026-04-01&scope=group-{north['group'].id}"))
    assert "April 2026" in page
    assert "Bank holiday: Good Friday" in page and "Bank holiday: Easter Monday" in page
    assert re.search(r'app-calendar__day--today[^>]*data-drop-date="2026-04-14"', page)
    assert '<span class="app-calendar__day-label app-calendar__day-label--today">Today</span>' in page
    # sessions carry their type in words as well as colour
    intro = session_of(north["group"], 2, 1)
    block = re.search(rf'<li class="app-session app-session--group[^"]*"\s*id="session-{intro.id}".*?</li>', page)
    assert block and "<span class=\"app-session__type\">Group</span>" in block.group(0)
    assert "10:00–12:30" in block.group(0) and "Introduction to Building Choices" in block.group(0)
    one_to_one = session_of(north["group"], 2, 3)
    assert re.search(rf'app-session--one-to-one[^"]*"\s*id="session-{one_to_one.id}"', page)


def test_week_navigation_over_htmx_swaps_only_the_calendar(browser, north):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 4, 14, 9, 0))
    browser.sign_in("tm.nw")
    page = browser.get(f"/calendar?view=week&date=2026-04-14&scope=group-{north['group'].id}")
    assert b'hx-push-url="true"' in page.data and b"calendar.js" in page.data
    following = browser.get(f"/calendar?view=week&date=2026-04-21&scope=group-{north['group'].id}", htmx=True)
    body = following.data.decode()
    assert following.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith('<div id="calendar"')
    assert "Week of 20 to 26 April 2026" in body and "Understanding myself" in body
    assert 'hx-trigger="operation-finished from:body"' in body  # redraws itself when a reschedule finishes


def test_a_facilitator_sees_the_region_calendar_read_only(browser, north):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 4, 14, 9, 0))
    browser.sign_in("fac.nw")
    page = browser.get("/calendar?view=week&date=2026-04-20&scope=region")
    assert page.status_code == 200 and b"Understanding myself" in page.data
    assert b"data-postpone-url" not in page.data and b"app-session--movable" not in page.data
    assert b">Postpone<" not in page.data and b"calendar-dialog" not in page.data
    session = session_of(north["group"], 2, 2)
    assert browser.get(f"/calendar/sessions/{session.id}/postpone?date=2026-04-28", htmx=True).status_code == 403
    refused = browser.post(f"/calendar/sessions/{session.id}/postpone",
                           {"date": "2026-04-28", "start": "10:00", "cascade": "yes"}, htmx=True)
    assert refused.status_code == 403
    assert db.session.scalar(select(func.count(Operation.id)).where(Operation.kind == "cascade")) == 0


def test_a_facilitator_starts_on_their_own_sessions(browser, north, world):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 4, 14, 9, 0))
    other = world.group(north["manager"], "BC2", lead=world.facilitator(north["region"], "Other Person"),
                        start=date(2026, 4, 13))
    world.started(other, north["manager"])
    browser.sign_in("fac.nw")
    mine = browser.get("/calendar?view=week&date=2026-04-13").data.decode()
    block = '<span class="app-session__group">Group {}</span>'.format
    assert block("BC1") in mine and block("BC2") not in mine
    everyone = browser.get("/calendar?view=week&date=2026-04-13&scope=region").data.decode()
    assert block("BC1") in everyone and block("BC2") in everyone


def test_another_regions_calendar_sessions_and_groups_are_not_found(browser, north, world):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 4, 14, 9, 0))
    south = world.region("SW", "South West")
    world.user(south, "treatment_manager", "tm.sw")
    browser.sign_in("tm.sw")
    group, session = north["group"], session_of(north["group"], 3, 3)
    assert browser.get(f"/calendar?scope=group-{group.id}").status_code == 404
    assert browser.get(f"/calendar?scope=facilitator-{north['lead'].id}").status_code == 404
    assert browser.get(f"/calendar/sessions/{session.id}/postpone?date=2026-06-08", htmx=True).status_code == 404
    assert browser.post(f"/calendar/sessions/{session.id}/postpone",
                        {"date": "2026-06-08", "start": "10:00"}, htmx=True).status_code == 404
    assert browser.get(f"/calendar/groups/{group.id}/days-and-times").status_code == 404
    region = browser.get("/calendar?view=month&date=2026-04-01&scope=region").data
    assert b"BC1" not in region and b"Introduction to Building Choices" not in region


# --- postpone: preview and confirmation ---------------------------------------------------------------------

def test_dropping_a_session_on_a_day_previews_the_cascade(browser, north):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 5, 20, 9, 0))
    browser.sign_in("tm.nw")
    session = session_of(north["group"], 3, 3)  # session 8: Mon 1 Jun
    assert session.starts_at == datetime(2026, 6, 1, 10)
    response = browser.get(f"/calendar/sessions/{session.id}/postpone?date=2026-06-08&dialog=1", htmx=True)
    assert response.status_code == 200
    page = text(response)
    assert "Move only this session" in page and 'hx-trigger="change"' in page  # the choice redraws the preview
    assert "<html" not in page
    assert ("Postpone Managing my feelings, part 1 to Mon 8 Jun 2026 and move 20 later sessions; "
            "programme now ends 7 Dec 2026") in page
    assert page.count('<tr class="govuk-table__row">') == 1 + 21  # header + the session and 20 later ones
    assert "Mon 1 Jun 2026, 10:00–12:30" in page and "Mon 8 Jun 2026, 10:00–12:30" in page
    assert 'name="fingerprint"' in page and 'hx-post="/calendar/sessions/' in page
    assert db.session.scalar(select(func.count(Operation.id))) == 1  # only the generation: a GET changes nothing


def test_move_only_this_session_previews_one_move(browser, north):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 5, 20, 9, 0))
    browser.sign_in("tm.nw")
    session = session_of(north["group"], 3, 3)
    page = text(browser.get(f"/calendar/sessions/{session.id}/postpone?date=2026-06-03&start=14:00&cascade=no",
                            htmx=True))
    assert "Postpone only Managing my feelings, part 1 to Wed 3 Jun 2026 at 14:00; programme still ends 30 Nov 2026" \
        in page
    assert page.count('<tr class="govuk-table__row">') == 2


def test_confirming_moves_the_sessions_in_a_background_job(browser, north, run_jobs):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 5, 20, 9, 0))
    browser.sign_in("tm.nw")
    group, session = north["group"], session_of(north["group"], 3, 3)
    before = starts(group)
    preview = browser.get(f"/calendar/sessions/{session.id}/postpone?date=2026-06-08", htmx=True).data.decode()
    fingerprint = re.search(r'name="fingerprint" value="([^"]+)"', preview).group(1)
    response = browser.post(f"/calendar/sessions/{session.id}/postpone",
                            {"date": "2026-06-08", "start": "10:00", "end": "", "cascade": "yes",
                             "fingerprint": fingerprint}, htmx=True)
    assert response.status_code == 200
    body = response.data.decode()
    assert 'class="app-progress"' in body and "hx-get=\"/operations/" in body
    operation = db.session.scalars(select(Operation).where(Operation.kind == "cascade")).one()
    assert operation.status == "queued" and operation.total == 21
    assert db.session.scalar(select(func.count(OperationStep.id))) == 21
    assert starts(group) == before  # nothing moves until the job runs

    run_jobs()
    db.session.refresh(operation)
    after = starts(group)
    assert operation.status == "succeeded" and operation.done == 21
    assert after["3.3"] == datetime(2026, 6, 8, 10) and after["7.1"] == datetime(2026, 12, 7, 10)
    assert all(after[k] == before[k] for k in ("1.1", "2.1", "2.2", "2.3", "3.1", "3.2"))
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "session.rescheduled")) == 21
    updates = db.session.scalar(select(func.count(OutboxItem.id)).where(OutboxItem.action == "update"))
    assert updates == 21 * 2  # one per attendee of each moved session
    progress = browser.get(f"/operations/{operation.id}", htmx=True)
    assert progress.headers["HX-Trigger"] == "operation-finished"
    week = browser.get(f"/calendar?view=week&date=2026-06-08&scope=group-{group.id}", htmx=True).data.decode()
    assert "Managing my feelings, part 1" in week


def test_the_keyboard_alternative_is_a_form_that_gives_the_same_preview(browser, north):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 5, 20, 9, 0))
    browser.sign_in("tm.nw")
    session = session_of(north["group"], 3, 3)
    week = browser.get(f"/calendar?view=week&date=2026-06-01&scope=group-{north['group'].id}").data.decode()
    assert f'href="/calendar/sessions/{session.id}/postpone">Postpone' in week
    form = text(browser.get(f"/calendar/sessions/{session.id}/postpone"))
    assert "Postpone Managing my feelings, part 1" in form
    assert 'type="date"' in form and 'name="start"' in form and 'name="end"' in form
    assert "Move only this session" in form
    page = text(browser.get(f"/calendar/sessions/{session.id}/postpone?date=2026-06-08&start=10:00&end=&cascade=yes"))
    assert "<html" in page
    assert "Postpone Managing my feelings, part 1 to Mon 8 Jun 2026 and move 20 later sessions" in page


def test_confirming_without_htmx_goes_back_to_the_calendar_with_the_progress(browser, north):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 5, 20, 9, 0))
    browser.sign_in("tm.nw")
    session = session_of(north["group"], 3, 3)
    before = browser.get("/calendar?view=week&date=2026-06-08&scope=region").data.decode()
    assert "Postponing sessions" not in before  # nothing running: what the calendar keeps (no reschedule)
    response = browser.post(f"/calendar/sessions/{session.id}/postpone",
                            {"date": "2026-06-08", "start": "10:00", "cascade": "no"})
    assert response.status_code == 302 and "date=2026-06-08" in response.headers["Location"]
    page = browser.get(response.headers["Location"]).data.decode()
    assert "Postponing sessions" in page and 'class="app-progress"' in page


@pytest.mark.parametrize(("query", "message"), [
    ("date=2026-05-27", "has already started, so it cannot be postponed"),
    ("date=2026-06-08&start=10:00&end=09:00", "The end time must be after the start time"),
    ("date=2026-05-19&start=10:00", "is in the past"),
    ("date=2026-02-31", "Enter the new date as a real date"),
    ("date=2026-06-08&start=25:00", "Enter the start time as HH:MM"),
    ("date=2026-06-01&start=10:00", "is already at that time"),
])
def test_refusals_say_why_and_change_nothing(browser, north, query, message):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 5, 20, 9, 0))
    browser.sign_in("tm.nw")
    session = session_of(north["group"], 3, 1 if "05-27" in query else 3)  # 3.1 was on 11 May
    response = browser.get(f"/calendar/sessions/{session.id}/postpone?{query}", htmx=True)
    assert response.status_code == 422
    assert message in response.data.decode()
    confirm = browser.post(f"/calendar/sessions/{session.id}/postpone",
                           dict(item.split("=") for item in query.split("&")), htmx=True)
    assert confirm.status_code == 422 and message in confirm.data.decode()
    assert db.session.scalar(select(func.count(Operation.id)).where(Operation.kind == "cascade")) == 0


def test_a_longer_past_session_is_refused(browser, north):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 5, 20, 9, 0))
    browser.sign_in("tm.nw")
    session = session_of(north["group"], 3, 1)
    response = browser.get(f"/calendar/sessions/{session.id}/postpone?date=2026-05-11&start=10:00&end=13:00",
                           htmx=True)
    assert response.status_code == 422 and "cannot be made longer" in response.data.decode()


def test_a_second_reschedule_of_the_group_is_refused_while_one_is_in_progress(browser, north):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 5, 20, 9, 0))
    browser.sign_in("tm.nw")
    first, second = session_of(north["group"], 3, 3), session_of(north["group"], 4, 1)
    ok = browser.post(f"/calendar/sessions/{first.id}/postpone", {"date": "2026-06-08", "start": "10:00"}, htmx=True)
    assert ok.status_code == 200
    for response in (
        browser.get(f"/calendar/sessions/{second.id}/postpone?date=2026-08-10", htmx=True),
        browser.post(f"/calendar/sessions/{second.id}/postpone", {"date": "2026-08-10", "start": "10:00"}, htmx=True),
        browser.post(f"/calendar/groups/{north['group'].id}/days-and-times", _days_form(north["group"], "3")),
    ):
        assert response.status_code == 409
        assert "A reschedule of this group is in progress" in response.data.decode()
    assert db.session.scalar(select(func.count(Operation.id)).where(Operation.kind.in_(("cascade", "reslot")))) == 1


def test_a_plan_that_changed_since_the_preview_is_shown_again(browser, north):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 5, 20, 9, 0))
    browser.sign_in("tm.nw")
    session = session_of(north["group"], 3, 3)
    preview = browser.get(f"/calendar/sessions/{session.id}/postpone?date=2026-06-08", htmx=True).data.decode()
    fingerprint = re.search(r'name="fingerprint" value="([^"]+)"', preview).group(1)
    session_of(north["group"], 5, 1).status = "cancelled"  # someone cancels a later session meanwhile
    db.session.commit()
    response = browser.post(f"/calendar/sessions/{session.id}/postpone",
                            {"date": "2026-06-08", "start": "10:00", "fingerprint": fingerprint}, htmx=True)
    assert response.status_code == 409
    page = text(response)
    assert "The schedule has changed since you looked at it" in page
    assert "move 9 later sessions" in page  # the cancelled session's week is used instead
    assert db.session.scalar(select(func.count(Operation.id)).where(Operation.kind == "cascade")) == 0


def test_the_preview_warns_of_facilitator_clashes_and_sentence_ends(browser, north, world):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 5, 20, 9, 0))
    other = world.group(north["manager"], "BC9", lead=north["lead"], start=date(2026, 5, 18),
                        slots=(Slot(0, time(11)),))
    world.started(other, north["manager"])  # Fran also leads BC9, Mondays 11:00 from 18 May
    north["people"][0].sentence_end_date = date(2026, 9, 1)
    db.session.commit()
    browser.sign_in("tm.nw")
    session = session_of(north["group"], 3, 3)
    page = text(browser.get(f"/calendar/sessions/{session.id}/postpone?date=2026-06-08", htmx=True))
    assert "Fran Lead is already booked for group BC9" in page and "Mon 8 Jun 2026 11:00" in page
    assert "Sam Person's sentence ends on 1 Sep 2026" in page and "after it" in page


# --- changing days and times --------------------------------------------------------------------------------

def _days_form(group, day: str = "3", start: str = "14:00", **extra):  # type: ignore[no-untyped-def]
    form = {"earliest_start_date": group.earliest_start_date.isoformat(), "version": str(group.version),
            "slots-0-day": day, "slots-0-start_time": start, "action": "preview"}
    form.update(extra)
    return form


def test_changing_days_and_times_previews_then_regenerates_the_future(browser, north, run_jobs):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 5, 12, 12, 0))
    group = north["group"]
    before = starts(group)
    browser.sign_in("tm.nw")
    form_page = browser.get(f"/calendar/groups/{group.id}/days-and-times").data.decode()
    assert 'name="slots-0-day"' in form_page and 'selected value="0"' in form_page.replace('value="0" selected', 'selected value="0"')
    preview = browser.post(f"/calendar/groups/{group.id}/days-and-times", _days_form(group))
    assert preview.status_code == 200
    page = text(preview)
    assert "Change days and times to Thursday 14:00 from 23 Mar 2026 and move 22 sessions" in page
    assert "programme now ends 12 Nov 2026" in page
    assert starts(group) == before and [s.day_of_week for s in group.slots] == [0]  # a preview changes nothing
    fingerprint = re.search(r'name="fingerprint" value="([^"]+)"', page).group(1)
    done = browser.post(f"/calendar/groups/{group.id}/days-and-times",
                        _days_form(group, action="confirm", fingerprint=fingerprint))
    assert done.status_code == 302 and "/calendar" in done.headers["Location"]
    db.session.expire_all()
    assert [(s.day_of_week, s.start_time) for s in db.session.scalars(
        select(GroupSlot).where(GroupSlot.group_id == group.id))] == [(3, time(14))]
    run_jobs()
    after = starts(group)
    assert all(after[k] == before[k] for k in ("1.1", "2.1", "2.2", "2.3", "3.1"))  # the past stays
    assert after["3.2"] == datetime(2026, 5, 14, 14) and after["7.1"] == datetime(2026, 11, 12, 14)
    operation = db.session.scalars(select(Operation).where(Operation.kind == "reslot")).one()
    assert operation.status == "succeeded" and operation.total == 22


def test_days_and_times_changed_by_someone_else_meanwhile_is_a_conflict(browser, north):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 5, 12, 12, 0))
    group = north["group"]
    browser.sign_in("tm.nw")
    stale = _days_form(group, action="confirm", version=str(group.version - 1))
    response = browser.post(f"/calendar/groups/{group.id}/days-and-times", stale)
    assert response.status_code == 409 and "Someone else changed this group" in response.data.decode()
    assert [s.day_of_week for s in group.slots] == [0]


def test_days_and_times_refuses_slots_too_close_together(browser, north):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 5, 12, 12, 0))
    group = north["group"]
    browser.sign_in("tm.nw")
    response = browser.post(f"/calendar/groups/{group.id}/days-and-times",
                            _days_form(group, "1", "10:00", **{"slots-1-day": "1", "slots-1-start_time": "11:00"}))
    assert response.status_code == 400 and "too close together" in response.data.decode()


# --- iCalendar feed -----------------------------------------------------------------------------------------

def _feed_link(browser) -> str:  # type: ignore[no-untyped-def]
    page = browser.post("/calendar/feed", {}).data.decode()
    return re.search(r'id="feed-link" type="text" value="http://localhost(/calendar/feed/[^"]+\.ics)"', page).group(1)


def test_a_facilitators_calendar_feed_lists_their_sessions_and_follows_moves(browser, north, run_jobs):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 5, 20, 9, 0))
    facilitator = browser.__class__(browser.app, browser.app.test_client())
    facilitator.sign_in("fac.nw")
    link = _feed_link(facilitator)
    anonymous = browser.__class__(browser.app, browser.app.test_client())
    feed = anonymous.get(link)
    assert feed.status_code == 200 and feed.mimetype == "text/calendar"
    body = feed.data.decode().replace("\r\n ", "")
    session = session_of(north["group"], 3, 3)
    uid = f"UID:programme-session-{session.id}@programme-delivery.justice.gov.uk"
    assert body.count("BEGIN:VEVENT") == 27 and uid in body
    event = body[body.index(uid) - 200: body.index(uid) + 800]
    event = body[body.rindex("BEGIN:VEVENT", 0, body.index(uid)): body.index("END:VEVENT", body.index(uid))]
    assert "DTSTART;TZID=Europe/London:20260601T100000" in event and "SEQUENCE:0" in event
    assert "SUMMARY:Managing my feelings\\, part 1 (group BC1)" in event
    assert "Sam Person" not in body  # no names of people on probation in a link that may be shared

    browser.sign_in("tm.nw")
    browser.post(f"/calendar/sessions/{session.id}/postpone", {"date": "2026-06-08", "start": "10:00",
                                                               "cascade": "no"}, htmx=True)
    run_jobs()
    moved = anonymous.get(link).data.decode().replace("\r\n ", "")
    event = moved[moved.rindex("BEGIN:VEVENT", 0, moved.index(uid)): moved.index("END:VEVENT", moved.index(uid))]
    assert "DTSTART;TZID=Europe/London:20260608T100000" in event and "SEQUENCE:1" in event
    assert moved.count(uid) == 1 and "LAST-MODIFIED:" in event


def test_a_revoked_or_replaced_feed_link_stops_working(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("fac.nw")
    first = _feed_link(browser)
    assert browser.get(first).status_code == 200
    second = _feed_link(browser)
    assert browser.get(first).status_code == 404 and browser.get(second).status_code == 200
    page = browser.get("/calendar/feed").data.decode()
    assert "It is working" in page and second.split("/")[-1] not in page  # the secret is shown only once
    browser.post("/calendar/feed/revoke", {})
    assert browser.get(second).status_code == 404
    assert browser.get("/calendar/feed/not-a-real-token.ics").status_code == 404


def test_a_reschedule_that_stopped_part_way_can_be_carried_on(browser, north, run_jobs):  # type: ignore[no-untyped-def]
    from app.services import reschedule

    clock.freeze(datetime(2026, 5, 20, 9, 0))
    browser.sign_in("tm.nw")
    group, session = north["group"], session_of(north["group"], 3, 3)
    browser.post(f"/calendar/sessions/{session.id}/postpone", {"date": "2026-06-08", "start": "10:00"}, htmx=True)
    operation = db.session.scalars(select(Operation).where(Operation.kind == "cascade")).one()
    reschedule.apply_next_step(operation.id)  # one session moved, then the job gave up
    reschedule.stopped(operation.id, "The reschedule stopped part-way")
    page = text(browser.get(f"/calendar?view=week&date=2026-06-08&scope=group-{group.id}"))
    assert "This did not finish" in page and "Carry on moving the sessions" in page
    response = browser.post(f"/calendar/operations/{operation.id}/resume", {})
    assert response.status_code == 302
    run_jobs()
    db.session.refresh(operation)
    assert operation.status == "succeeded" and operation.done == 21
    assert starts(group)["7.1"] == datetime(2026, 12, 7, 10)
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "session.rescheduled")) == 21


def test_the_region_month_runs_the_same_number_of_queries_for_one_group_or_four(app, world):  # type: ignore[no-untyped-def]
    from sqlalchemy import event

    from app.extensions import db
    from tests.conftest import Browser

    counts = []
    for groups in (1, 4):
        region = world.region(f"Q{groups}", f"Region {groups}")
        manager = world.user(region, "treatment_manager", f"tmq{groups}")
        for n in range(groups):
            people = tuple(world.referral(region) for _ in range(3 + 3 * n))
            world.started(world.group(manager, f"Q{groups}-{n}", members=people), manager)
        person = Browser(app, app.test_client())
        person.sign_in(f"tmq{groups}")
        seen: list[str] = []

        def count(conn, cursor, statement, parameters, context, executemany, seen=seen):  # type: ignore[no-untyped-def]
            seen.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            response = person.get("/calendar?view=month&scope=region&date=2026-05-11")
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        assert response.status_code == 200 and b"Understanding" in response.data
        counts.append(len(seen))
    assert counts[0] == counts[1]
