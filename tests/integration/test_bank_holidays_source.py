"""The bank holidays source: GOV.UK JSON over real HTTP (a fake GOV.UK), the shipped snapshot, the library
fallback."""

from __future__ import annotations

import copy
import socket
from datetime import date

import pytest

from app.integrations.bank_holidays import (
    BankHolidaySourceError,
    covered_years,
    fallback_holidays,
    fetch_govuk,
    library_events,
    load_snapshot,
    parse_govuk,
    snapshot_path,
)
from tests.fakes.govuk import start_fake_govuk

ENGLAND_AND_WALES_2026 = [
    date(2026, 1, 1),
    date(2026, 4, 3),
    date(2026, 4, 6),
    date(2026, 5, 4),
    date(2026, 5, 25),
    date(2026, 8, 31),
    date(2026, 12, 25),
    date(2026, 12, 28),
]


@pytest.fixture
def govuk():
    fake = start_fake_govuk()
    yield fake
    fake.stop()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the shipped snapshot ----------------------------------------------------------------------------------


def test_snapshot_is_in_govuk_format_for_all_three_divisions_2018_to_2028():
    data = load_snapshot()
    assert snapshot_path().name == "bank-holidays.json" and snapshot_path().parent.name == "data"
    assert set(data) == {"england-and-wales", "scotland", "northern-ireland"}
    for division, block in data.items():
        assert block["division"] == division
        for event in block["events"]:
            assert set(event) == {"title", "date", "notes", "bunting"}
            assert isinstance(event["bunting"], bool) and event["notes"] in ("", "Substitute day")
            assert date.fromisoformat(event["date"]).weekday() < 5
        assert covered_years(parse_govuk(data, division)) == set(range(2018, 2029))


def test_snapshot_has_the_2026_england_and_wales_bank_holidays():
    days = [d for d, _ in parse_govuk(load_snapshot()) if d.year == 2026]
    assert days == ENGLAND_AND_WALES_2026


def test_snapshot_lists_substitute_days_as_govuk_does():
    events = {e["date"]: e for e in load_snapshot()["england-and-wales"]["events"]}
    assert events["2026-12-28"] == {
        "title": "Boxing Day",
        "date": "2026-12-28",
        "notes": "Substitute day",
        "bunting": True,
    }
    assert "2026-12-26" not in events  # a Saturday
    assert events["2022-09-19"]["title"] == "Bank Holiday for the State Funeral of Queen Elizabeth II"
    assert events["2020-05-08"]["title"] == "Early May bank holiday (VE day)"


# --- parsing -----------------------------------------------------------------------------------------------


def test_parse_returns_sorted_date_title_pairs_of_the_division():
    data = {
        "england-and-wales": {
            "division": "england-and-wales",
            "events": [
                {"title": "Boxing Day", "date": "2026-12-28", "notes": "Substitute day", "bunting": True},
                {"title": "New Year’s Day", "date": "2026-01-01", "notes": "", "bunting": True},
            ],
        },
        "scotland": {
            "division": "scotland",
            "events": [
                {"title": "St Andrew’s Day", "date": "2026-11-30", "notes": "", "bunting": True},
            ],
        },
    }
    assert parse_govuk(data) == [(date(2026, 1, 1), "New Year’s Day"), (date(2026, 12, 28), "Boxing Day")]
    assert parse_govuk(data, "scotland") == [(date(2026, 11, 30), "St Andrew’s Day")]


@pytest.mark.parametrize(
    "data, message",
    [
        ([], "JSON object keyed by division"),
        ({"scotland": {"events": []}}, "no 'england-and-wales' division"),
        ({"england-and-wales": {"division": "england-and-wales"}}, "'events' list"),
        ({"england-and-wales": {"events": ["2026-01-01"]}}, "event 0 must be an object"),
        ({"england-and-wales": {"events": [{"date": "2026-01-01"}]}}, "event 0 has no title"),
        ({"england-and-wales": {"events": [{"title": "X", "date": "01/01/2026"}]}}, "expected YYYY-MM-DD"),
        ({"england-and-wales": {"events": [{"title": "X", "date": "2026-02-30"}]}}, "impossible date"),
    ],
)
def test_parse_rejects_a_bad_shape_with_a_clear_message(data, message):
    with pytest.raises(ValueError, match=message):
        parse_govuk(data)


# --- fetching over HTTP ------------------------------------------------------------------------------------


def test_fetch_reads_the_govuk_json_over_http(govuk):
    data = fetch_govuk(govuk.url, timeout=(0.5, 1))
    assert data == load_snapshot()
    assert parse_govuk(data)[:1] == [(date(2018, 1, 1), "New Year’s Day")]
    assert govuk.requests == 1


def test_fetch_serves_whatever_govuk_publishes(govuk):
    newer = copy.deepcopy(load_snapshot())
    newer["england-and-wales"]["events"].append(
        {"title": "New Year’s Day", "date": "2029-01-01", "notes": "", "bunting": True}
    )
    govuk.set(payload=newer)
    assert max(covered_years(parse_govuk(fetch_govuk(govuk.url, timeout=(0.5, 1))))) == 2029


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"status": 503}, "HTTP 503"),
        ({"status": 404}, "HTTP 404"),
        ({"raw": b"<html>maintenance</html>"}, "valid JSON"),
        ({"payload": ["not", "an", "object"]}, "expected an object"),
        ({"delay": 1.0}, "timeout"),
    ],
)
def test_fetch_failures_raise_a_source_error_saying_what_went_wrong(govuk, settings, message):
    govuk.set(**settings)
    with pytest.raises(BankHolidaySourceError, match=message):
        fetch_govuk(govuk.url, timeout=(0.5, 0.2))


def test_fetch_from_an_unreachable_host_raises_a_source_error():
    url = f"http://127.0.0.1:{closed_port()}/bank-holidays.json"
    with pytest.raises(BankHolidaySourceError, match="could not reach"):
        fetch_govuk(url, timeout=(0.5, 0.5))


# --- the library fallback ----------------------------------------------------------------------------------


def test_fallback_agrees_with_the_snapshot():
    snapshot = parse_govuk(load_snapshot())
    assert [d for d, _ in fallback_holidays([2026])] == ENGLAND_AND_WALES_2026
    assert fallback_holidays(range(2018, 2029)) == snapshot


def test_fallback_covers_years_beyond_the_data_on_weekdays_only():
    later = fallback_holidays([2031, 2032])
    assert covered_years(later) == {2031, 2032}
    assert all(day.weekday() < 5 for day, _ in later)
    assert (date(2032, 12, 28), "Boxing Day") in later  # 25-26 December 2032 is a weekend


def test_library_events_for_other_divisions_use_their_own_holidays():
    scotland = {e["date"]: e["title"] for e in library_events([2026], "scotland")}
    northern_ireland = {e["date"]: e["title"] for e in library_events([2026], "northern-ireland")}
    assert scotland["2026-11-30"] == "St Andrew’s Day" and "2026-04-06" not in scotland
    assert northern_ireland["2026-03-17"] == "St Patrick’s Day"
    with pytest.raises(ValueError, match="unknown division"):
        library_events([2026], "wales")
