"""Progress for leads: the group grid (people × sessions, outcomes in colour AND text), module ticks,
completion, where the group is; the regional dashboard with charts and the CSV export."""
from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from sqlalchemy import event, select

from app import clock
from app.extensions import db
from app.models import Session
from app.services import attendance as attendance_service
from app.services import catch_ups
from tests.conftest import Browser

INTRO = datetime(2026, 4, 13, 10)


@pytest.fixture
def region(world):  # type: ignore[no-untyped-def]
    north = world.region("NW", "North West")
    manager = world.user(north, "treatment_manager", "tm.nw")
    world.user(north, "lead", "lead.nw")
    people = (world.referral(north, "Alex Able"), world.referral(north, "Bea Best", sex="female", cohort="sexual"))
    group = world.started(world.group(manager, "BC1", members=people), manager)
    clock.freeze(datetime(2026, 4, 21, 9))
    sessions = {s.starts_at: s for s in db.session.scalars(select(Session).where(Session.group_id == group.id))}
    for attendee in sessions[datetime(2026, 3, 23, 10)].attendees:
        attendance_service.record(manager, attendee, outcome="ATTC", seen_version=None)
    for attendee in sessions[INTRO].attendees:
        outcome = "ATTC" if attendee.referral.person_name == "Alex Able" else "UAAB"
        attendance_service.record(manager, attendee, outcome=outcome, seen_version=None)
    db.session.commit()
    return {"region": north, "manager": manager, "group": group, "sessions": sessions, "people": people}


def test_the_grid_shows_each_persons_outcomes_with_text_not_only_colour(browser, region):  # type: ignore[no-untyped-def]
    browser.sign_in("lead.nw")
    page = browser.get(f"/progress/groups/{region['group'].id}").data.decode()
    assert "Alex Able" in page and "Bea Best" in page
    assert "app-progress-grid__cell--complete" in page and "app-progress-grid__cell--UAAB" in page
    assert "Introduction to Building Choices: Did not attend" in page  # hidden text a screen reader reads
    assert "Introduction to Building Choices: Complete" in page
    assert ">✗<" in page and ">✓<" in page  # visible symbols
    assert "Key" in page


def test_the_grid_shows_completion_module_ticks_and_where_the_group_is(browser, region):  # type: ignore[no-untyped-def]
    browser.sign_in("lead.nw")
    page = browser.get(f"/progress/groups/{region['group'].id}").data.decode()
    assert "7%" in page  # Alex: 2 of 27 sessions
    assert "3%" in page  # Bea: 1 of 27
    assert "Module 1 complete" in page and "Module 2 not complete" in page
    assert "(Mon 20 Apr 2026) was the last session delivered" in page
    assert "Next:</strong> " in page and "Mon 27 Apr 2026 at 10:00" in page


def test_a_catch_up_appears_in_the_grid(browser, region):  # type: ignore[no-untyped-def]
    bea = next(a for a in region["sessions"][INTRO].attendees if a.referral.person_name == "Bea Best")
    catch_ups.schedule(region["manager"], region["sessions"][INTRO], referral_ids=[bea.referral_id],
                       on=datetime(2026, 4, 22).date(), at=datetime(2026, 4, 22, 14).time(),
                       facilitator_id=region["sessions"][INTRO].lead_facilitator.id)
    browser.sign_in("lead.nw")
    page = browser.get(f"/progress/groups/{region['group'].id}").data.decode()
    assert "Introduction to Building Choices: Did not attend, 1 catch-up" in page
    assert ">+1<" in page


def test_the_dashboard_breaks_rates_down_by_sex_and_cohort_with_charts(browser, region):  # type: ignore[no-untyped-def]
    browser.sign_in("lead.nw")
    page = browser.get("/progress").data.decode()
    assert "Groups by stage" in page and "<svg" in page and "<rect" in page
    assert "Men, general offence" in page and "Women, sexual offence" in page
    assert "100%" in page and "50%" in page  # Alex attended 2 of 2, Bea 1 of 2
    assert "Module 2" in page  # the group's stage
    assert "<script" not in page.split("<main")[1].split("</main>")[0]


def test_the_csv_export_has_a_line_per_person(browser, region):  # type: ignore[no-untyped-def]
    browser.sign_in("lead.nw")
    response = browser.get("/progress/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.data.decode())))
    assert {r["Name"] for r in rows} == {"Alex Able", "Bea Best"}
    alex = next(r for r in rows if r["Name"] == "Alex Able")
    assert (alex["Sessions complete"], alex["Attended"], alex["Group"], alex["Status"]) == ("2", "2", "BC1", "On programme")
    bea = next(r for r in rows if r["Name"] == "Bea Best")
    assert bea["Did not attend"] == "1" and bea["Sex"] == "female" and bea["Cohort"] == "sexual"


def test_a_name_that_looks_like_a_formula_is_exported_as_text(browser, region, world):  # type: ignore[no-untyped-def]
    person = world.referral(region["region"], "=HYPERLINK(\"x\")")
    world.group(region["manager"], "BC2", members=(person,))
    browser.sign_in("lead.nw")
    data = browser.get("/progress/export.csv").data.decode()
    assert "'=HYPERLINK" in data


def test_other_regions_are_not_shown_or_exported(browser, region, world):  # type: ignore[no-untyped-def]
    south = world.region("SW", "South West")
    world.user(south, "lead", "lead.sw")
    browser.sign_in("lead.sw")
    assert browser.get(f"/progress/groups/{region['group'].id}").status_code == 404
    assert browser.get(f"/progress/export.csv?group_id={region['group'].id}").status_code == 404
    assert "Alex Able" not in browser.get("/progress/export.csv").data.decode()
    assert "BC1" not in browser.get("/progress").data.decode()


def test_facilitators_do_not_see_progress_pages(browser, region, world):  # type: ignore[no-untyped-def]
    world.user(region["region"], "facilitator", "fac.nw")
    browser.sign_in("fac.nw")
    assert browser.get("/progress").status_code == 403
    assert browser.get(f"/progress/groups/{region['group'].id}").status_code == 403


def _queries(fetch) -> int:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        response = fetch()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert response.status_code == 200
    return len(seen)


def test_grid_and_dashboard_run_the_same_number_of_queries_for_2_or_12_people(app, world):  # type: ignore[no-untyped-def]
    counts: dict[str, list[int]] = {"grid": [], "dashboard": [], "csv": []}
    for size in (2, 12):
        region = world.region(f"R{size}", f"Region {size}")
        manager = world.user(region, "treatment_manager", f"tm{size}")
        world.user(region, "lead", f"lead{size}")
        people = tuple(world.referral(region) for _ in range(size))
        group = world.started(world.group(manager, f"G{size}", members=people), manager)
        clock.freeze(datetime(2026, 4, 21, 9))
        for session in db.session.scalars(select(Session).where(Session.group_id == group.id,
                                                                Session.starts_at < clock.now_local())):
            for attendee in session.attendees:
                attendance_service.record(manager, attendee, outcome="ATTC", seen_version=None)
        db.session.commit()
        browser = Browser(app, app.test_client())
        browser.sign_in(f"lead{size}")
        counts["grid"].append(_queries(lambda b=browser, g=group: b.get(f"/progress/groups/{g.id}")))
        counts["dashboard"].append(_queries(lambda b=browser: b.get("/progress")))
        counts["csv"].append(_queries(lambda b=browser: b.get("/progress/export.csv")))
    assert counts["grid"][0] == counts["grid"][1], counts
    assert counts["dashboard"][0] == counts["dashboard"][1], counts
    assert counts["csv"][0] == counts["csv"][1], counts
