"""The four standard reports (issue 15.5) on known data: group size over time, facilitator continuity, session
rate and dosage, as CSV downloads for leads; region-scoped, in the dashboard's numbers, restricted people
masked, and a fixed number of queries whatever the size of the region."""
from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import event, select

from app import clock
from app.extensions import db
from app.models import Attendee, Membership, ReferralProgress, Session, SessionFacilitator
from app.scheduling import Slot
from app.services import attendance, catch_ups, membership, progress_grid, progress_report
from tests.conftest import Browser

JOINED = datetime(2026, 3, 16, 9, tzinfo=UTC)


def _at(group, when: datetime) -> Session:  # type: ignore[no-untyped-def]
    return db.session.scalars(select(Session).where(Session.group_id == group.id, Session.starts_at == when)).one()


def _record(actor, session: Session, outcomes: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    for attendee in session.attendees:
        if attendee.referral.person_name in outcomes:
            attendance.record(actor, attendee, outcome=outcomes[attendee.referral.person_name], seen_version=None)
    db.session.commit()


@pytest.fixture
def known(world):  # type: ignore[no-untyped-def]
    """BC1 (lead Lena Lead, Mondays 10:00 from 23 March 2026): Alex and Bea from the start, Dee joins on 14 April
    from BC2 at the same point (bus stopping). Bea misses 2.1 and catches up on Thursday 16 April; Otto Other
    leads 2.2. The clock stands on Tuesday 21 April 2026, 09:00."""
    north = world.region("NW", "North West")
    manager = world.user(north, "treatment_manager", "tm.nw")
    world.user(north, "lead", "lead.nw")
    lena, otto = world.facilitator(north, "Lena Lead"), world.facilitator(north, "Otto Other")
    alex, bea, dee = (world.referral(north, n, c) for n, c in (("Alex Able", "A000001"), ("Bea Best", "B000002"),
                                                                ("Dee Dunn", "D000004")))
    bc1 = world.started(world.group(manager, "BC1", lead=lena, members=(alex, bea)), manager)
    bc2 = world.started(world.group(manager, "BC2", start=date(2026, 3, 16), lead=otto, members=(dee,)), manager)
    for m in db.session.scalars(select(Membership)):
        m.joined_at = JOINED if m.group_id == bc1.id else datetime(2026, 3, 9, 9, tzinfo=UTC)
    db.session.commit()

    clock.freeze(datetime(2026, 4, 14, 9))
    _record(manager, _at(bc1, datetime(2026, 3, 23, 10)), {"Alex Able": "ATTC", "Bea Best": "ATTC"})
    missed = _at(bc1, datetime(2026, 4, 13, 10))
    _record(manager, missed, {"Alex Able": "ATTC", "Bea Best": "UAAB"})
    _record(manager, _at(bc2, datetime(2026, 3, 16, 10)), {"Dee Dunn": "ATTC"})
    _record(manager, _at(bc2, datetime(2026, 4, 13, 10)), {"Dee Dunn": "ATTC"})  # Easter Monday skipped
    catch_up = catch_ups.schedule(manager, missed, referral_ids=[bea.id], on=date(2026, 4, 16), at=time(14),
                                  facilitator_id=otto.id)
    membership.remove(manager, membership.active_membership(dee), reason="Moved to BC1",
                      new_status="Awaiting allocation")
    db.session.commit()
    membership.allocate(manager, bc1, dee)
    db.session.commit()

    clock.freeze(datetime(2026, 4, 21, 9))
    _record(manager, catch_up, {"Bea Best": "ATTC"})
    later = _at(bc1, datetime(2026, 4, 20, 10))
    _record(manager, later, {"Alex Able": "AFTC", "Bea Best": "AAME", "Dee Dunn": "ATTC"})
    lead_row = db.session.scalars(select(SessionFacilitator).filter_by(session_id=later.id, role="lead")).one()
    lead_row.facilitator_id = otto.id
    db.session.commit()
    return {"region": north, "manager": manager, "bc1": bc1, "bc2": bc2}


def _csv(browser, url: str) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    response = browser.get(url)
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_the_reports_page_lists_the_four_downloads(browser, known):  # type: ignore[no-untyped-def]
    browser.sign_in("lead.nw")
    page = browser.get("/reports").get_data(as_text=True)
    assert "North West" in page
    for title, url in (("Group size over time", "/reports/group-size.csv"),
                       ("Facilitator continuity", "/reports/facilitator-continuity.csv"),
                       ("Session rate", "/reports/session-rate.csv"), ("Dosage", "/reports/dosage.csv")):
        assert title in page and f'href="{url}"' in page


def test_group_size_over_time_week_by_week(browser, known):  # type: ignore[no-untyped-def]
    browser.sign_in("lead.nw")
    rows = _csv(browser, "/reports/group-size.csv")
    bc1 = [(r["Week beginning"], r["Members at end of week"], r["Joined that week"], r["Left that week"])
           for r in rows if r["Group"] == "BC1"]
    assert bc1 == [("2026-03-16", "2", "2", "0"), ("2026-03-23", "2", "0", "0"), ("2026-03-30", "2", "0", "0"),
                   ("2026-04-06", "2", "0", "0"), ("2026-04-13", "3", "1", "0"), ("2026-04-20", "3", "0", "0")]
    bc2 = [(r["Week beginning"], r["Members at end of week"], r["Left that week"]) for r in rows if r["Group"] == "BC2"]
    assert bc2[0] == ("2026-03-09", "1", "0") and bc2[-2:] == [("2026-04-13", "0", "1"), ("2026-04-20", "0", "0")]
    assert {r["Lead facilitator"] for r in rows if r["Group"] == "BC1"} == {"Lena Lead"}
    # this week's figure is the group's members now, as the groups list shows
    assert bc1[-1][1] == str(membership.member_count(known["bc1"]))
    assert bc2[-1][1] == str(membership.member_count(known["bc2"]))


def test_facilitator_continuity_is_the_share_of_delivered_sessions_led_by_the_lead(browser, known):  # type: ignore[no-untyped-def]
    browser.sign_in("lead.nw")
    rows = {r["Group"]: r for r in _csv(browser, "/reports/facilitator-continuity.csv")}
    bc1 = rows["BC1"]
    assert (bc1["Lead facilitator"], bc1["Sessions delivered"], bc1["Led by the group's lead"],
            bc1["Led by someone else"], bc1["Share led by the group's lead (%)"],
            bc1["Others who led (sessions)"]) == ("Lena Lead", "3", "2", "1", "67", "Otto Other (1)")
    stages = {s.code: s for s in progress_report.group_stages(known["manager"])}
    assert {code: int(r["Sessions delivered"]) for code, r in rows.items()} == \
        {code: s.delivered for code, s in stages.items()}  # the dashboard's figure


def test_session_rate_per_person_per_week_adds_up_to_the_dashboard(browser, known):  # type: ignore[no-untyped-def]
    browser.sign_in("lead.nw")
    rows = _csv(browser, "/reports/session-rate.csv")
    bea = {r["Week beginning"]: r for r in rows if r["Name"] == "Bea Best"}
    week = bea["2026-04-13"]  # 2.1 missed, caught up on the Thursday
    assert (week["Group"], week["CRN"], week["Sessions scheduled"], week["Attended"], week["Not attended"],
            week["To be confirmed"], week["Attendance rate (%)"]) == ("BC1", "B000002", "2", "1", "1", "0", "50")
    assert (bea["2026-04-20"]["Not attended"], bea["2026-04-20"]["Of which acceptable absence"]) == ("1", "1")
    assert bea["2026-04-27"]["Still to come"] == "1" and bea["2026-04-27"]["Attendance rate (%)"] == ""
    dee = [(r["Group"], r["Week beginning"], r["Attended"]) for r in rows
           if r["Name"] == "Dee Dunn" and r["Attended"] != "0"]
    assert dee == [("BC1", "2026-04-20", "1"), ("BC2", "2026-03-16", "1"), ("BC2", "2026-04-13", "1")]
    for r in rows:
        parts = sum(int(r[k]) for k in ("Attended", "Not attended", "To be confirmed", "Still to come"))
        assert parts == int(r["Sessions scheduled"])
    board = progress_report.dashboard(known["manager"])
    assert sum(int(r["Attended"]) for r in rows) == sum(rate.numerator for rate in board.attendance) == 8
    assert sum(int(r["Attended"]) + int(r["Not attended"]) for r in rows) == board.recorded == 10


def test_dosage_names_the_group_where_each_session_was_attended(browser, known):  # type: ignore[no-untyped-def]
    browser.sign_in("lead.nw")
    response = browser.get("/reports/dosage.csv")
    header = next(csv.reader(io.StringIO(response.get_data(as_text=True))))
    sessions = [h for h in header if h[:1].isdigit()]
    assert len(sessions) == 27 and sessions[0].startswith("1.1 ") and sessions[-1].startswith("7.1 ")
    rows = {r["Name"]: r for r in _csv(browser, "/reports/dosage.csv")}
    dee = rows["Dee Dunn"]
    cells = {h.split(" ")[0]: dee[h] for h in sessions}
    assert (cells["1.1"], cells["2.1"], cells["2.2"], cells["3.1"]) == ("BC2", "BC2", "BC1", "")
    assert (dee["Groups"], dee["Sessions attended"], dee["Sessions complete"]) == ("BC2 / BC1", "3", "3")
    alex = rows["Alex Able"]
    assert (alex["Sessions attended"], alex["Sessions complete"]) == ("3", "2")  # 2.2 attended, failed to comply
    bea = {h.split(" ")[0]: rows["Bea Best"][h] for h in sessions}
    assert (bea["2.1"], bea["2.2"]) == ("BC1", "")  # the catch-up; the acceptable absence is not attended
    grid = progress_grid.group_progress(progress_grid.GridGroup.of(known["bc1"]))
    by_person = {r.referral.person_name: db.session.get(ReferralProgress, r.referral.id).sessions_completed
                 for r in grid.rows}
    assert all(rows[name]["Sessions complete"] == str(n) for name, n in by_person.items())


def test_facilitators_cannot_download_reports(browser, known, world):  # type: ignore[no-untyped-def]
    world.user(known["region"], "facilitator", "fac.nw")
    browser.sign_in("fac.nw")
    assert browser.get("/reports").status_code == 403
    assert browser.get("/reports/dosage.csv").status_code == 403


def test_reports_are_region_scoped_and_admins_choose_a_region(app, known, world):  # type: ignore[no-untyped-def]
    south = world.region("SW", "South West")
    other = world.user(south, "treatment_manager", "tm.sw")
    world.user(south, "lead", "lead.sw")
    world.started(world.group(other, "SW1", members=(world.referral(south, "Zed Zulu", "Z000009"),)), other)
    world.user(known["region"], "admin", "admin")
    lead = Browser(app, app.test_client())
    lead.sign_in("lead.sw")
    for report in ("group-size", "facilitator-continuity", "session-rate", "dosage"):
        body = lead.get(f"/reports/{report}.csv").get_data(as_text=True)
        assert "BC1" not in body and "Alex Able" not in body
    admin = Browser(app, app.test_client())
    admin.sign_in("admin")
    everything = admin.get("/reports/dosage.csv").get_data(as_text=True)
    assert "Zed Zulu" in everything and "Alex Able" in everything
    page = admin.get(f"/reports?region_id={south.id}").get_data(as_text=True)
    assert "South West" in page and f"/reports/dosage.csv?region_id={south.id}" in page
    chosen = admin.get(f"/reports/dosage.csv?region_id={south.id}").get_data(as_text=True)
    assert "Zed Zulu" in chosen and "Alex Able" not in chosen


def test_a_name_that_looks_like_a_formula_is_text(browser, known, world):  # type: ignore[no-untyped-def]
    person = world.referral(known["region"], "=HYPERLINK(1)", "E000005")
    db.session.add(Membership(group=known["bc1"], referral=person, added_by_id=known["manager"].id,
                              joined_at=JOINED))
    db.session.commit()
    browser.sign_in("lead.nw")
    assert "'=HYPERLINK(1)" in browser.get("/reports/dosage.csv").get_data(as_text=True)


def _queries(fetch) -> int:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        response = fetch()  # buffered: the streamed body is read within the request, as a server does
        assert response.status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len(seen)


def test_each_report_runs_as_many_queries_for_one_group_as_for_four(app, world):  # type: ignore[no-untyped-def]
    counts: dict[str, list[int]] = {}
    for size in (1, 4):
        region = world.region(f"R{size}", f"Region {size}")
        manager = world.user(region, "treatment_manager", f"tm{size}")
        world.user(region, "lead", f"lead{size}")
        for n in range(size):
            people = tuple(world.referral(region) for _ in range(size + 1))
            world.started(world.group(manager, f"G{size}-{n}", members=people,
                                      slots=(Slot(n % 5, time(10)),)), manager)
        clock.freeze(datetime(2026, 4, 21, 9))
        for attendee in db.session.scalars(select(Attendee).join(Session).where(
                Session.starts_at < clock.now_local(), Session.group.has(region_id=region.id))):
            attendance.record(manager, attendee, outcome="ATTC", seen_version=None)
        db.session.commit()
        browser = Browser(app, app.test_client())
        browser.sign_in(f"lead{size}")
        for report in ("group-size", "facilitator-continuity", "session-rate", "dosage"):
            counts.setdefault(report, []).append(
                _queries(lambda b=browser, r=report: b.get(f"/reports/{r}.csv", buffered=True)))
    assert all(a == b for a, b in counts.values()), counts



def test_restricted_people_are_masked_in_the_reports_as_in_the_export(app, world, case_ndelius, monkeypatch):  # type: ignore[no-untyped-def]
    from tests.web.regions import build_region

    monkeypatch.setitem(app.config, "LAO_CHECKS", True)
    build_region(world, "RRR", "Rowan")
    case_ndelius.cases.add({"crn": "R000000", "forename": "Person", "surname": "Rowan 0",
                            "dateOfBirth": "1980-01-01", "restrictedTo": ["treatment_manager.rrr"]})
    lead = Browser(app, app.test_client())
    lead.sign_in("lead.rrr")
    for report in ("session-rate", "dosage"):
        rows = _csv(lead, f"/reports/{report}.csv")
        names = {r["Name"] for r in rows}
        assert names == {"Restricted", "Person Rowan 1"}, report
        assert all(r["CRN"] == "" for r in rows if r["Name"] == "Restricted")
        assert "R000000" not in lead.get(f"/reports/{report}.csv").get_data(as_text=True)
    manager = Browser(app, app.test_client())
    manager.sign_in("treatment_manager.rrr")
    assert "Person Rowan 0" in {r["Name"] for r in _csv(manager, "/reports/dosage.csv")}
