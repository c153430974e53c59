"""Bank holidays: GOV.UK's JSON is the source of truth; the ``holidays`` library covers the years it lacks.

GOV.UK shape: ``{"england-and-wales": {"division": ..., "events": [{"title", "date", "notes", "bunting"}]},
"scotland": ..., "northern-ireland": ...}``. A holiday that falls on a weekend appears only as its weekday
substitute (``"notes": "Substitute day"``). Probation in England and Wales uses ``england-and-wales``, which
is the library's UK subdivision ``ENG``.

The snapshot shipped in ``app/data/bank-holidays.json`` (2018-2028) lets a first run work offline. Rebuild it
with ``python -m app.integrations.bank_holidays --write-snapshot`` (GOV.UK first; library for any year it
lacks).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import holidays
import requests

GOVUK_URL = "https://www.gov.uk/bank-holidays.json"
ENGLAND_AND_WALES = "england-and-wales"
# GOV.UK division -> holidays library subdivision of GB.
DIVISIONS = {ENGLAND_AND_WALES: "ENG", "scotland": "SCT", "northern-ireland": "NIR"}
SNAPSHOT_YEARS = range(2018, 2029)
SUBSTITUTE_DAY = "Substitute day"
_OBSERVED = " (observed)"
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")

# holidays-library name -> GOV.UK title
_TITLES = {
    "New Year's Day": "New Year’s Day",
    "New Year Holiday": "2nd January",
    "May Day": "Early May bank holiday",
    "Spring Bank Holiday": "Spring bank holiday",
    "Late Summer Bank Holiday": "Summer bank holiday",
    "Summer Bank Holiday": "Summer bank holiday",
    "Platinum Jubilee of Elizabeth II": "Platinum Jubilee bank holiday",
    "State Funeral of Queen Elizabeth II": "Bank Holiday for the State Funeral of Queen Elizabeth II",
    "Coronation of Charles III": "Bank holiday for the coronation of King Charles III",
    "Saint Andrew's Day": "St Andrew’s Day",
    "Saint Patrick's Day": "St Patrick’s Day",
    "Battle of the Boyne": "Battle of the Boyne (Orangemen’s Day)",
}
_TITLES_ON = {date(2020, 5, 8): "Early May bank holiday (VE day)"}
_NO_BUNTING_TITLES = {"Good Friday", "Bank Holiday for the State Funeral of Queen Elizabeth II"}
_NO_BUNTING_DATES = {date(2020, 4, 13)}  # GOV.UK flew no bunting on Easter Monday 2020


class BankHolidaySourceError(Exception):
    """GOV.UK could not be read (network, HTTP status or body); the message says which."""


def snapshot_path() -> Path:
    """The GOV.UK-format snapshot shipped with the app."""
    return Path(__file__).resolve().parent.parent / "data" / "bank-holidays.json"


def load_snapshot() -> dict[str, Any]:
    with snapshot_path().open(encoding="utf-8") as f:
        return json.load(f)


def parse_govuk(data: dict[str, Any], division: str = ENGLAND_AND_WALES) -> list[tuple[date, str]]:
    """(date, title) pairs of one division, sorted by date. Raises ValueError naming what is wrong."""
    if not isinstance(data, dict):
        raise ValueError(  # noqa: TRY004 - one exception type for every malformed document
            f"bank holidays data must be a JSON object keyed by division, got {type(data).__name__}"
        )
    if division not in data:
        present = ", ".join(map(str, data)) or "none"
        raise ValueError(f"bank holidays data has no '{division}' division (has: {present})")
    block = data[division]
    if not isinstance(block, dict) or not isinstance(block.get("events"), list):
        raise ValueError(f"bank holidays division '{division}' must be an object with an 'events' list")  # noqa: TRY004
    found: list[tuple[date, str]] = []
    for index, event in enumerate(block["events"]):
        where = f"'{division}' event {index}"
        if not isinstance(event, dict):
            raise ValueError(f"{where} must be an object with 'title' and 'date'")  # noqa: TRY004
        title, when = event.get("title"), event.get("date")
        if not isinstance(title, str) or not title.strip():
            raise ValueError(f"{where} has no title")
        if not isinstance(when, str) or not _DATE_RE.fullmatch(when):
            raise ValueError(f"{where} ({title}) has date {when!r}; expected YYYY-MM-DD")
        try:
            found.append((date.fromisoformat(when), title.strip()))
        except ValueError:
            raise ValueError(f"{where} ({title}) has an impossible date {when!r}") from None
    return sorted(found)


def covered_years(events: Iterable[tuple[date, str]]) -> set[int]:
    """Years with at least one bank holiday in ``events`` (every real year has several)."""
    return {day.year for day, _ in events}


def fetch_govuk(
    url: str = GOVUK_URL,
    timeout: float | tuple[float, float] = (3.05, 10),
    session: requests.Session | None = None,
) -> dict[str, Any]:
    """GET the GOV.UK bank holidays JSON. Raises BankHolidaySourceError; ``parse_govuk`` checks the shape."""
    http = session if session is not None else requests
    try:
        response = http.get(url, timeout=timeout, headers={"Accept": "application/json"})
    except requests.Timeout as exc:
        raise BankHolidaySourceError(f"no answer from {url} within the timeout {timeout}: {exc}") from exc
    except requests.RequestException as exc:
        raise BankHolidaySourceError(f"could not reach {url}: {type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        raise BankHolidaySourceError(f"{url} answered HTTP {response.status_code}, expected 200")
    try:
        data = response.json()
    except ValueError as exc:
        raise BankHolidaySourceError(f"{url} did not return valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BankHolidaySourceError(f"{url} returned JSON {type(data).__name__}, expected an object")
    return data


def library_events(years: Iterable[int], division: str = ENGLAND_AND_WALES) -> list[dict[str, Any]]:
    """GOV.UK-shaped events for ``years`` from the ``holidays`` library (weekend days become substitutes)."""
    if division not in DIVISIONS:
        raise ValueError(f"unknown division '{division}' (known: {', '.join(DIVISIONS)})")
    wanted = sorted(set(years))
    if not wanted:
        return []
    calendar = holidays.country_holidays("GB", subdiv=DIVISIONS[division], years=wanted)
    events = []
    for day, names in sorted(calendar.items()):
        if day.weekday() >= 5:
            continue  # GOV.UK lists the weekday substitute instead
        parts = names.split("; ")
        substitutes = [p for p in parts if p.endswith(_OBSERVED)]
        name = substitutes[0] if substitutes else parts[0]
        is_substitute = name.endswith(_OBSERVED)
        base = name[: -len(_OBSERVED)] if is_substitute else name
        title = _TITLES_ON.get(day) or _TITLES.get(base, base)
        events.append(
            {
                "title": title,
                "date": day.isoformat(),
                "notes": SUBSTITUTE_DAY if is_substitute else "",
                "bunting": title not in _NO_BUNTING_TITLES and day not in _NO_BUNTING_DATES,
            }
        )
    return events


def fallback_holidays(years: Iterable[int], division: str = ENGLAND_AND_WALES) -> list[tuple[date, str]]:
    """(date, title) pairs from the ``holidays`` library, for years the GOV.UK data does not cover."""
    return [(date.fromisoformat(e["date"]), e["title"]) for e in library_events(years, division)]


def build_snapshot(
    years: Iterable[int] = SNAPSHOT_YEARS, govuk: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A GOV.UK-format document for ``years``: GOV.UK's events where given, the library's for the rest."""
    wanted = sorted(set(years))
    document: dict[str, Any] = {}
    for division in DIVISIONS:
        events: list[dict[str, Any]] = []
        if govuk is not None and division in govuk:
            parse_govuk(govuk, division)  # validates
            events = [e for e in govuk[division]["events"] if int(e["date"][:4]) in wanted]
        have = {int(e["date"][:4]) for e in events}
        events += library_events([y for y in wanted if y not in have], division)
        document[division] = {"division": division, "events": sorted(events, key=lambda e: e["date"])}
    return document


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Bank holidays snapshot")
    parser.add_argument("--write-snapshot", action="store_true", help=f"write {snapshot_path()}")
    parser.add_argument("--url", default=GOVUK_URL)
    args = parser.parse_args(argv)
    try:
        govuk: dict[str, Any] | None = fetch_govuk(args.url)
        print(f"fetched {args.url}")
    except BankHolidaySourceError as exc:
        govuk = None
        print(f"GOV.UK unavailable ({exc}); using the holidays library for every year")
    document = build_snapshot(SNAPSHOT_YEARS, govuk)
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if args.write_snapshot:
        snapshot_path().write_text(text, encoding="utf-8")
        print(f"wrote {snapshot_path()}")
    else:
        print(text)


if __name__ == "__main__":
    main()
