"""Facilitators are the region's nDelius staff (issue 15.10): read over HTTP from the fake nDelius
(`GET /regions/{code}/members`, with the service's HMPPS Auth token), refreshed by the scheduler's job and by
`flask staff refresh`; a treatment manager chooses from them when creating a group."""
from __future__ import annotations

import itertools
import os

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Facilitator
from app.services import staff
from tests.fakes.staff import register_staff

# The fake's staff list is shared by the whole run (it is nDelius's): each test has a region code, staff codes
# and usernames no other test uses.
_runs = itertools.count(1)
REGION = "ZS"


def _staff(username: str, name: str, code: str | None, team: str = "ZST01") -> None:
    register_staff(os.environ["HMPPS_AUTH_URL"], os.environ["NDELIUS_URL"], username=f"{REGION}.{username}",
                   name=name, role="facilitator", region_code=REGION, staff_code=code and f"{REGION}{code}",
                   teams=[{"code": team, "description": f"Team {team}",
                           "region": {"code": REGION, "description": "Zed South"}}])


@pytest.fixture
def region(world):  # type: ignore[no-untyped-def]
    global REGION
    REGION = f"Z{os.getpid() % 1000}{next(_runs)}"
    region = world.region(REGION, "Zed South")
    _staff("zs.priya", "Priya Shah", "S1")
    _staff("zs.tom", "Tom Okafor", "S2", team="ZST02")
    _staff("zs.renamed", "Ana Lima-Silva", "S3")
    _staff("zs.nocode", "No Code", None)  # an account without a staff code is nobody's facilitator
    db.session.add_all([
        Facilitator(region_id=region.id, name="Ana Lima", staff_code=f"{REGION}S3", team_code="OLD", email=""),
        Facilitator(region_id=region.id, name="Gone Person", staff_code=f"{REGION}S99", team_code="ZST01",
                    email=""),
    ])
    db.session.commit()
    return region


def _rows() -> dict[str, tuple[str, str, bool]]:
    return {f.staff_code.removeprefix(REGION): (f.name, f.team_code, f.in_ndelius)
            for f in db.session.scalars(select(Facilitator).order_by(Facilitator.staff_code))}


def test_the_scheduler_refreshes_the_regions_staff_from_ndelius(app, redis, region, run_jobs):  # type: ignore[no-untyped-def]
    from jobs.scheduler import tick, timetable

    jobs = timetable(app.config, start=0.0)
    assert "staff" not in tick(jobs, 0.0)  # two minutes in, then every STAFF_REFRESH_INTERVAL
    assert "staff" in tick(jobs, 120.0)
    assert "staff" not in tick(jobs, 121.0)
    run_jobs()
    assert _rows() == {
        "S1": ("Priya Shah", "ZST01", True),
        "S2": ("Tom Okafor", "ZST02", True),
        "S3": ("Ana Lima-Silva", "ZST01", True),  # nDelius's name and team win
        "S99": ("Gone Person", "ZST01", False),  # kept (past sessions name them), no longer offered
    }
    assert all(f.refreshed_at is not None for f in db.session.scalars(select(Facilitator)))
    from app.services import periodic_runs

    run = periodic_runs.latest()["staff"]
    assert run.outcome == "ok" and f"{REGION}: 2 added, 1 changed, 1 no longer in the region, 0 back" in run.summary


def test_refresh_says_what_changed_and_someone_back_in_ndelius_is_offered_again(app, region):  # type: ignore[no-untyped-def]
    [first] = staff.refresh()
    assert first.summary() == f"{REGION}: 2 added, 1 changed, 1 no longer in the region, 0 back"
    _staff("zs.gone", "Gone Person", "S99")
    [second] = staff.refresh()
    assert (second.added, second.changed, second.gone, second.back) == ([], [], [], ["Gone Person"])
    assert _rows()["S99"] == ("Gone Person", "ZST01", True)


def test_ndelius_unreachable_changes_nothing(app, region):  # type: ignore[no-untyped-def]
    app.config["NDELIUS_URL"] = "http://127.0.0.1:9"  # nothing listens there
    try:
        before = _rows()
        [result] = staff.refresh()
    finally:
        app.config["NDELIUS_URL"] = os.environ["NDELIUS_URL"]
    assert result.error is not None and result.error.startswith(f"GET http://127.0.0.1:9/regions/{REGION}/members")
    assert result.summary().startswith(f"{REGION}: not refreshed (GET http://127.0.0.1:9/regions/{REGION}/members")
    assert _rows() == before


def test_flask_staff_refresh(app, region, world):  # type: ignore[no-untyped-def]
    world.region("ZQ" + REGION, "Nobody here")  # nDelius lists nobody in it: 404
    result = app.test_cli_runner().invoke(args=["staff", "refresh"])
    assert result.exit_code == 1
    assert f"ZQ{REGION}: not refreshed (nDelius does not know the region)" in result.output
    assert f"{REGION}: 2 added, 1 changed, 1 no longer in the region, 0 back" in result.output


def test_a_treatment_manager_chooses_from_the_ndelius_staff(browser, region, world):  # type: ignore[no-untyped-def]
    world.user(region, "treatment_manager", f"tm.{REGION.lower()}")
    staff.refresh()
    browser.sign_in(f"tm.{REGION.lower()}")
    page = browser.get("/groups/new").data.decode()
    assert ">Priya Shah<" in page and ">Tom Okafor<" in page and ">Ana Lima-Silva<" in page
    assert "Gone Person" not in page and "Ana Lima<" not in page
    listed = browser.get("/facilitators").data.decode()
    assert "The region's staff in nDelius, last read " in listed
    row = listed[listed.index("Gone Person"):listed.index("Gone Person") + 200]
    assert "No longer in nDelius" in row
