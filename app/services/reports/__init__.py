"""The four standard reports a lead downloads (HMPPS.md §8, issue 15.5): group size over time, facilitator
continuity, session rate and dosage. Each is a header and rows of text, region-scoped, built from a fixed
number of aggregate queries whatever the size of the region (the rows are streamed), and in the dashboard's
terms: a session is *delivered* once it has started (`app.services.progress_report.group_stages`), *attended*
means Attended or Attended but failed to comply (`app.services.progress.ATTENDED_OUTCOMES`), and a person's
recorded outcomes add up to the dashboard's attendance figures."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, true

from app.clock import LONDON
from app.models import Group


def region_scope(region_id: int | None) -> ColumnElement[bool]:
    """SQL: the groups in scope (None: every region, which only an admin is ever given)."""
    return true() if region_id is None else Group.region_id == region_id


def week_of(day: date) -> date:
    """The Monday a day's week begins on."""
    return day - timedelta(days=day.weekday())


def local_day(moment: datetime) -> date:
    """The Europe/London day of a UTC bookkeeping instant (joined_at, left_at)."""
    return moment.astimezone(LONDON).date()


@dataclass(frozen=True)
class Report:
    slug: str  # also the download's endpoint, with "_" for "-" (app/web/reports/routes.py)
    title: str
    description: str
    header: Callable[[int | None], list[str]]
    rows: Callable[[int | None], Iterator[list[str]]]
    # Where a person's CRN and name are in a row (restricted people are masked there), if the report has people.
    person_columns: tuple[int, int] | None = None


def catalogue() -> list[Report]:
    from app.services.reports import continuity, dosage, group_size, session_rate

    return [group_size.REPORT, continuity.REPORT, session_rate.REPORT, dosage.REPORT]


def find(slug: str) -> Report | None:
    return next((report for report in catalogue() if report.slug == slug), None)
