"""Reconciliation: compare the appointments we hold with what ``POST /appointments/search`` shows (SPEC §4-5,
RELIABILITY S9).

Ours is the authority and nDelius the collector, but nothing is overwritten silently (seed 004): every
difference is kept as a disagreement with both values, their times and the source, for a person to see and
act on (send ours again, or dismiss). Only appointments at rest are compared - synced, with nothing waiting in
the outbox and no relay working on them - so a change on its way is never reported as drift. A disagreement
that is no longer there when its appointment is looked at again is marked resolved.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from app import clock
from app.extensions import db
from app.integrations.circuit_breaker import RedisCircuitBreaker
from app.integrations.errors import NDeliusError
from app.integrations.ndelius import NDeliusClient, bare_reference, local_schedule
from app.models import (
    Attendee,
    Group,
    GroupFacilitator,
    NDeliusAppointment,
    NDeliusDisagreement,
    NDeliusReconciliation,
    OutboxItem,
    Referral,
    Session,
    SessionFacilitator,
    SessionTemplate,
)
from app.models.base import utcnow
from app.models.session import OUTCOMES
from app.services.ndelius_plan import NeedsPerson, appointment_payload
from app.services.ndelius_sync import breaker_from_config, client_from_config

log = logging.getLogger(__name__)
SOURCE = "nDelius appointments search"
FIELDS = {
    "appointment": "Appointment", "duplicates": "Copies in nDelius", "date": "Date", "start_time": "Start time",
    "end_time": "End time", "staff": "Staff code", "team": "Team code", "location": "Office location",
    "outcome": "Outcome",
}


@dataclass(frozen=True)
class Difference:
    appointment_id: int | None
    region_id: int | None
    reference: str
    field: str
    ours: str | None
    theirs: str | None
    ours_at: datetime | None


def reconcile(*, client: NDeliusClient | None = None, breaker: RedisCircuitBreaker | None | bool = True,
              now: Callable[[], datetime] = utcnow) -> NDeliusReconciliation:
    """One run; its row says what was compared and found. A failed search is recorded on the run (``error``)
    and leaves every disagreement as it was."""
    config = current_app.config
    run = NDeliusReconciliation(started_at=now())
    db.session.add(run)
    db.session.commit()
    own_client = client is None
    client = client or client_from_config(config)
    if breaker is True:
        breaker = breaker_from_config(config)
    try:
        window_start = clock.today() - timedelta(days=config.get("NDELIUS_RECONCILE_DAYS_BACK", 60))
        held = _held(window_start)
        requirement_ids = sorted({r.requirement_id for _, _, r, _ in held if r.requirement_id is not None})
        licence_ids = sorted({r.licence_condition_id for _, _, r, _ in held if r.licence_condition_id is not None})
        found: list[dict[str, Any]] = []
        if held:
            window_end = max(s.starts_at.date() for _, s, _, _ in held)
            db.session.commit()  # no transaction open while nDelius answers
            search = lambda: client.search(requirement_ids, licence_ids, window_start, window_end)
            found = breaker.call(search) if breaker else search()
        differences, checked, compared = _compare(held, found)
        new, resolved = _record(differences, checked, now())
        run.compared, run.found, run.new, run.resolved = compared, len(found), new, resolved
    except NDeliusError as exc:
        db.session.rollback()
        run = db.session.get(NDeliusReconciliation, run.id)
        run.error = str(exc)
        log.warning("ndelius reconciliation failed: %s", exc)
    finally:
        if own_client:
            client.close()
    run.finished_at = now()
    db.session.commit()
    return run


def _held(window_start: date) -> list[tuple[NDeliusAppointment, Session, Referral, int]]:
    return [tuple(row) for row in db.session.execute(  # type: ignore[misc]
        select(NDeliusAppointment, Session, Referral, Group.region_id)
        .join(Attendee, Attendee.id == NDeliusAppointment.attendee_id)
        .join(Session, Session.id == Attendee.session_id)
        .join(Referral, Referral.id == Attendee.referral_id)
        .join(Group, Group.id == Session.group_id)
        .where(Session.starts_at >= datetime.combine(window_start, time())).order_by(NDeliusAppointment.id)
        .options(selectinload(NDeliusAppointment.attendee).options(
            selectinload(Attendee.attendance), selectinload(Attendee.referral),
            selectinload(Attendee.session).options(
                selectinload(Session.facilitators).selectinload(SessionFacilitator.facilitator),
                selectinload(Session.session_template).selectinload(SessionTemplate.module),
                selectinload(Session.group).selectinload(Group.facilitators)
                .selectinload(GroupFacilitator.facilitator))))
    ).all()]


def _compare(held: list[tuple[NDeliusAppointment, Session, Referral, int]], found: list[dict[str, Any]]
             ) -> tuple[list[Difference], set[str], int]:
    now = utcnow()
    busy = set(db.session.scalars(select(OutboxItem.appointment_id).where(OutboxItem.status == "pending")))
    busy |= {a.id for a, _, _, _ in held if a.claimed_until is not None and a.claimed_until > now}
    by_reference: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in found:
        if item.get("reference"):
            try:
                by_reference[bare_reference(item["reference"])].append(item)
            except ValueError:
                continue
    ours = {str(a.reference): (a, region_id) for a, _, _, region_id in held}
    differences: list[Difference] = []
    checked: set[str] = set(by_reference)
    compared = 0
    for appointment, _session, _referral, region_id in held:
        reference = str(appointment.reference)
        at_rest = appointment.id not in busy
        if not (at_rest and appointment.remote_state == "present" and appointment.sync_state == "synced"):
            continue
        try:
            expected = appointment_payload(appointment)
        except NeedsPerson:
            continue
        compared += 1
        checked.add(reference)

        def diff(field: str, mine: str | None, theirs: str | None, _a=appointment, _r=region_id, _ref=reference
                 ) -> None:
            differences.append(Difference(_a.id, _r, _ref, field, mine, theirs, _a.last_synced_at))

        matches = by_reference.get(reference, [])
        if not matches:
            diff("appointment", f"Booked {_when(expected['date'], expected['startTime'])}", "Not in nDelius")
            continue
        if len(matches) > 1:
            diff("duplicates", "1", str(len(matches)))
        day, start, end = local_schedule(matches[0])
        theirs = {
            "date": day.isoformat(), "start_time": start.strftime("%H:%M") if start else None,
            "end_time": end.strftime("%H:%M") if end else None, "staff": _code(matches[0].get("staff")),
            "team": _code(matches[0].get("team")), "location": _code(matches[0].get("location")),
            "outcome": _code(matches[0].get("outcome")),
        }
        mine = {
            "date": expected["date"], "start_time": expected["startTime"], "end_time": expected["endTime"],
            "staff": _code(expected.get("staff")), "team": _code(expected.get("team")),
            "location": _code(expected.get("location")), "outcome": _code(expected.get("outcome")),
        }
        for field, value in mine.items():
            if value != theirs[field]:
                diff(field, _show(field, value), _show(field, theirs[field]))

    for reference, matches in by_reference.items():
        held_here = ours.get(reference)
        shown = f"Booked {_when(matches[0].get('date'), _hhmm(matches[0]))}"
        if held_here is None:
            region_id = _region_of(matches[0])
            differences.append(Difference(None, region_id, reference, "appointment", "Not in our records", shown,
                                          None))
            continue
        appointment, region_id = held_here
        if appointment.id in busy:
            continue
        if appointment.sync_state == "deleted" or appointment.remote_state == "deleted":
            differences.append(Difference(appointment.id, region_id, reference, "appointment",
                                          "Cancelled or removed here", shown, appointment.last_synced_at))
    return differences, checked, compared


def _record(differences: list[Difference], checked: set[str], now: datetime) -> tuple[int, int]:
    """Keep one open row per (reference, field): new ones added, changed ones updated, gone ones resolved."""
    open_rows = {(str(d.reference), d.field): d for d in db.session.scalars(
        select(NDeliusDisagreement).where(NDeliusDisagreement.resolved_at.is_(None)))}
    seen: set[tuple[str, str]] = set()
    new = 0
    for difference in differences:
        key = (difference.reference, difference.field)
        seen.add(key)
        row = open_rows.get(key)
        if row is None:
            row = NDeliusDisagreement(reference=_uuid(difference.reference), field=difference.field,
                                      source=SOURCE, first_seen_at=now)
            db.session.add(row)
            new += 1
        row.appointment_id, row.region_id = difference.appointment_id, difference.region_id
        row.ours, row.theirs, row.ours_at = difference.ours, difference.theirs, difference.ours_at
        row.last_seen_at = now
    resolved = 0
    for key, row in open_rows.items():
        if key not in seen and key[0] in checked:
            row.resolved_at, row.resolution = now, "matches"
            resolved += 1
    return new, resolved


def _region_of(found: dict[str, Any]) -> int | None:
    requirement, licence = found.get("requirementId"), found.get("licenceConditionId")
    conditions = []
    if requirement is not None:
        conditions.append(Referral.requirement_id == requirement)
    if licence is not None:
        conditions.append(Referral.licence_condition_id == licence)
    if not conditions:
        return None
    return db.session.scalar(select(Referral.region_id).where(or_(*conditions)).limit(1))


def _uuid(reference: str):  # type: ignore[no-untyped-def]
    from uuid import UUID

    return UUID(reference)


def _code(value: Any) -> str | None:
    return value.get("code") if isinstance(value, dict) else None


def _hhmm(found: dict[str, Any]) -> str | None:
    try:
        start = local_schedule(found)[1]
    except (KeyError, ValueError, TypeError):
        return None
    return start.strftime("%H:%M") if start else None


def _when(day: str | None, start: str | None) -> str:
    try:
        text = date.fromisoformat(day or "").strftime("%a %-d %b %Y")
    except ValueError:
        text = day or "an unknown date"
    return f"{text} at {start}" if start else text


def _show(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    if field == "date":
        return _when(value, None)
    if field == "outcome":
        return f"{OUTCOMES.get(value, value)} ({value})"
    return value
