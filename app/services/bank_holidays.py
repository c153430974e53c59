"""England and Wales bank holidays: GOV.UK data stored in the database, the holiday library beyond it."""
from __future__ import annotations

import json
import logging
from datetime import date

from sqlalchemy import delete, func, select

from app.extensions import db
from app.integrations.bank_holidays import fallback_holidays, fetch_govuk, parse_govuk, snapshot_path
from app.models import BankHoliday
from app.models.base import utcnow

DIVISION = "england-and-wales"
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
    db.session.execute(BankHoliday.__table__.insert(), rows)
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


def holidays_between(first: date, last: date) -> dict[date, str]:
    rows = db.session.execute(
        select(BankHoliday.date, BankHoliday.title).where(BankHoliday.division == DIVISION)
        .where(BankHoliday.date.between(first, last))
    ).all()
    return {d: t for d, t in rows}
