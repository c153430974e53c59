"""Issue 16.5: no N+1 anywhere. Every page a region's staff read runs the same number of SQL statements for a
region with 2 groups as for one with 50 (the same people per group, the same waiting list): the allocate page,
find-a-group, the waiting list, the integration page, the groups list, a register, a progress grid, the
regional dashboard and the region month calendar."""
from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import event, select, update

from app import clock
from app.extensions import db
from app.models import Attendee, NDeliusAppointment, Session
from app.scheduling import Slot
from app.services import attendance as attendance_service
from app.services.programme import template_info
from tests.conftest import Browser

SIZES = (2, 50)
INTRO = datetime(2026, 4, 13, 10)


def _region(world, groups: int) -> dict:  # type: ignore[no-untyped-def]
    region = world.region(f"Q{groups}", f"Region of {groups} groups")
    manager = world.user(region, "treatment_manager", f"tm.q{groups}")
    lead = world.facilitator(region, f"Lead {groups}")
    made = []
    for n in range(groups):
        people = (world.referral(region), world.referral(region))
        group = world.group(manager, f"Q{groups}-{n:02d}", lead=lead, members=people,
                            slots=(Slot(n % 5, time(10 + n % 6)),))
        made.append(world.started(group, manager))
    waiting = [world.referral(region) for _ in range(3)]  # on the waiting list
    first = made[0]
    clock.freeze(INTRO.replace(hour=18))
    for session in db.session.scalars(select(Session).where(Session.group_id.in_([g.id for g in made]),
                                                            Session.starts_at < clock.now_local())):
        for attendee in session.attendees:
            attendance_service.record(manager, attendee, outcome="ATTC", seen_version=None)
    # one appointment of each group needs attention on the integration page
    for group in made:
        appointment_id = db.session.scalar(
            select(NDeliusAppointment.id).join(Attendee, Attendee.id == NDeliusAppointment.attendee_id)
            .join(Session, Session.id == Attendee.session_id).where(Session.group_id == group.id).limit(1))
        db.session.execute(update(NDeliusAppointment).where(NDeliusAppointment.id == appointment_id)
                           .values(sync_state="needs_attention", last_error="nDelius said no"))
    db.session.commit()
    register = db.session.scalar(select(Session.id).where(Session.group_id == first.id, Session.starts_at == INTRO))
    return {"manager": f"tm.q{groups}", "group": first.id, "template": first.template_id, "waiting": waiting[0].id, "register": register}


def _count(browser: Browser, url: str) -> int:
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        response = browser.get(url)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert response.status_code == 200, (url, response.status_code)
    return len(seen)


PAGES = {
    "allocate page": "/groups/{group}/members/allocate",
    "find a group": "/referrals/{waiting}/groups",
    "waiting list": "/referrals",
    "integration page": "/integration",
    "groups list": "/groups",
    "register": "/sessions/{register}",
    "progress grid": "/progress/groups/{group}",
    "regional dashboard": "/progress",
    "region month calendar": "/calendar?view=month&scope=region&date=2026-04-13",
}


def test_every_page_runs_as_many_statements_for_50_groups_as_for_2(app, world, monkeypatch):  # type: ignore[no-untyped-def]
    # Each page works itself out: a fragment kept per region (app.web.region_cache, tested on its own) would make
    # the count depend on what was kept when, not on the page's queries.
    monkeypatch.setitem(app.config, "REGION_CACHE_SECONDS", 0)
    counts: dict[str, list[int]] = {page: [] for page in PAGES}
    for size in SIZES:
        ids = _region(world, size)
        template_info(ids["template"])  # read once per process: not counted against either region
        browser = Browser(app, app.test_client())
        browser.sign_in(ids["manager"])
        for page, url in PAGES.items():
            counts[page].append(_count(browser, url.format(**ids)))
    differ = {page: n for page, n in counts.items() if n[0] != n[1]}
    assert not differ, f"statements with {SIZES[0]} groups and with {SIZES[1]}: {differ}"
