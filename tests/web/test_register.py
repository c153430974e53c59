"""The attendance register: My sessions, one row per person, each tap saving its own row, conflicts shown
rather than overwritten, retried taps applied once, and who may record."""
from __future__ import annotations

import re
import uuid
from datetime import datetime

import pytest
from sqlalchemy import event, func, select

from app import clock
from app.extensions import db
from app.models import (
    Attendance,
    AttendanceHistory,
    AuditEvent,
    OutboxItem,
    ProcessedRequest,
    Referral,
    ReferralProgress,
    Session,
    User,
)
from app.services import attendance as attendance_service

FIRST_GROUP_SESSION = datetime(2026, 4, 13, 10)  # "Introduction": after the pre-group one-to-one and the gap


@pytest.fixture
def team(world):  # type: ignore[no-untyped-def]
    region = world.region("NW", "North West")
    lead = world.facilitator(region, "Fran Lead")
    other = world.facilitator(region, "Olly Other")
    manager = world.user(region, "treatment_manager", "tm.nw")
    people = tuple(world.referral(region, name) for name in ("Alex Able", "Billie Brown", "Charlie Cole"))
    group = world.started(world.group(manager, "BC1", lead=lead, members=people), manager)
    return {
        "region": region, "manager": manager, "group": group, "people": people, "lead": lead,
        "facilitator": world.user(region, "facilitator", "fac.lead", facilitator=lead),
        "stranger": world.user(region, "facilitator", "fac.other", facilitator=other),
        "leadership": world.user(region, "lead", "lead.nw"),
    }


def _session(group, starts_at=FIRST_GROUP_SESSION) -> Session:  # type: ignore[no-untyped-def]
    return db.session.scalar(select(Session).where(Session.group_id == group.id, Session.starts_at == starts_at))


def _attendee(session: Session, name: str):  # type: ignore[no-untyped-def]
    return next(a for a in session.attendees if a.referral.person_name == name)


def _tap(browser, session, attendee, outcome=None, *, version="", key=None, **fields):  # type: ignore[no-untyped-def]
    data = {"version": version, "current_outcome": "", "idempotency_key": key or uuid.uuid4().hex}
    if outcome is not None:
        data["outcome"] = outcome
    data.update(fields)
    return browser.post(f"/sessions/{session.id}/attendees/{attendee.id}", data, htmx=True)


@pytest.fixture
def started_session(team):  # type: ignore[no-untyped-def]
    clock.freeze(FIRST_GROUP_SESSION.replace(hour=11))
    return _session(team["group"])


def test_a_facilitator_sees_today_first_then_upcoming_sessions(browser, team):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 4, 13, 8, 30))
    browser.sign_in("fac.lead")
    page = browser.get("/sessions").data.decode()
    today = page.index("Today, Monday 13 April")
    coming = page.index("Coming up")
    assert today < page.index("Introduction to Building Choices") < coming
    assert page.index("Mon 20 Apr") > coming
    assert "0 of 3 recorded" in page
    assert 'href="/sessions"' in page  # "My sessions" in the navigation


def test_a_facilitator_does_not_see_sessions_they_do_not_facilitate(browser, team):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 4, 13, 8, 30))
    browser.sign_in("fac.other")
    page = browser.get("/sessions").data.decode()
    assert "Introduction to Building Choices" not in page
    assert "No sessions today." in page


def test_the_register_has_a_row_per_person_and_says_how_many_are_recorded(browser, team, started_session):  # type: ignore[no-untyped-def]
    browser.sign_in("fac.lead")
    page = browser.get(f"/sessions/{started_session.id}").data.decode()
    assert page.count('<li class="app-register-row') == 3
    for name in ("Alex Able", "Billie Brown", "Charlie Cole"):
        assert name in page
    assert "0 of 3</span> recorded" in page
    assert page.count('value="ATTC"') == 3 and page.count('value="AACL"') == 3
    assert "Waiting to send to nDelius" in page


def test_a_tap_saves_at_once_and_only_that_row_comes_back(browser, team, started_session):  # type: ignore[no-untyped-def]
    browser.sign_in("fac.lead")
    alex = _attendee(started_session, "Alex Able")
    response = _tap(browser, started_session, alex, "ATTC")
    assert response.status_code == 200
    body = response.data.decode()
    assert body.count('<li class="app-register-row') == 1 and f'id="attendee-{alex.id}"' in body
    assert 'aria-pressed="true"' in body and "Saved by" in body
    assert 'id="register-count"' in body and 'hx-swap-oob="true"' in body and "1 of 3</span> recorded" in body
    assert "<html" not in body
    stored = db.session.scalar(select(Attendance).filter_by(attendee_id=alex.id))
    assert stored.outcome == "ATTC" and stored.version == 1
    assert db.session.get(Referral, alex.referral_id).status == "On programme"
    progress = db.session.get(ReferralProgress, alex.referral_id)
    assert progress.sessions_completed == 1
    assert db.session.scalar(select(func.count(OutboxItem.id)).where(OutboxItem.action == "update")) == 1
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "attendance.recorded")) == 1


def test_times_did_not_engage_and_notes_are_saved_with_the_outcome(browser, team, started_session):  # type: ignore[no-untyped-def]
    browser.sign_in("fac.lead")
    alex = _attendee(started_session, "Alex Able")
    _tap(browser, started_session, alex, "AFTC", arrived_at="10:05", departed_at="12:20", did_not_engage="y",
         notes="Left the room twice")
    stored = db.session.scalar(select(Attendance).filter_by(attendee_id=alex.id))
    assert (stored.outcome, stored.arrived_at.strftime("%H:%M"), stored.departed_at.strftime("%H:%M")) == (
        "AFTC", "10:05", "12:20")
    assert stored.did_not_engage and stored.notes == "Left the room twice"
    # A later change of one field keeps the outcome (it travels as current_outcome, not a button).
    response = browser.post(f"/sessions/{started_session.id}/attendees/{alex.id}", {
        "version": "1", "current_outcome": "AFTC", "arrived_at": "10:05", "departed_at": "12:25",
        "did_not_engage": "y", "notes": "Left the room twice", "idempotency_key": "second-change-1",
    }, htmx=True)
    assert response.status_code == 200
    stored = db.session.scalar(select(Attendance).filter_by(attendee_id=alex.id))
    assert stored.outcome == "AFTC" and stored.departed_at.strftime("%H:%M") == "12:25" and stored.version == 2


def test_an_acceptable_absence_is_saved_with_its_reason(browser, team, started_session):  # type: ignore[no-untyped-def]
    browser.sign_in("fac.lead")
    billie = _attendee(started_session, "Billie Brown")
    body = _tap(browser, started_session, billie, "AAME").data.decode()
    assert "Acceptable absence – medical" in body
    assert db.session.scalar(select(Attendance.outcome).filter_by(attendee_id=billie.id)) == "AAME"


def test_a_refused_row_keeps_what_was_typed_and_saves_nothing(browser, team, started_session):  # type: ignore[no-untyped-def]
    browser.sign_in("fac.lead")
    alex = _attendee(started_session, "Alex Able")
    response = _tap(browser, started_session, alex, "UAAB", arrived_at="10:05", notes="Phoned in late")
    assert response.status_code == 422
    body = response.data.decode()
    assert "Clear the arrival and departure times for someone who did not attend" in body
    assert 'value="10:05"' in body and "Phoned in late" in body
    bad_time = _tap(browser, started_session, alex, "ATTC", arrived_at="25:99")
    assert bad_time.status_code == 422 and "Enter the arrival time as a 24-hour time" in bad_time.data.decode()
    assert db.session.scalar(select(func.count(Attendance.id))) == 0


def test_an_outcome_outside_the_list_is_refused(browser, team, started_session):  # type: ignore[no-untyped-def]
    browser.sign_in("fac.lead")
    response = _tap(browser, started_session, _attendee(started_session, "Alex Able"), "XXXX")
    assert response.status_code == 422 and "Choose an outcome from the list" in response.data.decode()
    assert db.session.scalar(select(func.count(Attendance.id))) == 0


def test_attendance_cannot_be_recorded_before_the_session_starts(browser, team):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 4, 13, 9, 0))
    session = _session(team["group"])
    browser.sign_in("fac.lead")
    alex = _attendee(session, "Alex Able")
    early = _tap(browser, session, alex, "ATTC")
    assert early.status_code == 422 and "record attendance once it has started" in early.data.decode()
    assert _tap(browser, session, alex, "AACL").status_code == 200  # a known absence can be noted ahead


def test_a_stale_save_shows_both_versions_and_overwrites_nothing(browser, team, started_session):  # type: ignore[no-untyped-def]
    alex = _attendee(started_session, "Alex Able")
    attendance_service.record(team["manager"], alex, outcome="AFTC", notes="From the manager", seen_version=None)
    db.session.commit()
    browser.sign_in("fac.lead")
    response = _tap(browser, started_session, alex, "ATTC", version="", notes="From the tablet")
    assert response.status_code == 409
    body = response.data.decode()
    assert "someone else changed Alex Able’s record" in body
    assert "From the manager" in body and "From the tablet" in body
    assert "Use my change" in body and "Keep the saved version" in body
    stored = db.session.scalar(select(Attendance).filter_by(attendee_id=alex.id))
    assert (stored.outcome, stored.notes, stored.version) == ("AFTC", "From the manager", 1)
    # Choosing "use my change" posts my values against the version now stored.
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"',
                           body.split("app-register-conflict__choice")[1].split("</form>")[0]))
    chosen = browser.post(f"/sessions/{started_session.id}/attendees/{alex.id}", form, htmx=True)
    assert chosen.status_code == 200
    stored = db.session.scalar(select(Attendance).filter_by(attendee_id=alex.id))
    assert (stored.outcome, stored.notes, stored.version) == ("ATTC", "From the tablet", 2)


def test_a_retried_tap_with_the_same_key_is_applied_once(browser, team, started_session):  # type: ignore[no-untyped-def]
    browser.sign_in("fac.lead")
    alex = _attendee(started_session, "Alex Able")
    first = _tap(browser, started_session, alex, "ATTC", key="tap-0001-retry")
    again = _tap(browser, started_session, alex, "ATTC", key="tap-0001-retry")  # same request, sent twice
    assert first.status_code == 200 and again.status_code == 200
    assert "Already saved" in again.data.decode()
    assert db.session.scalar(select(func.count(AttendanceHistory.id))) == 1
    assert db.session.scalar(select(func.count(OutboxItem.id)).where(OutboxItem.action == "update")) == 1
    assert db.session.scalar(select(func.count(ProcessedRequest.id))) == 1


def test_a_key_is_also_taken_from_the_idempotency_key_header(browser, team, started_session):  # type: ignore[no-untyped-def]
    browser.sign_in("fac.lead")
    alex = _attendee(started_session, "Alex Able")
    url = f"/sessions/{started_session.id}/attendees/{alex.id}"
    for _ in range(2):
        browser.post(url, {"version": "", "outcome": "ATTC"}, htmx=True, headers={"Idempotency-Key": "header-key-1"})
    assert db.session.scalar(select(func.count(AttendanceHistory.id))) == 1


def test_a_refused_save_does_not_use_up_its_key(browser, team, started_session):  # type: ignore[no-untyped-def]
    browser.sign_in("fac.lead")
    alex = _attendee(started_session, "Alex Able")
    assert _tap(browser, started_session, alex, "UAAB", arrived_at="10:00", key="retry-after-fix").status_code == 422
    assert _tap(browser, started_session, alex, "UAAB", key="retry-after-fix").status_code == 200
    assert db.session.scalar(select(Attendance.outcome).filter_by(attendee_id=alex.id)) == "UAAB"


def test_the_notes_history_of_a_row_is_visible(browser, team, started_session):  # type: ignore[no-untyped-def]
    browser.sign_in("fac.lead")
    alex = _attendee(started_session, "Alex Able")
    _tap(browser, started_session, alex, "ATTC", notes="Quiet at first")
    _tap(browser, started_session, alex, "ATTC", version="1", notes="Quiet at first, joined in later")
    page = browser.get(f"/sessions/{started_session.id}").data.decode()
    assert "History and notes (2 changes)" in page
    assert "Notes: “Quiet at first”" in page and "Notes: “Quiet at first, joined in later”" in page


def test_shared_session_notes_are_saved_and_a_stale_edit_is_shown_not_overwritten(browser, team, started_session):  # type: ignore[no-untyped-def]
    browser.sign_in("fac.lead")
    url = f"/sessions/{started_session.id}/notes"
    saved = browser.post(url, {"session_notes": "Room change to 4", "seen_notes": ""}, htmx=True)
    assert saved.status_code == 200 and "Session notes saved" in saved.data.decode()
    stale = browser.post(url, {"session_notes": "Fire drill at 11", "seen_notes": ""}, htmx=True)
    assert stale.status_code == 409
    body = stale.data.decode()
    assert "Room change to 4" in body and "Fire drill at 11" in body
    assert db.session.get(Session, started_session.id).notes == "Room change to 4"


def test_a_facilitator_of_another_session_may_not_record_or_see_it(browser, team, started_session):  # type: ignore[no-untyped-def]
    browser.sign_in("fac.other")
    assert browser.get(f"/sessions/{started_session.id}").status_code == 403
    assert _tap(browser, started_session, _attendee(started_session, "Alex Able"), "ATTC").status_code == 403
    assert db.session.scalar(select(func.count(Attendance.id))) == 0


def test_a_lead_reads_the_register_but_cannot_record(browser, team, started_session):  # type: ignore[no-untyped-def]
    browser.sign_in("lead.nw")
    page = browser.get(f"/sessions/{started_session.id}").data.decode()
    assert "Alex Able" in page and 'value="ATTC"' not in page
    assert _tap(browser, started_session, _attendee(started_session, "Alex Able"), "ATTC").status_code == 403


def test_a_treatment_manager_records_any_session_of_the_region(browser, team, started_session):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    assert _tap(browser, started_session, _attendee(started_session, "Alex Able"), "ATTC").status_code == 200


def test_another_regions_session_is_not_found(browser, team, world, started_session):  # type: ignore[no-untyped-def]
    south = world.region("SW", "South West")
    world.user(south, "treatment_manager", "tm.sw")
    browser.sign_in("tm.sw")
    assert browser.get(f"/sessions/{started_session.id}").status_code == 404
    assert _tap(browser, started_session, _attendee(started_session, "Alex Able"), "ATTC").status_code == 404
    assert browser.get("/sessions").data.decode().count("Introduction to Building Choices") == 0


def test_a_tap_without_the_csrf_token_is_refused_and_saves_nothing(browser, team, started_session):  # type: ignore[no-untyped-def]
    browser.sign_in("fac.lead")
    alex = _attendee(started_session, "Alex Able")
    response = browser.post(f"/sessions/{started_session.id}/attendees/{alex.id}",
                            {"outcome": "ATTC", "version": "", "notes": "typed on the tablet"}, htmx=True, csrf=False)
    assert response.status_code == 400
    body = response.data.decode()
    assert "Not saved. The page had expired" in body and "typed on the tablet" in body  # what was entered is shown back
    assert response.headers.get("X-CSRF-Token")
    assert db.session.scalar(select(func.count(Attendance.id))) == 0


def test_a_register_opened_at_the_start_of_a_session_still_saves_at_its_end(browser, team, started_session):  # type: ignore[no-untyped-def]
    clock.freeze(FIRST_GROUP_SESSION)
    browser.sign_in("fac.lead")
    browser.get(f"/sessions/{started_session.id}")
    clock.freeze(FIRST_GROUP_SESSION.replace(hour=12, minute=30))
    assert browser.app.config["WTF_CSRF_TIME_LIMIT"] is None or browser.app.config["WTF_CSRF_TIME_LIMIT"] >= 4 * 3600
    assert _tap(browser, started_session, _attendee(started_session, "Alex Able"), "ATTC").status_code == 200


def test_without_javascript_a_tap_posts_the_form_and_returns_to_the_row(browser, team, started_session):  # type: ignore[no-untyped-def]
    browser.sign_in("fac.lead")
    alex = _attendee(started_session, "Alex Able")
    response = browser.post(f"/sessions/{started_session.id}/attendees/{alex.id}",
                            {"outcome": "ATTC", "version": "", "idempotency_key": "no-js-tap-1"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"#attendee-{alex.id}")
    assert db.session.scalar(select(Attendance.outcome).filter_by(attendee_id=alex.id)) == "ATTC"


def test_the_printable_register_lists_everyone_with_boxes_and_a_signature_line(browser, team, started_session):  # type: ignore[no-untyped-def]
    browser.sign_in("fac.lead")
    page = browser.get(f"/sessions/{started_session.id}/print").data.decode()
    assert page.count("app-register-print__box\"") >= 9 and "Signature" in page and "Charlie Cole" in page


def _count_queries(app, fetch):  # type: ignore[no-untyped-def]
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = fetch()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200
    return len(statements)


def test_the_register_runs_the_same_number_of_queries_for_2_or_12_people(app, browser, world):  # type: ignore[no-untyped-def]
    region = world.region()
    manager = world.user(region, "treatment_manager", "tm.count")
    counts = []
    for size, code in ((2, "SMALL"), (12, "BIG")):
        people = tuple(world.referral(region) for _ in range(size))
        group = world.started(world.group(manager, code, members=people), manager)
        clock.freeze(FIRST_GROUP_SESSION.replace(hour=11))
        session = _session(group)
        for attendee in session.attendees:
            attendance_service.record(manager, attendee, outcome="ATTC", notes="ok", seen_version=None)
        db.session.commit()
        if not counts:
            browser.sign_in("tm.count")
        counts.append(_count_queries(app, lambda s=session: browser.get(f"/sessions/{s.id}")))
    assert counts[0] == counts[1], counts


def test_a_tap_after_signing_out_gets_401_for_the_page_to_explain_and_saves_nothing(browser, team, started_session):  # type: ignore[no-untyped-def]
    browser.sign_in("fac.lead")
    browser.get(f"/sessions/{started_session.id}")
    browser.post("/logout", {})
    response = _tap(browser, started_session, _attendee(started_session, "Alex Able"), "ATTC")
    assert response.status_code == 401
    assert db.session.scalar(select(func.count(Attendance.id))) == 0


def test_a_completion_recorded_elsewhere_at_the_same_moment_is_not_shown_as_someone_elses_edit(  # type: ignore[no-untyped-def]
        browser, team, started_session, monkeypatch):
    from app.models import TemplateCompletion
    from app.services import progress

    def completion_recorded_meanwhile(attendee, record):  # type: ignore[no-untyped-def]
        for _ in range(2):  # the database refuses the second completion of one session template
            db.session.add(TemplateCompletion(referral_id=attendee.referral_id, attendee_id=attendee.id,
                                              session_template_id=attendee.session.session_template_id))
        db.session.flush()

    monkeypatch.setattr(progress, "attendee_changed", completion_recorded_meanwhile)
    browser.sign_in("fac.lead")
    alex = _attendee(started_session, "Alex Able")
    response = _tap(browser, started_session, alex, "ATTC")

    assert response.status_code == 422
    body = response.data.decode()
    assert (f'<p class="govuk-error-message" id="attendee-{alex.id}-outcome-error"><span class="govuk-visually-hidden">'
            'Error:</span> Not saved. 2.1 was recorded as complete for Alex Able from another register at the same '
            'moment (their progress already shows it). Nobody changed this row: save it again.</p>') in body
    assert "someone else" not in body.lower() and "Keep the saved version" not in body
    assert db.session.scalar(select(func.count(Attendance.id))) == 0

    plain = browser.post(f"/sessions/{started_session.id}/attendees/{alex.id}",
                         {"version": "", "current_outcome": "", "outcome": "ATTC", "idempotency_key": "plain-tap-1"})
    assert plain.status_code == 302
    page = browser.get(plain.headers["Location"]).data.decode()
    assert ("Not saved: 2.1 was recorded as complete for Alex Able from another register at the same moment (their "
            "progress already shows it). Nobody changed this row: save it again.") in page


def test_a_kept_register_has_each_viewers_own_csrf_token_and_fresh_keys(app, team, started_session):  # type: ignore[no-untyped-def]
    """The rows are kept with the region's figures (app.web.register.routes.show); what is the viewer's own is not:
    their CSRF token, and a new idempotency key per row on every page (a kept key would make two people's taps,
    or one person's two visits, look like the same request)."""
    import re

    from tests.conftest import Browser

    pages, nonces = [], []
    for username in ("fac.lead", "tm.nw", "fac.lead"):
        viewer = Browser(app, app.test_client())
        viewer.sign_in(username)
        response = viewer.get(f"/sessions/{started_session.id}")
        pages.append(response.data.decode())
        nonces.append(re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1))
        name = db.session.scalar(select(User.name).where(User.username == username))
        assert f'<span class="govuk-visually-hidden">Signed in as </span>{name}</li>' in pages[-1]
    for page, nonce in zip(pages, nonces, strict=True):  # the whole page is kept: each response has its own nonce
        assert set(re.findall(r'<script nonce="([^"]+)"', page)) == {nonce}
    assert len(set(nonces)) == 3
    keys = [re.findall(r'name="idempotency_key" value="([0-9a-f]{32})"', page) for page in pages]
    assert [len(k) for k in keys] == [3, 3, 3]
    assert len({key for page_keys in keys for key in page_keys}) == 9  # no key on two rows or two pages
    for page in pages:
        meta = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        in_rows = set(re.findall(r'name="csrf_token" value="([^"]+)"', page))
        assert in_rows == {meta}  # the viewer's own, in every form
        assert "\x00" not in page
    assert len({re.search(r'name="csrf-token" content="([^"]+)"', page).group(1) for page in pages}) == 3


def test_a_kept_register_shows_the_message_of_a_save_once(browser, team, started_session):  # type: ignore[no-untyped-def]
    """The whole register page is kept; a page with a message to show (a save without JavaScript) is not."""
    browser.sign_in("fac.lead")
    assert "Saved for" not in browser.get(f"/sessions/{started_session.id}").data.decode()
    alex = _attendee(started_session, "Alex Able")
    saved = browser.post(f"/sessions/{started_session.id}/attendees/{alex.id}",
                         {"version": "", "current_outcome": "", "outcome": "ATTC", "idempotency_key": "plain-tap-2"})
    assert saved.status_code == 302
    flashed = browser.get(saved.headers["Location"]).data.decode()
    assert "Saved for Alex Able" in flashed and "1 of 3</span> recorded" in flashed
    again = browser.get(f"/sessions/{started_session.id}").data.decode()
    assert "Saved for Alex Able" not in again and "1 of 3</span> recorded" in again


def test_the_answer_to_a_tap_does_not_read_the_signed_in_person_again(browser, team, started_session):  # type: ignore[no-untyped-def]
    """The tap's commit expires every loaded object; the signed-in person, unchanged by it, is put back as they
    were read (app/web/auth/kept_users.py), so the answer (their role, their LAO checks) sends no SQL for them."""
    from sqlalchemy import event

    browser.sign_in("fac.lead")
    assert browser.get(f"/sessions/{started_session.id}").status_code == 200
    seen: list[str] = []

    def note(conn, cursor, statement, *_):  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        response = _tap(browser, started_session, _attendee(started_session, "Alex Able"), "ATTC")
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert response.status_code == 200 and "Saved for Alex Able" in response.data.decode()
    assert not [s for s in seen if "FROM app_user" in s]



def test_a_tap_leaves_the_registers_header_kept_and_a_change_of_the_session_does_not(  # type: ignore[no-untyped-def]
        browser, team, started_session):
    """The header (the session, its group and facilitators) is kept under the generation of those tables: a tap,
    which writes none of them, does not make the next tap read it again; a change of the session is on the next
    load."""
    seen: list[str] = []

    def note(conn, cursor, statement, *_):  # type: ignore[no-untyped-def]
        seen.append(statement)

    browser.sign_in("fac.lead")
    assert browser.get(f"/sessions/{started_session.id}").status_code == 200
    assert _tap(browser, started_session, _attendee(started_session, "Alex Able"), "ATTC").status_code == 200
    event.listen(db.engine, "before_cursor_execute", note)
    try:
        second = _tap(browser, started_session, _attendee(started_session, "Billie Brown"), "ATTC")
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert second.status_code == 200 and "2 of 3</span> recorded" in second.data.decode()
    assert not [s for s in seen if "FROM session_facilitator" in s]  # the header's facilitators: kept

    started_session.location = "Room 9, Bolton Probation Office"
    db.session.commit()
    assert "Room 9, Bolton Probation Office" in browser.get(f"/sessions/{started_session.id}").data.decode()
