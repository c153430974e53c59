"""Each role's main journey end to end in headless Chromium, on a 10-inch tablet (1024×768, touch) and on a
laptop (1366×900, mouse), against the app over real HTTP with a real RQ worker process. Every step is
screenshotted (docs/screenshots/<role>/tablet/ is the README's set) and checked with axe-core: no serious or
critical accessibility problem on any page. Runs on one database (see tests/browser/journey_kit.py)."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, time

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Attendance, Attendee, Group, Membership, Referral, Session, User
from app.scheduling import Slot
from app.services import attendance
from tests.browser.conftest import touch_drag
from tests.browser.journey_kit import VIEWPORTS, Journey, journey_page, shots_dir, viewport  # noqa: F401
from tests.browser.live_server import live_server  # noqa: F401

pytestmark = pytest.mark.browser

MONDAY_10 = Slot(0, time(10))
WEDNESDAY_14 = Slot(2, time(14))


@pytest.fixture
def worker_env() -> dict[str, str]:
    return {"RESCHEDULE_STEP_DELAY": "0.05"}  # the cascade's progress bar is on screen for about a second


def _read(query):  # type: ignore[no-untyped-def]
    """What is stored now, in a transaction that ends at once (so the server is never blocked on SQLite)."""
    db.session.expire_all()
    try:
        return db.session.execute(query).all()
    finally:
        db.session.rollback()


def _centre(box):  # type: ignore[no-untyped-def]
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


# ------------------------------------------------------------------------------------------ treatment manager

@pytest.fixture
def north_west(world):  # type: ignore[no-untyped-def]
    """Monday 2 March 2026: two people waiting, a facilitator, and group BC-K (Wednesdays, started) that will be
    at session 2.2 in April."""
    clock.freeze(datetime(2026, 3, 2, 9))
    region = world.region("NW", "North West")
    manager = world.user(region, "treatment_manager", "tm.nw", name="Tess Manager")
    fran = world.facilitator(region, "Fran Lead")
    world.referral(region, "Jordan Smith", "N100001")
    world.referral(region, "Sam Jones", "N100002")
    world.started(world.group(manager, "BC-K", start=date(2026, 3, 11), slots=(WEDNESDAY_14,), lead=fran), manager)
    db.session.commit()
    ids = {"manager": manager.id}
    db.session.commit()
    return ids


def _drag(journey: Journey, session, target) -> None:  # type: ignore[no-untyped-def]
    """A finger on the session's handle (tablet) or the mouse on the session (laptop), moved to the day."""
    page = journey.page
    session.evaluate("el => el.closest('[data-drop-date]').scrollIntoView({block: 'start'})")
    if journey.touch:
        touch_drag(page, _centre(session.locator(".app-session__handle").bounding_box()),
                   _centre(target.bounding_box()))
        return
    (x0, y0), (x1, y1) = _centre(session.locator(".app-session__time").bounding_box()), _centre(target.bounding_box())
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=12)
    page.mouse.up()


def test_treatment_manager_creates_starts_and_runs_a_group(  # type: ignore[no-untyped-def]
        journey_page, viewport, north_west, request, tmp_path):  # noqa: F811
    page = journey_page
    j = Journey(page, "treatment-manager", viewport, shots_dir("treatment-manager", viewport, tmp_path))
    j.sign_in("tm.nw")
    j.check("groups")

    # 1. Create a group
    j.press(page.get_by_role("link", name="Create a group"))
    page.get_by_role("heading", name="Create a group").wait_for()
    page.get_by_label("Group code").fill("BC-J")
    page.get_by_label("General offence").check()
    page.get_by_label("Male", exact=True).check()
    page.get_by_label("Delivery location").fill("Manchester Probation Office, room 3")
    page.get_by_label("Earliest start date").fill("2026-03-09")
    page.get_by_label("Day 1").select_option(label="Monday")
    page.get_by_label("Start time 1").fill("10:00")
    page.get_by_label("Lead facilitator").select_option(label="Fran Lead")
    j.check("create-a-group")
    j.press(page.get_by_role("button", name="Create group"))
    page.get_by_text("Group BC-J created. Start it when you are ready.").wait_for()
    j.check("group-created")
    group_id = _read(select(Group.id).where(Group.code == "BC-J"))[0][0]

    # 2. Allocate two people from the waiting list before it starts
    for name in ("Jordan Smith", "Sam Jones"):
        j.press(page.get_by_role("link", name="Allocate someone"))
        page.get_by_label(name).check()
        if name == "Jordan Smith":
            j.check("allocate")
        j.press(page.get_by_role("button", name="Allocate to group BC-J"))
        page.get_by_text(f"{name} allocated to group BC-J").wait_for()
    assert page.get_by_role("heading", name="Members (2 of 12)").is_visible()

    # 3. Start it: the progress bar, then (once the background worker has run the job) the whole schedule
    j.press(page.get_by_role("button", name="Start group"))
    page.locator("#schedule progress.app-progress").wait_for()
    j.check("starting", show=page.locator("#schedule"))
    request.getfixturevalue("rq_worker")  # the worker comes up now, so the bar is seen before the job runs
    schedule = page.locator("#schedule table.app-schedule")
    schedule.wait_for(timeout=30_000)
    assert "27 sessions, 9 Mar 2026 to" in schedule.locator("caption").inner_text()
    assert page.locator("#schedule progress").count() == 0
    j.check("schedule", show=page.locator("#schedule"))

    # 4. Book the pre-group one-to-ones at the suggested times
    j.press(page.get_by_role("link", name="Book one-to-ones for Pre-group one-to-one"))
    page.get_by_role("heading", name="Book one-to-ones: Pre-group one-to-one").wait_for()
    j.check("one-to-ones")
    for name in ("Jordan Smith", "Sam Jones"):
        j.press(page.get_by_role("button", name=f"Book this time for {name}"))
        page.get_by_text("One-to-one booked for").wait_for()
    assert "2 of 2" in page.locator("main").inner_text()
    j.check("one-to-ones-booked")

    # 5. Postpone 2.2 by a week by dragging it on the month calendar; the calendar redraws itself
    page.goto(f"/groups/{group_id}")
    j.press(page.get_by_role("link", name="See the calendar of group BC-J"))
    # the calendar's page has loaded (and htmx with it) before a view is chosen: a radio changed while the page
    # is still loading changes nothing else (the filters then go with "Show calendar", as without JavaScript)
    page.wait_for_url("**/calendar?scope=group-*")
    page.get_by_label("Month").check()
    page.locator("#calendar.app-calendar-view .app-calendar--month").wait_for()
    j.press(page.get_by_role("link", name="Next month"))
    page.locator("#calendar-title", has_text="April 2026").wait_for()
    understanding = page.locator('[data-drop-date="2026-04-13"] .app-session--movable')
    j.check("calendar", show=page.locator("#calendar-title"))
    _drag(j, understanding, page.locator('[data-drop-date="2026-04-20"]'))
    dialog = page.locator("#calendar-dialog")
    dialog.locator("#calendar-dialog-title", has_text="Postpone Understanding myself to Mon 20 Apr 2026").wait_for()
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'calendar-dialog-title'")
    j.check("calendar-drag-preview")
    j.press(dialog.get_by_role("button", name="Confirm and move the sessions"))
    dialog.get_by_text("Done", exact=True).wait_for(timeout=30_000)
    page.locator('[data-drop-date="2026-04-20"] .app-session', has_text="Understanding myself").wait_for()
    j.check("calendar-moved")
    j.press(dialog.get_by_role("button", name="Close"))
    assert not dialog.is_visible()
    # the focus goes back to the session that was dragged, now on its new day
    page.wait_for_function("""() => document.activeElement && document.activeElement.closest(
        '[data-drop-date="2026-04-20"] .app-session') !== null""")

    # Four weeks on (Thursday 2 April): the pre-group one-to-ones and 2.1 have happened; Sam missed 2.1
    clock.freeze(datetime(2026, 4, 2, 12))
    manager = db.session.get(User, north_west["manager"])
    people = {r.person_name: r.id for r in db.session.scalars(select(Referral))}
    for attendee in db.session.scalars(select(Attendee).join(Session).where(
            Session.group_id == group_id, Session.starts_at < clock.now_local())):
        missed = attendee.referral_id == people["Sam Jones"] and attendee.session.kind == "scheduled"
        attendance.record(manager, attendee, outcome="UAAB" if missed else "ATTC")
    db.session.commit()

    # 6. Book Sam a catch-up for the session they missed
    page.goto(f"/groups/{group_id}")
    j.press(page.get_by_role("link", name="Register for Introduction to Building Choices on 30 March"))
    j.check("register-missed", show=page.locator("li.app-register-row", has_text="Sam Jones"))
    j.press(page.get_by_role("link", name="Book a catch-up for Sam Jones"))
    page.get_by_role("heading", name="Book a catch-up for “Introduction to Building Choices”").wait_for()
    assert page.get_by_label("Sam Jones").is_checked()
    page.get_by_label("Date", exact=True).fill("2026-04-09")
    page.get_by_label("Start time").fill("14:00")
    j.check("catch-up")
    j.press(page.get_by_role("button", name="Book catch-up"))
    page.get_by_text("Catch-up booked for Thursday 9 April at 14:00").wait_for()
    j.check("catch-up-booked")

    # 7. Jordan moves away: remove them from BC-J, then join BC-K at the point they reached (bus stopping)
    page.goto(f"/groups/{group_id}")
    j.press(page.get_by_role("link", name="Remove Jordan Smith from the group"))
    page.get_by_label("Awaiting allocation").check()
    page.get_by_label("Why are they leaving the group?").fill("Moved to a new address across the city")
    j.check("remove")
    j.press(page.get_by_role("button", name="Remove from group"))
    page.get_by_text("Jordan Smith removed from group BC-J (Awaiting allocation)").wait_for()
    j.press(page.get_by_role("link", name="Waiting list"))
    page.wait_for_url("**/referrals")
    j.check("waiting-list")
    j.press(page.get_by_role("link", name="Find a group for Jordan Smith"))
    assert "They resume at 2.2 Understanding myself" in page.locator("#position").inner_text()
    assert "At their point" in page.locator("#fitting-groups tbody tr", has_text="BC-K").inner_text()
    j.check("find-a-group", show=page.locator("#position"))
    j.press(page.get_by_role("button", name="Allocate Jordan Smith to group BC-K"))
    page.get_by_text("Jordan Smith allocated to group BC-K").wait_for()
    j.check("bus-stopped")

    [(code,)] = _read(select(Group.code).join(Membership).where(
        Membership.referral_id == people["Jordan Smith"], Membership.left_at.is_(None)))
    assert code == "BC-K"
    j.finish()


# ------------------------------------------------------------------------------------------------ facilitator

PEOPLE = ("Alex Able", "Billie Brown", "Charlie Cole", "Dee Dunn", "Eli East", "Flo Fox")


@pytest.fixture
def todays_session(world):  # type: ignore[no-untyped-def]
    """Monday 13 April 2026, 10:20: Fran's group BC1 is twenty minutes into 2.2, with six people."""
    region = world.region("NW", "North West")
    fran = world.facilitator(region, "Fran Lead")
    manager = world.user(region, "treatment_manager", "tm.nw")
    world.user(region, "facilitator", "fac.nw", facilitator=fran, name="Fran Lead")
    people = tuple(world.referral(region, name) for name in PEOPLE)
    group = world.started(world.group(manager, "BC1", start=date(2026, 3, 9), lead=fran, members=people), manager)
    clock.freeze(datetime(2026, 4, 13, 10, 20))
    session_id = db.session.scalar(select(Session.id).where(Session.group_id == group.id,
                                                           Session.starts_at == datetime(2026, 4, 13, 10)))
    db.session.commit()
    return session_id


def test_facilitator_records_a_register(journey_page, viewport, todays_session, tmp_path):  # type: ignore[no-untyped-def]  # noqa: F811
    page = journey_page
    j = Journey(page, "facilitator", viewport, shots_dir("facilitator", viewport, tmp_path))
    j.sign_in("fac.nw")
    page.wait_for_url("**/sessions")  # a facilitator lands on My sessions
    page.get_by_role("heading", name="Today, Monday 13 April").wait_for()
    j.check("my-sessions")
    j.press(page.get_by_role("link", name="10:00–12:30 Understanding myself"))
    count = page.locator("#register-count")
    count.get_by_text("0 of 6").wait_for()
    j.check("register")

    def row(name: str):  # type: ignore[no-untyped-def]
        return page.locator("li.app-register-row", has_text=name)

    for name, outcome in zip(PEOPLE[:5], ("Attended", "Attended", "Attended but failed to comply", "Did not attend",
                                          "Attended"), strict=True):
        j.press(row(name).get_by_role("button", name=f"{outcome} – {name}", exact=True))
        row(name).locator("button[aria-pressed=true]").wait_for()
    # Flo is away for a family reason: an acceptable absence is two taps (the reasons open first)
    j.press(row("Flo Fox").locator("summary"))
    j.press(row("Flo Fox").get_by_role("button", name="Family or childcare – acceptable absence for Flo Fox"))
    count.get_by_text("6 of 6").wait_for()
    # Billie arrived late: the time saves on its own
    with page.expect_response(lambda r: "/attendees/" in r.url and r.request.method == "POST"):
        row("Billie Brown").get_by_label("Arrived").fill("10:15")
    j.check("register-recorded", show=page.get_by_role("heading", name="People", exact=True))
    row_text = row("Charlie Cole").inner_text()
    assert "Attended but failed to comply" in row_text  # said in words, not only by colour
    assert "Saved by Fran Lead" in row_text

    page.get_by_label("For the whole session; everyone who opens this register sees them").fill(
        "Good discussion of the feelings wheel")
    j.press(page.get_by_role("button", name="Save session notes"))
    page.get_by_text("Session notes saved").wait_for()
    j.check("session-notes", shot=False)
    rows = _read(select(Attendance.outcome).join(Attendee).where(Attendee.session_id == todays_session))
    assert sorted(outcome for (outcome,) in rows) == ["AAFC", "AFTC", "ATTC", "ATTC", "ATTC", "UAAB"]
    j.finish()


# -------------------------------------------------------------------------------------------------------- lead

@pytest.fixture
def progress_world(world):  # type: ignore[no-untyped-def]
    """Two groups in the North West, one seven weeks in with attendance recorded; a lead to read it all."""
    region = world.region("NW", "North West")
    manager = world.user(region, "treatment_manager", "tm.nw")
    world.user(region, "lead", "lead.nw", name="Lee Lead")
    people = tuple(world.referral(region, name) for name in PEOPLE[:4])
    group = world.started(world.group(manager, "BC1", start=date(2026, 3, 9), members=people), manager)
    world.started(world.group(manager, "BC2", start=date(2026, 5, 4), members=(world.referral(region, "Gus Green"),)),
                  manager)
    clock.freeze(datetime(2026, 4, 28, 9))
    outcomes = {"Alex Able": "ATTC", "Billie Brown": "ATTC", "Charlie Cole": "AFTC", "Dee Dunn": "UAAB"}
    for attendee in db.session.scalars(select(Attendee).join(Session).where(
            Session.group_id == group.id, Session.starts_at < clock.now_local())):
        attendance.record(manager, attendee, outcome=outcomes[attendee.referral.person_name])
    group_id = group.id
    db.session.commit()  # SQLite: the test holds no transaction (so no write lock) while the browser works
    return group_id


def test_lead_reads_progress_and_exports_csv(journey_page, viewport, progress_world, tmp_path):  # type: ignore[no-untyped-def]  # noqa: F811
    page = journey_page
    j = Journey(page, "lead", viewport, shots_dir("lead", viewport, tmp_path))
    j.sign_in("lead.nw")
    j.press(page.get_by_role("link", name="Progress"))
    page.get_by_role("heading", name="Progress in North West").wait_for()
    assert "2 groups, 5 people" in page.locator("main").inner_text()
    j.check("dashboard")
    j.check("dashboard-charts", show=page.locator("#attendance-heading"))
    with page.expect_download() as region_csv:
        j.press(page.get_by_role("link", name="Download progress of every person (CSV)"))
    assert region_csv.value.suggested_filename == "progress-region-2026-04-28.csv"
    lines = list(csv.DictReader(io.StringIO(region_csv.value.path().read_text(encoding="utf-8"))))
    assert sorted(line["Name"] for line in lines) == ["Alex Able", "Billie Brown", "Charlie Cole", "Dee Dunn",
                                                       "Gus Green"]

    j.press(page.get_by_role("link", name="Progress of group BC1"))
    page.get_by_role("heading", name="Progress of group BC1").wait_for()
    j.check("group-progress")
    j.check("group-progress-grid", show=page.locator("#grid-caption"))
    with page.expect_download() as group_csv:
        j.press(page.get_by_role("link", name="Download this group's progress (CSV)"))
    assert group_csv.value.suggested_filename == "progress-BC1-2026-04-28.csv"
    lines = {line["Name"]: line for line in csv.DictReader(
        io.StringIO(group_csv.value.path().read_text(encoding="utf-8")))}
    assert set(lines) == {"Alex Able", "Billie Brown", "Charlie Cole", "Dee Dunn"}
    assert lines["Alex Able"]["Group"] == "BC1" and lines["Dee Dunn"]["Did not attend"] != "0"

    j.press(page.get_by_role("link", name="Reports"))  # the four standard reports (issue 15.5)
    page.get_by_role("heading", name="Reports").wait_for()
    j.check("reports")
    width = VIEWPORTS[viewport]["viewport"]["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
    with page.expect_download() as dosage_csv:
        j.press(page.get_by_role("link", name="Download dosage (CSV)"))
    assert dosage_csv.value.suggested_filename == "dosage-north-west-2026-04-28.csv"
    dosage = {line["Name"]: line for line in csv.DictReader(
        io.StringIO(dosage_csv.value.path().read_text(encoding="utf-8")))}
    assert set(dosage) == {"Alex Able", "Billie Brown", "Charlie Cole", "Dee Dunn", "Gus Green"}
    j.finish()


# ------------------------------------------------------------------------------------------------------- admin

def test_admin_looks_after_integration_and_facilitators(journey_page, viewport, progress_world, world,  # type: ignore[no-untyped-def]  # noqa: F811
                                                        tmp_path):
    page = journey_page
    from app.models import Region
    world.user(db.session.scalars(select(Region)).one(), "admin", "admin", name="Ada Admin")
    db.session.commit()
    j = Journey(page, "admin", viewport, shots_dir("admin", viewport, tmp_path))
    j.sign_in("admin")
    j.check("groups")
    j.press(page.get_by_role("link", name="Integration"))
    page.wait_for_url("**/integration")
    j.check("integration")
    j.press(page.get_by_role("link", name="Facilitators"))
    page.wait_for_url("**/facilitators")
    j.check("facilitators")
    j.press(page.get_by_role("link", name="Progress"))
    page.wait_for_url("**/progress")
    page.get_by_label("Region").select_option(label="North West")
    j.press(page.get_by_role("button", name="Show"))
    page.wait_for_url("**/progress?region_id=*")
    j.check("progress-by-region")
    j.press(page.get_by_role("link", name="Programmes"))  # programme template versions (issue 15.10)
    page.get_by_role("heading", name="Programme versions").wait_for()
    assert page.locator("#versions tbody tr").count() >= 1
    j.check("programmes")
    width = VIEWPORTS[viewport]["viewport"]["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
    j.finish()
