"""What every ad hoc booking (a catch-up, a one-to-one) must satisfy before it is checked for clashes: a date
and a start time, in the future but within two years, not on a bank holiday, and a facilitator of the
group's region. One place, so the two bookings cannot drift apart."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from app import clock
from app.extensions import db
from app.models import Facilitator, Session
from app.services.bank_holidays import holidays_between
from app.services.errors import ServiceError

HORIZON = timedelta(days=730)


def when(template_of: Session, on: date | None, at: time | None, what: str) -> tuple[datetime, datetime]:
    """Start and end of a booking of `template_of`'s session template (`what` names it in the messages:
    "catch-up", "one-to-one"). Raises ServiceError naming the field."""
    if on is None:
        raise ServiceError(f"Enter the date of the {what}", "date")
    if at is None:
        raise ServiceError(f"Enter the start time of the {what}", "start_time")
    starts_at = datetime.combine(on, at)
    if starts_at <= clock.now_local():
        raise ServiceError(f"The {what} must be in the future", "date")
    if starts_at > clock.now_local() + HORIZON:
        raise ServiceError("Choose a date within the next two years", "date")
    holiday = holidays_between(on, on).get(on)
    if holiday:
        raise ServiceError(f"{on:%-d %B %Y} is a bank holiday ({holiday})", "date")
    return starts_at, starts_at + timedelta(minutes=template_of.session_template.duration_minutes)


def facilitator_of_region(facilitator_id: int | None, region_id: int) -> Facilitator:
    facilitator = db.session.get(Facilitator, facilitator_id) if 0 < (facilitator_id or 0) < 2**31 else None
    if facilitator is None or facilitator.region_id != region_id:
        raise ServiceError("Choose a facilitator from the group's region", "facilitator_id")
    return facilitator
