from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import BankHoliday
from tests.fakes.govuk import start_fake_govuk

NEW_DATA = {
    division: {"division": division, "events": [
        {"title": "New Year’s Day", "date": "2026-01-01", "notes": "", "bunting": True},
        {"title": "A new day off", "date": "2026-06-15", "notes": "", "bunting": True},
    ]}
    for division in ("england-and-wales", "scotland", "northern-ireland")
}


@pytest.fixture
def govuk(app):  # type: ignore[no-untyped-def]
    fake = start_fake_govuk(payload=NEW_DATA)
    yield fake
    fake.stop()
    from app.services.bank_holidays import load_snapshot

    db.session.rollback()
    load_snapshot()  # other tests rely on the shipped data
    db.session.commit()


def test_refresh_stores_govuks_current_data(app, govuk):  # type: ignore[no-untyped-def]
    app.config["BANK_HOLIDAYS_URL"] = govuk.url
    result = app.test_cli_runner().invoke(args=["bank-holidays", "refresh"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(BankHoliday.title).where(BankHoliday.date == date(2026, 6, 15))) == "A new day off"
    assert db.session.scalar(select(func.count()).select_from(BankHoliday).where(BankHoliday.date == date(2026, 4, 6))) == 0


def test_a_failed_refresh_keeps_the_old_data_and_says_why(app, govuk):  # type: ignore[no-untyped-def]
    before = db.session.scalar(select(func.count()).select_from(BankHoliday))
    govuk.set(status=503)
    app.config["BANK_HOLIDAYS_URL"] = govuk.url
    result = app.test_cli_runner().invoke(args=["bank-holidays", "refresh"])
    assert result.exit_code == 1
    assert "the stored ones are kept" in result.output
    assert db.session.scalar(select(func.count()).select_from(BankHoliday)) == before


def test_malformed_data_is_refused_before_anything_is_replaced(app, govuk):  # type: ignore[no-untyped-def]
    before = db.session.scalar(select(func.count()).select_from(BankHoliday))
    govuk.set(raw=json.dumps({"england-and-wales": {"events": [{"date": "not a date"}]}}).encode())
    app.config["BANK_HOLIDAYS_URL"] = govuk.url
    result = app.test_cli_runner().invoke(args=["bank-holidays", "refresh"])
    assert result.exit_code == 1
    assert db.session.scalar(select(func.count()).select_from(BankHoliday)) == before


def test_the_refresh_runs_as_a_background_job(app, govuk, run_jobs):  # type: ignore[no-untyped-def]
    from jobs.enqueue import enqueue

    app.config["BANK_HOLIDAYS_URL"] = govuk.url
    enqueue("jobs.maintenance.refresh_bank_holidays", job_id="refresh-bank-holidays")
    run_jobs()
    assert db.session.scalar(select(BankHoliday.title).where(BankHoliday.date == date(2026, 6, 15))) == "A new day off"
