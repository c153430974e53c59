"""Issue 16.1: the regional dashboard, the region calendar and the groups list keep their figures for a few seconds per region
and say when they were worked out; a change someone makes is on their next load (and their colleagues'), while
another region's changes leave the kept figures alone."""
from __future__ import annotations

import re
import uuid
from datetime import datetime

import pytest
from sqlalchemy import event, select

from app import clock
from app.extensions import db
from app.models import Attendee, Session, User
from tests.conftest import Browser

INTRO = datetime(2026, 4, 13, 10)
MONTH = "/calendar?view=month&scope=region&date=2026-04-13"


@pytest.fixture
def regions(world):  # type: ignore[no-untyped-def]
    made = {}
    for code in ("NW", "SW"):
        region = world.region(code, f"Region {code}")
        manager = world.user(region, "treatment_manager", f"tm.{code.lower()}")
        world.user(region, "lead", f"lead.{code.lower()}")
        lead = world.facilitator(region, f"Fran {code}")
        people = tuple(world.referral(region, f"{name} {code}") for name in ("Alex", "Bea"))
        group = world.started(world.group(manager, f"BC-{code}", lead=lead, members=people), manager)
        made[code] = {"region": region, "manager": manager, "group": group, "lead": lead}
    clock.freeze(INTRO.replace(hour=11))
    return made


def _statements(fetch) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        response = fetch()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert response.status_code == 200
    return re.sub(r'nonce="[^"]+"', "", response.data.decode()), len(seen)  # a nonce per response


def _tap(browser: Browser, group_id: int, person: str) -> None:
    session = db.session.scalar(select(Session).where(Session.group_id == group_id, Session.starts_at == INTRO))
    attendee = db.session.scalar(select(Attendee).where(Attendee.session_id == session.id).join(Attendee.referral)
                                 .where(Attendee.referral.has(person_name=person)))
    browser.get(f"/sessions/{session.id}")
    # A key as register.js makes one: claimed in a savepoint before the save writes (the savepoint's release is
    # not the commit; a kept page must still be replaced once the save commits).
    response = browser.post(f"/sessions/{session.id}/attendees/{attendee.id}",
                            {"version": "", "current_outcome": "", "outcome": "ATTC",
                             "idempotency_key": uuid.uuid4().hex}, htmx=True)
    assert response.status_code == 200, response.data[:300]


def test_the_dashboard_says_when_its_figures_were_worked_out_and_shows_a_tap_at_once(app, regions):  # type: ignore[no-untyped-def]
    manager = Browser(app, app.test_client())
    manager.sign_in("tm.nw")
    first, worked_out = _statements(lambda: manager.get("/progress"))
    assert "0 attendance records. Figures as of 11:00:00 on 13 April 2026." in first
    again, kept = _statements(lambda: manager.get("/progress"))
    assert again == first and kept < worked_out  # kept: not worked out again

    _tap(manager, regions["NW"]["group"].id, "Alex NW")
    page = manager.get("/progress").data.decode()
    assert "1 attendance records. Figures as of 11:00:00" in page  # their own change, on their next load
    lead = Browser(app, app.test_client())
    lead.sign_in("lead.nw")
    assert "1 attendance records." in lead.get("/progress").data.decode()  # and their colleague's


def test_another_regions_change_leaves_the_kept_dashboard_alone(app, regions):  # type: ignore[no-untyped-def]
    north = Browser(app, app.test_client())
    north.sign_in("tm.nw")
    _, worked_out = _statements(lambda: north.get("/progress"))
    south = Browser(app, app.test_client())
    south.sign_in("tm.sw")
    _tap(south, regions["SW"]["group"].id, "Alex SW")
    page, kept = _statements(lambda: north.get("/progress"))
    assert kept < worked_out and "0 attendance records." in page
    assert "1 attendance records." in south.get("/progress").data.decode()


def test_the_region_calendar_says_as_of_and_shows_a_change_made_in_the_region_at_once(app, regions):  # type: ignore[no-untyped-def]
    manager = Browser(app, app.test_client())
    manager.sign_in("tm.nw")
    first, worked_out = _statements(lambda: manager.get(MONTH))
    assert "As of 11:00:00" in first and "Group BC-NW" in first and "BC-SW" not in first
    assert "As of 11:00:00" in manager.get("/groups").data.decode()
    again, kept = _statements(lambda: manager.get(MONTH))
    assert kept < worked_out and again.count("app-session--group") == first.count("app-session--group")

    clock.freeze(INTRO.replace(hour=11, second=30))
    created = manager.post("/groups/new", {
        "code": "NEW1", "cohort": "general", "sex": "male", "delivery_location": "Room 2",
        "earliest_start_date": "2026-05-04", "slots-0-day": "2", "slots-0-start_time": "14:00",
        "lead_facilitator_id": str(regions["NW"]["lead"].id),
    })
    assert created.status_code == 302
    page = manager.get(MONTH).data.decode()
    assert "Group NEW1" in page and "As of 11:00:30" in page  # worked out again after their change
    groups = manager.get("/groups").data.decode()
    assert ">NEW1</a>" in groups and "As of 11:00:30" in groups


def test_what_one_server_process_worked_out_the_others_take_from_redis(app, regions):  # type: ignore[no-untyped-def]
    """Each kept page is in Redis too: another process (here: this one with its own copies forgotten) takes it
    instead of working it out again, and after a change works it out once more."""
    manager = Browser(app, app.test_client())
    manager.sign_in("tm.nw")
    pages = ("/groups", "/progress", MONTH)
    clock.freeze(INTRO.replace(hour=11, minute=1))  # a new minute: signing in kept the groups page of the last
    first = {path: _statements(lambda path=path: manager.get(path)) for path in pages}
    app.extensions["region_cache"]["kept"].clear()  # as a process that has not shown these pages yet
    for path in pages:
        page, statements = _statements(lambda path=path: manager.get(path))
        assert page == first[path][0] and statements < first[path][1], (path, statements, first[path][1])

    _tap(manager, regions["NW"]["group"].id, "Alex NW")
    app.extensions["region_cache"]["kept"].clear()
    assert "1 attendance records." in manager.get("/progress").data.decode()


def test_while_one_process_works_a_page_out_the_others_show_the_last_one_or_wait_for_it(app, regions, redis):  # type: ignore[no-untyped-def]
    """No herd: when a kept page is due to be worked out again, one process does it (it claims `…:making` in
    Redis) and the others show the one before, made under the same generations (nothing they must show has
    changed since)."""
    import json
    import time

    manager = Browser(app, app.test_client())
    manager.sign_in("tm.nw")
    clock.freeze(INTRO.replace(hour=11, minute=2))
    before = set(redis.scan_iter("*region-kept:*"))
    first, worked_out = _statements(lambda: manager.get("/groups"))
    (key,) = set(redis.scan_iter("*region-kept:*")) - before
    made_at, value = json.loads(redis.get(key))
    redis.set(key, json.dumps([made_at - 60, value]))  # due to be worked out again
    redis.set(key + b":making", "1")  # and another process is doing it
    app.extensions["region_cache"]["kept"].clear()
    page, statements = _statements(lambda: manager.get("/groups"))
    assert page == first and statements < worked_out  # the last one, not worked out here

    redis.delete(key + b":making")  # that process gave up: this one works it out
    app.extensions["region_cache"]["kept"].clear()
    page, statements = _statements(lambda: manager.get("/groups"))
    assert page == first and statements == worked_out
    assert json.loads(redis.get(key))[0] > time.time() - 5 and not redis.exists(key + b":making")


def test_a_group_grid_is_kept_and_shows_a_tap_on_the_next_load(app, regions):  # type: ignore[no-untyped-def]
    lead = Browser(app, app.test_client())
    lead.sign_in("lead.nw")
    grid = f"/progress/groups/{regions['NW']['group'].id}"
    first, worked_out = _statements(lambda: lead.get(grid))
    again, kept = _statements(lambda: lead.get(grid))
    assert again == first and worked_out > 0
    assert kept == 0  # kept: no SQL at all, the group it is of included
    done = "Introduction to Building Choices: Complete"
    manager = Browser(app, app.test_client())
    manager.sign_in("tm.nw")
    _tap(manager, regions["NW"]["group"].id, "Alex NW")
    page = lead.get(grid).data.decode()
    assert done not in first and done in page  # a colleague's tap, on the lead's next load


def test_a_background_change_is_shown_on_the_next_load(app, regions, world):  # type: ignore[no-untyped-def]
    manager = Browser(app, app.test_client())
    manager.sign_in("tm.nw")
    assert "Group NEW2" not in manager.get(MONTH).data.decode()
    world.group(regions["NW"]["manager"], "NEW2")  # committed outside any request, as a job's work is
    assert "Group NEW2" in manager.get(MONTH).data.decode()


def test_a_request_that_commits_twice_is_not_broken_by_the_generation_bump(app, world):  # type: ignore[no-untyped-def]
    """After a request's first commit its signed-in user is expired; the bump after its second commit must not load
    them again (no SQL may be sent then). An admin's retry of a dead letter with the broker unreachable commits
    twice (marked retrying, then dead again)."""
    from app.models import InboundEvent

    region = world.region("NW", "North West")
    world.user(region, "admin", "admin.nw")
    dead = InboundEvent(message_id="m-1", event_type="unknown", status="dead", body="{}", error="poison")
    db.session.add(dead)
    db.session.commit()
    admin = Browser(app, app.test_client())
    admin.sign_in("admin.nw")
    response = admin.post(f"/integration/events/{dead.id}/retry")
    assert response.status_code == 302
    assert db.session.get(InboundEvent, dead.id).status == "dead"


def _redis_reads(redis) -> int:  # type: ignore[no-untyped-def]
    stats = redis.info("commandstats")
    return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("get", "mget"))


def test_a_kept_page_asks_redis_once_for_every_generation_it_needs(app, regions, redis):  # type: ignore[no-untyped-def]
    """The person's row generation and their region's come in one round trip (a page's fixed cost), and a
    change in the region is still on the next load."""
    manager = Browser(app, app.test_client())
    manager.sign_in("tm.nw")
    manager.get("/progress")
    manager.get("/progress")  # the person and the page are kept now
    before = _redis_reads(redis)
    _page, statements = _statements(lambda: manager.get("/progress"))
    assert (statements, _redis_reads(redis) - before) == (0, 1)

    _tap(manager, regions["NW"]["group"].id, "Alex NW")
    assert "1 attendance records." in manager.get("/progress").data.decode()


@pytest.mark.parametrize("page", ["/progress", "/groups", "grid", MONTH])
def test_a_page_kept_whole_is_made_once_per_viewer_and_each_response_has_its_own_token_and_nonce(  # type: ignore[no-untyped-def]
        app, regions, page):
    """The dashboard, the groups list, a group's grid and the region calendar are kept whole (app.web.whole_pages),
    per viewer: the same person's next loads, from another device too, are not rendered again, yet each response
    carries its own session's CSRF token and its own CSP nonce; a colleague is shown a page made for them."""
    from flask.signals import before_render_template

    url = f"/progress/groups/{regions['NW']['group'].id}" if page == "grid" else page
    devices = {"lead.nw": Browser(app, app.test_client()), "lead.nw again": Browser(app, app.test_client()),
               "tm.nw": Browser(app, app.test_client())}
    for name, device in devices.items():
        device.sign_in(name.split()[0])
    rendered: list[str] = []

    def note(_app, template, context, **_extra):  # type: ignore[no-untyped-def]
        rendered.append(template.name)

    before_render_template.connect(note, app)
    try:
        loads = [(name, devices[name].get(url)) for name in ("lead.nw", "lead.nw again", "lead.nw")]
        by_the_lead = len(rendered)
        loads.append(("tm.nw", devices["tm.nw"].get(url)))
    finally:
        before_render_template.disconnect(note, app)
    assert by_the_lead <= 1  # the lead's page once at most (signing in may have shown it already)
    tokens, nonces = [], []
    for name, response in loads:
        assert response.status_code == 200
        body = response.data.decode()
        nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
        assert set(re.findall(r'<script nonce="([^"]+)"', body)) == {nonce} and "\x00" not in body
        token = re.search(r'name="csrf-token" content="([^"]+)"', body).group(1)
        assert set(re.findall(r'name="csrf_token" value="([^"]+)"', body)) == {token}  # the sign-out form's too
        username = name.split()[0]
        signed_in = db.session.scalar(select(User.name).where(User.username == username))
        assert f'<span class="govuk-visually-hidden">Signed in as </span>{signed_in}</li>' in body  # made for them
        tokens.append(token)
        nonces.append(nonce)
    assert len(set(nonces)) == 4
    assert tokens[0] == tokens[2] and len({tokens[0], tokens[1], tokens[3]}) == 3  # each session's own


def test_a_page_kept_whole_is_made_afresh_to_show_a_message(app, regions, world):  # type: ignore[no-untyped-def]
    """A message waiting to be shown (after a change made without JavaScript) is on the next page, once: a kept
    groups list is not shown in its place."""
    manager = Browser(app, app.test_client())
    manager.sign_in("tm.nw")
    manager.get("/groups")  # kept for them
    with manager.client.session_transaction() as kept:
        kept["_flashes"] = [("success", "Group BC-NW changed")]
    assert "Group BC-NW changed" in manager.get("/groups").data.decode()
    assert "Group BC-NW changed" not in manager.get("/groups").data.decode()
