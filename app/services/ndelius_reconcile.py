"""Reconciliation: compare the appointments we hold with what ``POST /appointments/search`` shows (SPEC §4-5,
RELIABILITY S9).

Ours is the authority and nDelius the collector, but nothing is overwritten silently (seed 004): every
difference is kept as a disagreement with both values, their times and the source, for a person to see and
act on (send ours again, or dismiss). Only appointments at rest are compared - synced, with nothing waiting in
the outbox and no relay working on them - so a change on its way is never reported as drift. A disagreement
that is no longer there when its appointment is looked at again is marked resolved.

It scales to the national dataset: the people with appointments in the window (from ``NDELIUS_RECONCILE_DAYS
_BACK`` days before the service clock's today) are walked in pages of at most 500 (keyset on the referral id,
so a page's ids fit one search: ≤ 500 requirement and ≤ 500 licence condition ids, never none). Each page is
read as plain rows (no objects, nothing lazy-loaded), searched once, compared and recorded in its own short
transaction, so memory is bounded by a page and no transaction stays open while nDelius answers. A page whose
search fails is counted and skipped - its disagreements stay as they were - and the run carries on. A
treatment manager's run covers their own region only.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from flask import current_app
from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.engine import Row
from sqlalchemy.orm import aliased

from app import clock
from app.extensions import db
from app.integrations.circuit_breaker import RedisCircuitBreaker
from app.integrations.errors import NDeliusError
from app.integrations.ndelius import NDeliusClient, bare_reference, local_schedule
from app.models import (
    Attendance,
    Attendee,
    Facilitator,
    Group,
    GroupFacilitator,
    Module,
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
from app.services.ndelius_plan import CANCELLED_OUTCOME, NeedsPerson, expected_payload
from app.services.ndelius_sync import breaker_from_config, client_from_config

log = logging.getLogger(__name__)
SOURCE = "nDelius appointments search"
PAGE = 500  # people a search covers (the API takes at most 500 ids of each kind)
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


@dataclass
class Tally:
    compared: int = 0
    found: int = 0
    new: int = 0
    resolved: int = 0
    searches: int = 0
    failed: int = 0
    first_error: str | None = None


def reconcile(*, client: NDeliusClient | None = None, breaker: RedisCircuitBreaker | None | bool = True,
              now: Callable[[], datetime] = utcnow, region_id: int | None = None,
              page_size: int = PAGE) -> NDeliusReconciliation:
    """One run (of one region, or of all); its row says what was compared and found, and how many searches
    failed (``error`` then says so, and those pages' disagreements are left as they were)."""
    config = current_app.config
    run = NDeliusReconciliation(started_at=now(), region_id=region_id)
    db.session.add(run)
    db.session.commit()
    run_id = run.id
    own_client = client is None
    client = client or client_from_config(config)
    if breaker is True:
        breaker = breaker_from_config(config)
    window_start = clock.today() - timedelta(days=config.get("NDELIUS_RECONCILE_DAYS_BACK", 60))
    tally = Tally()
    try:
        for people in _pages(window_start, region_id, max(1, min(page_size, PAGE))):
            _one_page(client, breaker or None, people, window_start, now, tally)
    finally:
        if own_client:
            client.close()
    run = db.session.get(NDeliusReconciliation, run_id)  # type: ignore[assignment]
    run.compared, run.found, run.new, run.resolved = tally.compared, tally.found, tally.new, tally.resolved
    run.searches, run.failed_searches = tally.searches, tally.failed
    if tally.failed:
        run.error = (f"{tally.failed} of {tally.searches} searches failed (their disagreements are left as they "
                     f"were): {tally.first_error}")
        log.warning("ndelius reconciliation: %s", run.error)
    run.finished_at = now()
    db.session.commit()
    return run


def _pages(window_start: date, region_id: int | None, size: int) -> Iterable[list[Any]]:
    """People (referral id, requirement id, licence condition id, region) with appointments in the window, a
    page at a time in referral id order; each page read in a transaction of its own."""
    after = 0
    while True:
        with_appointments = (
            select(Attendee.referral_id)
            .join(NDeliusAppointment, NDeliusAppointment.attendee_id == Attendee.id)
            .join(Session, Session.id == Attendee.session_id)
            .where(Session.starts_at >= datetime.combine(window_start, time()), Attendee.referral_id > after))
        if region_id is not None:
            with_appointments = with_appointments.join(Group, Group.id == Session.group_id).where(
                Group.region_id == region_id)
        ids = (with_appointments.group_by(Attendee.referral_id).order_by(Attendee.referral_id).limit(size)
               .subquery())
        page = list(db.session.execute(
            select(Referral.id, Referral.requirement_id, Referral.licence_condition_id, Referral.region_id)
            .join(ids, ids.c.referral_id == Referral.id).order_by(Referral.id)))
        db.session.commit()
        if not page:
            return
        yield page
        after = page[-1].id


def _one_page(client: NDeliusClient, breaker: RedisCircuitBreaker | None, people: list[Any],
              window_start: date, now: Callable[[], datetime], tally: Tally) -> None:
    held = _held(window_start, [p.id for p in people])
    db.session.commit()  # no transaction open while nDelius answers
    if not held:
        return
    requirements = sorted({p.requirement_id for p in people if p.requirement_id is not None})
    licences = sorted({p.licence_condition_id for p in people if p.licence_condition_id is not None})
    window_end = max(row.starts_at.date() for row in held)
    tally.searches += 1
    try:
        search = lambda: client.search(requirements, licences, window_start, window_end)
        found = breaker.call(search) if breaker else search()
    except NDeliusError as exc:
        tally.failed += 1
        tally.first_error = tally.first_error or str(exc)
        log.warning("ndelius reconciliation: a search of %d people failed: %s", len(people), exc)
        return
    regions = {("r", p.requirement_id): p.region_id for p in people if p.requirement_id is not None}
    regions |= {("l", p.licence_condition_id): p.region_id for p in people if p.licence_condition_id is not None}
    differences, checked, compared = _compare(held, found, regions)
    new, resolved = _record(differences, checked, now())
    db.session.commit()
    tally.compared, tally.found = tally.compared + compared, tally.found + len(found)
    tally.new, tally.resolved = tally.new + new, tally.resolved + resolved


def _held(window_start: date, referral_ids: list[int]) -> list[Row[Any]]:
    """Our appointments of these people in the window, as plain rows with what the comparison needs."""
    session_lead, group_lead = aliased(SessionFacilitator), aliased(GroupFacilitator)
    session_staff, group_staff = aliased(Facilitator), aliased(Facilitator)
    pending = exists().where(OutboxItem.appointment_id == NDeliusAppointment.id, OutboxItem.status == "pending")
    return list(db.session.execute(
        select(NDeliusAppointment.id, NDeliusAppointment.reference, NDeliusAppointment.sync_state,
               NDeliusAppointment.remote_state, NDeliusAppointment.claimed_until, NDeliusAppointment.last_synced_at,
               pending.label("pending"), Session.starts_at, Session.ends_at, Group.region_id,
               func.nullif(func.coalesce(Session.location_code, Group.location_code), "").label("location_code"),
               Referral.requirement_id, Referral.licence_condition_id, Module.role.label("module_role"),
               func.coalesce(session_staff.staff_code, group_staff.staff_code).label("staff_code"),
               func.coalesce(session_staff.team_code, group_staff.team_code).label("team_code"),
               (session_staff.id.is_not(None) | group_staff.id.is_not(None)).label("has_lead"),
               case((Session.status == "cancelled", CANCELLED_OUTCOME), else_=Attendance.outcome).label("outcome"))
        .join(Attendee, Attendee.id == NDeliusAppointment.attendee_id)
        .join(Session, Session.id == Attendee.session_id)
        .join(Referral, Referral.id == Attendee.referral_id)
        .join(Group, Group.id == Session.group_id)
        .join(SessionTemplate, SessionTemplate.id == Session.session_template_id)
        .join(Module, Module.id == SessionTemplate.module_id)
        .outerjoin(session_lead, and_(session_lead.session_id == Session.id, session_lead.role == "lead"))
        .outerjoin(session_staff, session_staff.id == session_lead.facilitator_id)
        .outerjoin(group_lead, and_(group_lead.group_id == Group.id, group_lead.role == "lead"))
        .outerjoin(group_staff, and_(group_staff.id == group_lead.facilitator_id, session_staff.id.is_(None)))
        .outerjoin(Attendance, Attendance.attendee_id == Attendee.id)
        .where(Attendee.referral_id.in_(referral_ids),
               Session.starts_at >= datetime.combine(window_start, time()))
        .order_by(NDeliusAppointment.id)))


def _compare(held: list[Row[Any]], found: list[dict[str, Any]], regions: dict[tuple[str, Any], int]
             ) -> tuple[list[Difference], set[str], int]:
    now = utcnow()
    busy = {a.id for a in held if a.pending or (a.claimed_until is not None and a.claimed_until > now)}
    by_reference: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in found:
        if item.get("reference"):
            try:
                by_reference[bare_reference(item["reference"])].append(item)
            except ValueError:
                continue
    ours = {str(a.reference): a for a in held}
    differences: list[Difference] = []
    checked: set[str] = set(by_reference)
    compared = 0
    for appointment in held:
        reference = str(appointment.reference)
        if appointment.id in busy or appointment.remote_state != "present" or appointment.sync_state != "synced":
            continue
        try:
            if not appointment.has_lead:
                raise NeedsPerson("no lead facilitator")
            expected = expected_payload(
                reference=appointment.reference, requirement_id=appointment.requirement_id,
                licence_condition_id=appointment.licence_condition_id, starts_at=appointment.starts_at,
                ends_at=appointment.ends_at, module_role=appointment.module_role,
                staff_code=appointment.staff_code, team_code=appointment.team_code,
                location_code=appointment.location_code, outcome_code=appointment.outcome)
        except NeedsPerson:
            continue
        compared += 1
        checked.add(reference)

        def diff(field: str, mine: str | None, theirs: str | None, _a: Row[Any] = appointment,
                 _ref: str = reference) -> None:
            differences.append(Difference(_a.id, _a.region_id, _ref, field, mine, theirs, _a.last_synced_at))

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

    strangers = [reference for reference in by_reference if reference not in ours]
    elsewhere = _ours_outside_the_window(strangers)
    for reference, matches in by_reference.items():
        held_here = ours.get(reference)
        shown = f"Booked {_when(matches[0].get('date'), _hhmm(matches[0]))}"
        if held_here is None:
            if reference in elsewhere:
                continue  # ours, at a date before the window: looked at when it is in the window
            region_id = regions.get(("r", matches[0].get("requirementId"))) or regions.get(
                ("l", matches[0].get("licenceConditionId")))
            differences.append(Difference(None, region_id, reference, "appointment", "Not in our records", shown,
                                          None))
            continue
        if held_here.id in busy:
            continue
        if held_here.sync_state == "deleted" or held_here.remote_state == "deleted":
            differences.append(Difference(held_here.id, held_here.region_id, reference, "appointment",
                                          "Cancelled or removed here", shown, held_here.last_synced_at))
    return differences, checked, compared


def _ours_outside_the_window(references: list[str]) -> set[str]:
    if not references:
        return set()
    return {str(r) for r in db.session.scalars(select(NDeliusAppointment.reference).where(
        NDeliusAppointment.reference.in_([UUID(r) for r in references])))}


def _record(differences: list[Difference], checked: set[str], now: datetime) -> tuple[int, int]:
    """Keep one open row per (reference, field) among the page's references: new ones added, changed ones
    updated, gone ones resolved."""
    open_rows: dict[tuple[str, str], NDeliusDisagreement] = {}
    wanted = [UUID(r) for r in checked | {d.reference for d in differences}]
    for start in range(0, len(wanted), 1000):
        for row in db.session.scalars(select(NDeliusDisagreement).where(
                NDeliusDisagreement.resolved_at.is_(None),
                NDeliusDisagreement.reference.in_(wanted[start:start + 1000]))):
            open_rows[(str(row.reference), row.field)] = row
    seen: set[tuple[str, str]] = set()
    new = 0
    for difference in differences:
        key = (difference.reference, difference.field)
        seen.add(key)
        row = open_rows.get(key)  # type: ignore[assignment]
        if row is None:
            row = NDeliusDisagreement(reference=UUID(difference.reference), field=difference.field,
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
        return f"{OUTCOMES.get(value, 'Rescheduled – service request' if value == CANCELLED_OUTCOME else value)} ({value})"
    return value
