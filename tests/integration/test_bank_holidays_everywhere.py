"""Bank holidays (issue 12.8): the refresh runs nightly from the scheduler and is recorded; beyond the stored
years every use (calendar marks, booking checks, move warnings) falls back to the holidays library, and the page
says which source it used."""
from __future__ import annotations

from datetime import date, datetime, time

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import PeriodicRun, Session
from app.services import bank_holidays, booking_rules
from app.services.errors import ServiceError
from jobs.enqueue import enqueue
from tests.fakes.govuk import start_fake_govuk


@pytest.fixture
def govuk(app):  # type: ignore[no-untyped-def]
    fake = start_fake_govuk()  # serves the shipped snapshot's data (2018 to 2028)
    app.config["BANK_HOLIDAYS_URL"] = fake.url
    yield fake
    fake.stop()
    db.session.rollback()
    bank_holidays.load_snapshot()  # other tests rely on the shipped data as it was
    db.session.commit()


def test_years_beyond_the_stored_data_come_from_the_library_and_say_so(app):  # type: ignore[no-untyped-def]
    assert bank_holidays.holidays_between(date(2028, 12, 25), date(2028, 12, 25)) == {date(2028, 12, 25): "Christmas Day"}
    assert bank_holidays.holidays_between(date(2029, 12, 24), date(2029, 12, 26)) == {
        date(2029, 12, 25): "Christmas Day, from the holidays library",
        date(2029, 12, 26): "Boxing Day, from the holidays library"}
    _, source = bank_holidays.lookup(date(2028, 12, 1), date(2029, 1, 31))
    assert source.sentence() == ("Bank holidays from GOV.UK's data shipped with the service for 2028 and from the "
                                 "holidays library for 2029 (the stored data covers 2018 to 2028).")


def test_a_booking_on_a_bank_holiday_beyond_the_stored_years_is_refused(app, world):  # type: ignore[no-untyped-def]
    region = world.region()
    manager = world.user(region, "treatment_manager")
    group = world.started(world.group(manager, "BC1", members=(world.referral(region),)), manager)
    session = db.session.scalars(select(Session).where(Session.group_id == group.id)).first()
    clock.freeze(datetime(2028, 6, 1, 9))
    with pytest.raises(ServiceError) as refused:
        booking_rules.when(session, date(2029, 12, 25), time(10), "catch-up")
    assert refused.value.message == "25 December 2029 is a bank holiday (Christmas Day, from the holidays library)"
    assert booking_rules.when(session, date(2029, 12, 27), time(10), "catch-up")[0] == datetime(2029, 12, 27, 10)


def test_the_calendar_marks_library_holidays_and_says_where_they_came_from(browser, world, app, govuk, run_jobs):  # type: ignore[no-untyped-def]
    region = world.region()
    world.user(region, "treatment_manager", "tm.one")
    clock.freeze(datetime(2029, 12, 3, 9))
    browser.sign_in("tm.one")
    page = browser.get("/calendar?view=month&date=2029-12-01&scope=region").data.decode()
    assert "Bank holiday: Christmas Day, from the holidays library" not in page  # the mark is the title
    assert "Bank holiday: Christmas Day" in page and "Bank holiday: Boxing Day" in page
    assert "Bank holidays from the holidays library for 2029 to 2030 (the stored data covers 2018 to 2028)." in page
    before = browser.get("/calendar?view=month&date=2028-12-01&scope=region").data.decode()
    assert "Bank holidays from GOV.UK&#39;s data shipped with the service for 2028." in before

    enqueue("jobs.maintenance.refresh_bank_holidays", job_id="refresh-bank-holidays")  # what the scheduler queues
    run_jobs()
    run = db.session.get(PeriodicRun, "bank holidays")
    assert (run.outcome, run.summary) == ("ok", "Stored 307 bank holidays from GOV.UK.")
    fetched = f"{run.finished_at.astimezone(clock.LONDON):%-d %b %Y}"
    after = browser.get("/calendar?view=month&date=2028-12-01&scope=region").data.decode()
    assert f"Bank holidays from GOV.UK (fetched {fetched}) for 2028." in after


def test_a_failed_refresh_is_recorded_and_the_stored_holidays_stay(app, govuk, run_jobs):  # type: ignore[no-untyped-def]
    govuk.set(status=503)
    enqueue("jobs.maintenance.refresh_bank_holidays", job_id="refresh-bank-holidays")
    run_jobs()
    run = db.session.get(PeriodicRun, "bank holidays")
    assert run.outcome == "failed" and "answered HTTP 503" in run.summary
    assert bank_holidays.covered_years() == (2018, 2028)


def test_the_refresh_runs_nightly_from_the_scheduler(app, redis):  # type: ignore[no-untyped-def]
    from jobs.enqueue import queue
    from jobs.scheduler import tick, timetable

    evening = 20_000 * 86400 + 20 * 3600  # 20:00 UTC; NIGHTLY_AT is 02:00
    jobs = timetable(app.config, evening)
    assert "bank holidays" not in tick(jobs, evening, owner="a")
    assert "bank holidays" in tick(jobs, evening + 6 * 3600, owner="a")
    assert "refresh-bank-holidays" in queue().job_ids
