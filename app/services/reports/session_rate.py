"""Session rate: per person, per group, per week, the sessions they were expected at and what happened:
attended (Attended, or Attended but failed to comply), not attended (did not attend, or an acceptable
absence), to be confirmed (happened, nothing recorded yet) and still to come. Every recorded outcome is
counted, so over a region "Attended" and "Attended" + "Not attended" are the dashboard's attendance figures
(for people who restarted the programme, the dashboard counts only their current attempt)."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Attendance, Attendee, Group, Referral, Region, Session
from app.services.progress import ATTENDED_OUTCOMES
from app.services.reports import Report, region_scope, week_of

HEADER = ["Region", "Group", "CRN", "Name", "Week beginning", "Sessions scheduled", "Attended", "Not attended",
          "Of which acceptable absence", "To be confirmed", "Still to come", "Attendance rate (%)"]


def header(_region_id: int | None) -> list[str]:
    return list(HEADER)


def rows(region_id: int | None) -> Iterator[list[str]]:
    """One query, ordered so that each (group, person, week) arrives together: streamed row by row."""
    now = clock.now_local()
    query = (
        select(Region.name, Group.code, Group.id, Referral.id, Referral.crn, Referral.person_name, Session.starts_at,
               Attendance.outcome)
        .select_from(Attendee).join(Session, Session.id == Attendee.session_id)
        .join(Group, Group.id == Session.group_id).join(Region, Region.id == Group.region_id)
        .join(Referral, Referral.id == Attendee.referral_id)
        .outerjoin(Attendance, Attendance.attendee_id == Attendee.id)
        .where(region_scope(region_id), Attendee.removed_at.is_(None), Session.status == "scheduled")
        .order_by(Region.name, Group.code, Group.id, Referral.person_name, Referral.id, Session.starts_at,
                  Session.id)
    )
    key: tuple[int, int, date] | None = None
    line: list[str] = []
    counts = [0, 0, 0, 0, 0, 0]  # scheduled, attended, not attended, acceptable absence, to be confirmed, to come
    for region, code, group_id, referral_id, crn, name, starts_at, outcome in db.session.execute(
            query.execution_options(yield_per=2000)):
        week = week_of(starts_at.date())
        if (group_id, referral_id, week) != key:
            if key is not None:
                yield _line(line, counts)
            key, line, counts = (group_id, referral_id, week), [region, code, crn, name, week.isoformat()], [0] * 6
        counts[0] += 1
        if outcome in ATTENDED_OUTCOMES:
            counts[1] += 1
        elif outcome:
            counts[2] += 1
            counts[3] += outcome.startswith("AA")
        elif starts_at <= now:
            counts[4] += 1
        else:
            counts[5] += 1
    if key is not None:
        yield _line(line, counts)


def _line(start: list[str], counts: list[int]) -> list[str]:
    recorded = counts[1] + counts[2]
    rate = str(round(100 * counts[1] / recorded)) if recorded else ""
    return [*start, *(str(n) for n in counts), rate]


REPORT = Report(
    slug="session-rate", title="Session rate",
    description="Each person's sessions week by week, in each group: scheduled, attended, not attended, to be "
                "confirmed and still to come.",
    header=header, rows=rows, person_columns=(2, 3))
