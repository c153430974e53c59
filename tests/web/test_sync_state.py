"""Issue 15.6: each session's and each person's nDelius state where people work — the register's rows, the
schedule and the calendar — in one set of words ("In nDelius", "Waiting to send to nDelius", "Needs attention:
record the outcome"), kept up to date by a poller that swaps only the tags (GET /sync-states); the integration
page offers no Retry for what only an outcome fixes, and links to the register instead."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select, update

from app import clock
from app.extensions import db
from app.models import Attendee, NDeliusAppointment, OutboxItem, Session
from app.services import attendance
from app.services.ndelius_plan import PAST_WITHOUT_OUTCOME
from tests.conftest import Browser

FIRST = datetime(2026, 4, 13, 10)  # "Introduction": the first group session of a group starting on 23 March


def _tag(kind: str, id_: int, state: str, words: str, oob: bool = False, classes: str = "") -> str:
    look = {"synced": "synced", "pending": "pending", "needs_outcome": "failed", "needs_attention": "failed"}[state]
    extra = f" {classes}" if classes else ""
    swap = ' hx-swap-oob="true"' if oob else ""
    return (f'<span id="sync-{kind}-{id_}" class="app-sync-state{extra}" data-sync-state="{state}"{swap}>'
            f'<span class="app-sync app-sync--{look}"><span class="govuk-visually-hidden">nDelius: </span>{words}'
            '</span></span>')


@pytest.fixture
def north(world):  # type: ignore[no-untyped-def]
    region = world.region("NW", "North West")
    lead = world.facilitator(region, "Fran Lead")
    manager = world.user(region, "treatment_manager", "tm.nw")
    world.user(region, "facilitator", "fac.nw", facilitator=lead)
    people = tuple(world.referral(region, name) for name in ("Alex Able", "Billie Brown", "Charlie Cole"))
    group = world.started(world.group(manager, "BC1", lead=lead, members=people), manager)
    session = db.session.scalar(select(Session).where(Session.group_id == group.id, Session.starts_at == FIRST))
    attendees = {a.referral.person_name: a for a in session.attendees}
    clock.freeze(datetime(2026, 4, 13, 15))  # the session is over
    attendance.record(manager, attendees["Alex Able"], outcome="ATTC", seen_version=None)
    attendance.record(manager, attendees["Billie Brown"], outcome="UAAB", seen_version=None)
    db.session.commit()
    # Alex's outcome is in nDelius; Billie's is waiting to be sent; Charlie has none, and the relay said so
    states = {"Alex Able": ("synced", None), "Billie Brown": ("pending", None),
              "Charlie Cole": ("needs_attention", PAST_WITHOUT_OUTCOME)}
    for name, (state, error) in states.items():
        db.session.execute(update(NDeliusAppointment).where(NDeliusAppointment.attendee_id == attendees[name].id)
                           .values(sync_state=state, last_error=error))
    charlie = db.session.scalar(select(NDeliusAppointment).where(
        NDeliusAppointment.attendee_id == attendees["Charlie Cole"].id))
    db.session.execute(update(OutboxItem).where(OutboxItem.appointment_id != charlie.id).values(status="done"))
    db.session.execute(update(OutboxItem).where(OutboxItem.appointment_id == charlie.id)
                       .values(status="needs_attention", last_error=PAST_WITHOUT_OUTCOME))
    alex = db.session.scalar(select(NDeliusAppointment).where(
        NDeliusAppointment.attendee_id == attendees["Alex Able"].id))
    db.session.add(OutboxItem(appointment_id=alex.id, action="update", status="done"))
    db.session.commit()
    return {"group": group.id, "session": session.id, "charlie_appointment": charlie.id,
            **{name.split()[0].lower(): a.id for name, a in attendees.items()}}


def _signed_in(app, username):  # type: ignore[no-untyped-def]
    browser = Browser(app, app.test_client())
    browser.sign_in(username)
    return browser


def test_the_register_says_each_persons_state_and_polls_for_it(app, north):  # type: ignore[no-untyped-def]
    facilitator = _signed_in(app, "fac.nw")
    page = facilitator.get(f"/sessions/{north['session']}").get_data(as_text=True)
    classes = "app-register-row__sync"
    assert _tag("attendee", north["alex"], "synced", "In nDelius", classes=classes) in page
    assert _tag("attendee", north["billie"], "pending", "Waiting to send to nDelius", classes=classes) in page
    assert _tag("attendee", north["charlie"], "needs_outcome", "Needs attention: record the outcome",
                classes=classes) in page
    poller = (f'<div class="app-sync-poller" hx-get="/sync-states?register={north["session"]}" '
              'hx-trigger="every 5s" hx-swap="none" aria-hidden="true"></div>')
    assert poller in page

    answer = facilitator.get(f"/sync-states?register={north['session']}", htmx=True)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    body = answer.get_data(as_text=True)
    assert _tag("attendee", north["charlie"], "needs_outcome", "Needs attention: record the outcome", oob=True,
                classes=classes) in body
    assert _tag("session", north["session"], "needs_outcome", "Needs attention: record the outcome", oob=True) in body
    assert "Charlie" not in body and "<li" not in body  # only the tags: nothing else on the page is redrawn

    # Billie's outcome reaches nDelius: the next poll says so
    db.session.execute(update(NDeliusAppointment).where(NDeliusAppointment.attendee_id == north["billie"])
                       .values(sync_state="synced"))
    db.session.execute(update(OutboxItem).values(status="done"))
    db.session.commit()
    body = facilitator.get(f"/sync-states?register={north['session']}", htmx=True).get_data(as_text=True)
    assert _tag("attendee", north["billie"], "synced", "In nDelius", oob=True, classes=classes) in body


def test_an_outcome_recorded_no_longer_needs_attention(app, north):  # type: ignore[no-untyped-def]
    manager = _signed_in(app, "tm.nw")
    attendance.record(_manager(), db.session.get(Attendee, north["charlie"]), outcome="ATTC", seen_version=None)
    db.session.commit()
    body = manager.get(f"/sync-states?register={north['session']}", htmx=True).get_data(as_text=True)
    charlie = north["charlie"]
    assert f'id="sync-attendee-{charlie}" class="app-sync-state app-register-row__sync" data-sync-state="pending"' in body
    assert "record the outcome" not in body


def _manager():  # type: ignore[no-untyped-def]
    from app.models import User
    return db.session.scalar(select(User).filter_by(username="tm.nw"))


def test_the_schedule_has_an_ndelius_column_kept_up_to_date(app, north):  # type: ignore[no-untyped-def]
    manager = _signed_in(app, "tm.nw")
    page = manager.get(f"/groups/{north['group']}").get_data(as_text=True)
    assert '<th scope="col" class="govuk-table__header">nDelius</th>' in page
    assert _tag("session", north["session"], "needs_outcome", "Needs attention: record the outcome") in page
    ids = [int(i) for i in page.split('hx-get="/sync-states?sessions=')[1].split('"')[0].split(",")]
    assert north["session"] in ids and len(ids) == 27
    later = db.session.scalars(select(Session.id).where(Session.group_id == north["group"],
                                                        Session.starts_at > FIRST)).first()
    assert _tag("session", later, "pending", "Waiting to send to nDelius") in page  # not sent yet, not over


def test_the_calendar_fills_in_its_tags_and_keeps_them_up_to_date(app, north):  # type: ignore[no-untyped-def]
    facilitator = _signed_in(app, "fac.nw")
    page = facilitator.get("/calendar?view=week&date=2026-04-13").get_data(as_text=True)
    assert f'<span id="sync-session-{north["session"]}" class="app-sync-state" data-sync-state=""></span>' in page
    assert (f'hx-get="/sync-states?sessions={north["session"]}" hx-trigger="load, every 5s" hx-swap="none"'
            in page)
    body = facilitator.get(f"/sync-states?sessions={north['session']}", htmx=True).get_data(as_text=True)
    assert body.strip() == _tag("session", north["session"], "needs_outcome", "Needs attention: record the outcome",
                                oob=True)


def test_another_regions_sessions_are_left_out(app, north, world):  # type: ignore[no-untyped-def]
    south = world.region("SW", "South West")
    world.user(south, "treatment_manager", "tm.sw")
    stranger = _signed_in(app, "tm.sw")
    answer = stranger.get(f"/sync-states?sessions={north['session']}&register={north['session']}", htmx=True)
    assert answer.status_code == 200 and answer.get_data(as_text=True).strip() == ""


def test_the_integration_page_sends_an_unrecorded_outcome_to_the_register_not_to_retry(app, north):  # type: ignore[no-untyped-def]
    manager = _signed_in(app, "tm.nw")
    page = manager.get("/integration").get_data(as_text=True)
    row = page[page.index("Charlie Cole"):]
    row = row[:row.index("</tr>")]
    assert "Needs attention: record the outcome" in row
    assert ">Retry<" not in row and "<button" not in row
    assert (f'href="/sessions/{north["session"]}#attendee-{north["charlie"]}">Record the outcome'
            '<span class="govuk-visually-hidden"> for Charlie Cole, Introduction to Building Choices</span></a>') in row
    retried = manager.post("/integration/retry-all")
    assert retried.status_code == 302
    assert db.session.get(NDeliusAppointment, north["charlie_appointment"]).sync_state == "needs_attention"
