"""England and Wales bank holidays: GOV.UK data stored in the database, the holiday library beyond it."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import cast

from sqlalchemy import Table, and_, delete, func, select

from app.clock import LONDON
from app.extensions import db
from app.integrations.bank_holidays import fallback_holidays, fetch_govuk, parse_govuk, snapshot_path
from app.models import BankHoliday
from app.models.base import utcnow

DIVISION = "england-and-wales"
LIBRARY = "the holidays library"
log = logging.getLogger(__name__)


def rows_from_govuk(data: dict, source: str) -> list[dict]:
    """Every division's events as table rows; parse_govuk validates the shape first."""
    rows = []
    for division, body in data.items():
        parse_govuk(data, division)
        for e in body["events"]:
            rows.append({
                "division": division, "date": date.fromisoformat(e["date"]), "title": e["title"],
                "notes": e.get("notes", ""), "bunting": bool(e.get("bunting", False)), "source": source,
                "fetched_at": utcnow(),
            })
    return rows


def replace_all(data: dict, source: str) -> int:
    """Replace the stored holidays with this GOV.UK document (validated before anything is deleted)."""
    rows = rows_from_govuk(data, source)
    if not any(r["division"] == DIVISION for r in rows):
        raise ValueError(f"the bank holidays data has no {DIVISION} events")
    db.session.execute(delete(BankHoliday))
    db.session.execute(cast(Table, BankHoliday.__table__).insert(), rows)
    return len(rows)


def load_snapshot() -> int:
    data = json.loads(snapshot_path().read_text("utf-8"))
    return replace_all(data, "snapshot")


def refresh(url: str) -> int:
    """Fetch GOV.UK's current data. On any failure the old data stays and the error says why."""
    data = fetch_govuk(url)
    count = replace_all(data, "govuk")
    db.session.commit()
    log.info("bank holidays refreshed", extra={"count": count})
    return count


def covered_years() -> tuple[int, int] | None:
    first, last = db.session.execute(
        select(func.min(BankHoliday.date), func.max(BankHoliday.date)).where(BankHoliday.division == DIVISION)
    ).one()
    return (first.year, last.year) if first else None


def with_fallback(known: set[date], covered: tuple[int, int] | None, years: range) -> frozenset[date]:
    """Holidays for `years`: the known data where it covers a year, the holiday library beyond it."""
    outside = [y for y in years if covered is None or not covered[0] <= y <= covered[1]]
    extra = {d for d, _ in fallback_holidays(outside)} if outside else set()
    return frozenset(known | extra)


def holiday_dates(start: date, years_ahead: int = 3) -> frozenset[date]:
    """Every E&W bank holiday from `start`'s year through `years_ahead` more years (a programme runs ~9 months,
    a cascade can push it further)."""
    years = range(start.year, start.year + years_ahead + 1)
    known = set(db.session.scalars(
        select(BankHoliday.date).where(BankHoliday.division == DIVISION)
        .where(BankHoliday.date >= date(years.start, 1, 1), BankHoliday.date <= date(years.stop - 1, 12, 31))
    ))
    return with_fallback(known, covered_years(), years)


@dataclass(frozen=True)
class HolidaySource:
    """Where the bank holidays of a range of dates came from: the stored data (GOV.UK, or the snapshot shipped
    with the service) for the years it covers, the holidays library for the years beyond."""

    covered: tuple[int, int] | None  # the stored years
    stored_from: str  # "govuk" or "snapshot"
    fetched_at: datetime | None
    stored_years: tuple[int, ...]  # the range's years the stored data answered
    library_years: tuple[int, ...]  # the range's years the holidays library answered

    def sentence(self) -> str:
        """E.g. "Bank holidays from GOV.UK (fetched 1 Dec 2026) for 2028 and from the holidays library for 2029
        (the stored data covers 2018 to 2028)"."""
        parts = []
        if self.stored_years:
            if self.stored_from == "govuk" and self.fetched_at is not None:
                origin = f"GOV.UK (fetched {self.fetched_at.astimezone(LONDON):%-d %b %Y})"
            else:
                origin = "GOV.UK's data shipped with the service"
            parts.append(f"from {origin} for {_years(self.stored_years)}")
        if self.library_years:
            parts.append(f"from {LIBRARY} for {_years(self.library_years)}")
        beyond = ""
        if self.library_years:
            beyond = (f" (the stored data covers {self.covered[0]} to {self.covered[1]})" if self.covered
                      else " (no bank holidays are stored)")
        return "Bank holidays " + " and ".join(parts) + beyond + "."


def _years(years: tuple[int, ...]) -> str:
    return str(years[0]) if len(years) == 1 else f"{years[0]} to {years[-1]}"


def lookup(first: date, last: date) -> tuple[dict[date, str], HolidaySource]:
    """The bank holidays from `first` to `last` (date -> title) and where they came from: the stored data for
    the years it covers, the holidays library for any year beyond them. One statement."""
    bounds = select(func.min(BankHoliday.date).label("lo"), func.max(BankHoliday.date).label("hi"),
                    func.max(BankHoliday.fetched_at).label("fetched_at"), func.max(BankHoliday.source).label("source")
                    ).where(BankHoliday.division == DIVISION).subquery()
    rows = db.session.execute(
        select(bounds.c.lo, bounds.c.hi, bounds.c.fetched_at, bounds.c.source, BankHoliday.date, BankHoliday.title)
        .select_from(bounds).outerjoin(BankHoliday, and_(BankHoliday.division == DIVISION,
                                                         BankHoliday.date.between(first, last)))
    ).all()
    lo, hi, fetched_at, source = rows[0][:4]
    covered = (lo.year, hi.year) if lo is not None else None
    days = {r.date: r.title for r in rows if r.date is not None}
    years = range(first.year, last.year + 1)
    outside = tuple(y for y in years if covered is None or not covered[0] <= y <= covered[1])
    if outside:
        days.update({d: t for d, t in fallback_holidays(outside) if first <= d <= last})
    stored = tuple(y for y in years if y not in outside)
    return days, HolidaySource(covered, source or "", fetched_at, stored, outside)


def holidays_between(first: date, last: date) -> dict[date, str]:
    """Date -> title of each bank holiday from `first` to `last`; a title the holidays library gave (a year
    beyond the stored data) says so: "Christmas Day, from the holidays library"."""
    days, source = lookup(first, last)
    if not source.library_years:
        return days
    return {d: f"{t}, from {LIBRARY}" if d.year in source.library_years else t for d, t in days.items()}
