"""The outbox relay: sends what the nDelius outbox holds (SPEC §5; RELIABILITY S1-S10, J4, J9).

The unit of work is one appointment (one person at one session). A relay *claims* appointments that have due
outbox rows by taking a lease on the appointment row (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: the
same conditional UPDATE under its single writer lock), so two relays never work on one appointment. All of an
appointment's pending rows are coalesced: what is sent is its *current* state, once.

What to send follows from two facts, not from the rows' actions: does the person still need the appointment
(the latest row is not a delete, the session is not cancelled, the attendee was not removed) and what nDelius
holds (``remote_state``):

    wanted, absent/deleted  -> create (a past appointment needs an outcome first)
    wanted, present         -> update (notes only when changed: nDelius appends them)
    wanted, uncertain       -> search by reference first, then update, create or nothing
    not wanted, present/uncertain -> delete (nDelius not knowing it means it is gone already)
    not wanted, absent/deleted    -> nothing to send

A batch is planned in one transaction, which also records every create (and every update carrying notes) as
"uncertain" before it goes out: a relay that dies mid-call, or a lost answer, leads the next pass to search
before it ever creates again, so replaying is harmless. The calls then go out on a bounded thread pool with no
transaction open, and the results are written back. Transient failures (timeouts, 429/5xx, an open circuit)
put the rows back with a full-jitter backoff (``next_attempt_at``); a refusal (400, 409, 401/403, an unknown
code) marks that appointment "needs attention" with the reason, and the rest of the batch carries on.
"""
from __future__ import annotations

import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import joinedload, selectinload

from app import clock
from app.extensions import db
from app.integrations.circuit_breaker import OPEN, RedisCircuitBreaker
from app.integrations.errors import (
    AmbiguousResult,
    ClashError,
    NDeliusError,
    NotFoundError,
    PermanentError,
    TransientError,
)
from app.integrations.ndelius import NDeliusClient, backoff_delay, build_appointment, local_schedule
from app.models import (
    Attendee,
    Group,
    GroupFacilitator,
    NDeliusAppointment,
    OutboxItem,
    Session,
    SessionFacilitator,
    SessionTemplate,
)
from app.models.base import utcnow
from app.services import audit

log = logging.getLogger(__name__)
T = TypeVar("T")
LEASE = timedelta(minutes=5)
SCHEDULE_FIELDS = ("date", "startTime", "endTime", "staff", "team", "location", "outcome")
PAST_WITHOUT_OUTCOME = ("The session has happened: record attendance so nDelius gets an outcome "
                        "(it does not take an appointment in the past without one)")


class NeedsPerson(Exception):
    """We cannot send this change until someone acts (record attendance, fix a code...)."""


@dataclass
class DrainResult:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    needs_attention: int = 0
    retrying: int = 0
    batches: int = 0
    circuit_open: bool = False
    seconds: float = 0.0

    @property
    def sent(self) -> int:
        return self.created + self.updated + self.deleted + self.unchanged

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (
            "created", "updated", "deleted", "unchanged", "needs_attention", "retrying", "batches",
            "circuit_open", "seconds")}

    def summary(self) -> str:
        text = (f"{self.sent} appointments in step with nDelius ({self.created} created, {self.updated} updated, "
                f"{self.deleted} deleted, {self.unchanged} already right); {self.needs_attention} need attention; "
                f"{self.retrying} will be retried")
        return text + ("; nDelius calls are paused (circuit open)" if self.circuit_open else "")


@dataclass
class Relay:
    """What one drain works with; shared by its worker threads (which touch only the client and breaker)."""

    client: NDeliusClient
    breaker: RedisCircuitBreaker | None
    now: Callable[[], datetime]
    token: str
    retry_base: float
    retry_cap: float

    def call(self, fn: Callable[[], T]) -> T:
        return self.breaker.call(fn) if self.breaker is not None else fn()


@dataclass
class Attempt:
    """One pass at one appointment: what to send, and then what happened."""

    appointment_id: int
    reference: str
    row_ids: list[int]
    remote: str
    wanted: bool
    payload: dict[str, Any] | None = None
    notes: str | None = None  # notes to send (changed since last sent)
    current_notes: str | None = None
    past_without_outcome: bool = False
    search_dates: list[str] = field(default_factory=list)
    write: str | None = None  # "create" | "update" once decided
    remote_before_write: str | None = None
    notes_sent: bool = False
    outcome: str = "retry"  # created | updated | deleted | unchanged | retry | attention
    error: str | None = None
    retry_after: float | None = None


# --- wiring ---------------------------------------------------------------------------------------------------


def client_from_config(config: Any) -> NDeliusClient:
    return NDeliusClient(
        config["NDELIUS_URL"], config["HMPPS_AUTH_URL"], config["NDELIUS_CLIENT_ID"],
        config["NDELIUS_CLIENT_SECRET"], connect_timeout=config.get("NDELIUS_CONNECT_TIMEOUT", 3.05),
        read_timeout=config.get("NDELIUS_READ_TIMEOUT", 15),
    )


def breaker_from_config(config: Any) -> RedisCircuitBreaker | None:
    """The shared circuit breaker, or None when Redis is out of reach (the relay then runs without one)."""
    from jobs.enqueue import redis_connection

    try:
        redis = redis_connection()
        redis.ping()
        return RedisCircuitBreaker(redis, "ndelius", fail_max=config.get("NDELIUS_BREAKER_FAILURES", 5),
                                   reset_timeout=config.get("NDELIUS_BREAKER_RESET", 60))
    except RedisError:
        log.warning("Redis unavailable: relaying to nDelius without the circuit breaker")
        return None


# --- draining -------------------------------------------------------------------------------------------------


def drain(*, client: NDeliusClient | None = None, breaker: RedisCircuitBreaker | None | bool = True,
          now: Callable[[], datetime] = utcnow, budget: float | None = None, concurrency: int | None = None,
          batch_size: int | None = None) -> DrainResult:
    """Send every appointment whose outbox rows are due, batch by batch, until none is left, the budget (s) is
    spent or the circuit opens. ``breaker=True`` uses the shared Redis breaker; None or False, none."""
    config = current_app.config
    own_client = client is None
    client = client or client_from_config(config)
    if breaker is True:
        breaker = breaker_from_config(config)
    relay = Relay(client=client, breaker=breaker or None, now=now, token=secrets.token_hex(8),
                  retry_base=config.get("NDELIUS_RETRY_BASE", 2), retry_cap=config.get("NDELIUS_RETRY_CAP", 600))
    workers = max(1, concurrency or config.get("NDELIUS_CONCURRENCY", 2))
    size = max(1, batch_size or config.get("NDELIUS_BATCH_SIZE", 20))
    result = DrainResult()
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="ndelius-relay") as pool:
            while budget is None or time.monotonic() - started < budget:
                if _circuit_open(relay):
                    result.circuit_open = True
                    break
                claimed = claim(relay.token, size, now())
                if not claimed:
                    break
                result.batches += 1
                attempts = plan(relay, claimed)
                ready = [a for a in attempts if a.outcome != "attention"]
                list(pool.map(lambda attempt: send(relay, attempt), ready))
                for attempt in attempts:
                    result.add({"retry": "retrying", "attention": "needs_attention"}.get(
                        attempt.outcome, attempt.outcome))
                finish(relay, claimed, attempts)
    finally:
        if own_client:
            client.close()
    result.seconds = round(time.monotonic() - started, 3)
    result.circuit_open = result.circuit_open or _circuit_open(relay)
    log.info("ndelius relay: %s", result.summary())
    return result


def _circuit_open(relay: Relay) -> bool:
    if relay.breaker is None:
        return False
    try:
        return relay.breaker.state == OPEN
    except RedisError:  # Redis went away mid-drain: carry on without the breaker
        log.warning("Redis unavailable: relaying to nDelius without the circuit breaker")
        relay.breaker = None
        return False


def claim(token: str, limit: int, now: datetime) -> list[int]:
    """Lease up to ``limit`` appointments that have due outbox rows and no live lease; their ids."""
    due = select(OutboxItem.appointment_id).where(OutboxItem.status == "pending", OutboxItem.next_attempt_at <= now)
    free = or_(NDeliusAppointment.claimed_until.is_(None), NDeliusAppointment.claimed_until < now)
    query = (select(NDeliusAppointment.id).where(NDeliusAppointment.id.in_(due), free)
             .order_by(NDeliusAppointment.id).limit(limit))
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=NDeliusAppointment)
    ids = list(db.session.scalars(query))
    claimed: list[int] = []
    if ids:
        db.session.execute(
            update(NDeliusAppointment).where(NDeliusAppointment.id.in_(ids), free)
            .values(claimed_by=token, claimed_until=now + LEASE).execution_options(synchronize_session=False)
        )
        claimed = list(db.session.scalars(
            select(NDeliusAppointment.id).where(NDeliusAppointment.id.in_(ids), NDeliusAppointment.claimed_by == token)
            .order_by(NDeliusAppointment.id)
        ))
    db.session.commit()
    return claimed


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Free leases whose relay died, and count what the outbox still holds (the caller queues a relay)."""
    now = now or utcnow()
    released = db.session.execute(
        update(NDeliusAppointment).where(NDeliusAppointment.claimed_until < now)
        .values(claimed_by=None, claimed_until=None).execution_options(synchronize_session=False)
    ).rowcount
    due = db.session.scalar(select(func.count(OutboxItem.id)).where(
        OutboxItem.status == "pending", OutboxItem.next_attempt_at <= now))
    waiting = db.session.scalar(select(func.count(OutboxItem.id)).where(
        OutboxItem.status == "pending", OutboxItem.next_attempt_at > now))
    db.session.commit()
    return {"released": released or 0, "due": due or 0, "waiting": waiting or 0}


def next_attempt_at() -> datetime | None:
    """When the earliest pending row falls due (None: nothing pending)."""
    return db.session.scalar(select(func.min(OutboxItem.next_attempt_at)).where(OutboxItem.status == "pending"))


# --- planning (one transaction per batch) ---------------------------------------------------------------------


def _with_everything():  # type: ignore[no-untyped-def]
    return joinedload(NDeliusAppointment.attendee).options(
        joinedload(Attendee.attendance), joinedload(Attendee.referral),
        joinedload(Attendee.session).options(
            selectinload(Session.facilitators).joinedload(SessionFacilitator.facilitator),
            joinedload(Session.session_template).joinedload(SessionTemplate.module),
            joinedload(Session.group).selectinload(Group.facilitators).joinedload(GroupFacilitator.facilitator)))


def plan(relay: Relay, appointment_ids: list[int]) -> list[Attempt]:
    """What to send for each claimed appointment, as our records stand now. Creates (and updates carrying
    notes) are committed as "uncertain" before they go out: the recovery point for a lost answer."""
    appointments = db.session.scalars(
        select(NDeliusAppointment).where(NDeliusAppointment.id.in_(appointment_ids),
                                         NDeliusAppointment.claimed_by == relay.token)
        .options(_with_everything())).unique().all()
    rows: dict[int, list[OutboxItem]] = defaultdict(list)
    for row in db.session.scalars(select(OutboxItem).where(
            OutboxItem.appointment_id.in_(appointment_ids), OutboxItem.status == "pending").order_by(OutboxItem.id)):
        rows[row.appointment_id].append(row)
    now_local = clock.now_local()
    attempts = [_plan_one(appointment, rows[appointment.id], now_local)
                for appointment in appointments if rows[appointment.id]]
    db.session.commit()
    return attempts


def _plan_one(appointment: NDeliusAppointment, rows: list[OutboxItem], now_local: datetime) -> Attempt:
    attendee = appointment.attendee
    session = attendee.session
    attempt = Attempt(
        appointment_id=appointment.id, reference=str(appointment.reference), row_ids=[r.id for r in rows],
        remote=appointment.remote_state,
        wanted=(rows[-1].action != "delete" and session.status != "cancelled"
                and getattr(attendee, "removed_at", None) is None),
    )
    if appointment.last_sent and appointment.last_sent.get("date"):
        attempt.search_dates.append(appointment.last_sent["date"])
    if not attempt.wanted:
        return attempt
    try:
        attempt.payload = appointment_payload(appointment)
    except NeedsPerson as exc:
        attempt.outcome, attempt.error = "attention", str(exc)
        return attempt
    notes = (attendee.attendance.notes or "").strip() if attendee.attendance else ""
    attempt.current_notes = notes or None
    if notes and notes != (appointment.last_sent_notes or ""):
        attempt.notes = notes
    attempt.past_without_outcome = session.starts_at < now_local and "outcome" not in attempt.payload
    attempt.search_dates.append(attempt.payload["date"])
    if attempt.remote in ("absent", "deleted"):
        if attempt.past_without_outcome:
            attempt.outcome, attempt.error = "attention", PAST_WITHOUT_OUTCOME
        else:
            _write_ahead(attempt, "create")
    elif attempt.remote == "present":
        if attempt.notes:
            _write_ahead(attempt, "update")  # notes are appended: never send them twice blindly
        else:
            attempt.write = "update"
    if attempt.write is not None and attempt.remote == "uncertain":
        appointment.remote_state, appointment.last_sent = "uncertain", _with_notes(attempt)
    return attempt


def appointment_payload(appointment: NDeliusAppointment) -> dict[str, Any]:
    """The create item for the appointment as our records stand now (no notes: see ``plan``)."""
    attendee = appointment.attendee
    session: Session = attendee.session
    referral = attendee.referral
    lead = session.lead_facilitator or session.group.lead_facilitator
    if lead is None:
        raise NeedsPerson("The session has no lead facilitator: nDelius needs a staff member for the appointment")
    attendance = attendee.attendance
    try:
        return build_appointment(
            reference_uuid=appointment.reference, requirement_id=referral.requirement_id,
            licence_condition_id=referral.licence_condition_id, starts_at=session.starts_at,
            ends_at=session.ends_at, module_role=session.session_template.module.role,
            staff_code=lead.staff_code, team_code=lead.team_code, location_code=session.group.location_code,
            outcome_code=attendance.outcome if attendance else None,
        )
    except ValueError as exc:
        raise NeedsPerson(f"Cannot be sent to nDelius: {exc}") from exc


def _write_ahead(attempt: Attempt, write: str) -> None:
    attempt.write, attempt.remote_before_write, attempt.remote = write, attempt.remote, "uncertain"


def _with_notes(attempt: Attempt) -> dict[str, Any]:
    payload = dict(attempt.payload or {})
    if attempt.notes:
        payload["notes"] = attempt.notes
    return payload


# --- sending (worker threads: HTTP only, no database) ---------------------------------------------------------


def send(relay: Relay, attempt: Attempt) -> None:
    """Make the calls for one appointment; the outcome and what was learnt are left on the attempt."""
    try:
        attempt.outcome = _send(relay, attempt)
    except NeedsPerson as exc:
        attempt.outcome, attempt.error = "attention", str(exc)
    except TransientError as exc:
        if not isinstance(exc, AmbiguousResult) and attempt.remote_before_write is not None:
            attempt.remote = attempt.remote_before_write  # nothing reached nDelius
        attempt.outcome, attempt.error, attempt.retry_after = "retry", str(exc), exc.retry_after
    except PermanentError as exc:
        if attempt.remote_before_write is not None:
            attempt.remote = attempt.remote_before_write  # refused: nothing was applied
        if isinstance(exc, NotFoundError) and attempt.wanted and attempt.write == "update":
            attempt.remote = "uncertain"  # nDelius does not know it (any more): look before sending again
        attempt.outcome, attempt.error = "attention", _refusal(exc)
    except NDeliusError as exc:  # an answer we could not read: try again later
        attempt.outcome, attempt.error = "retry", str(exc)
    except Exception as exc:  # a bug must not stop the batch nor lose the others' results
        log.exception("ndelius relay failed on appointment %s", attempt.appointment_id)
        attempt.outcome, attempt.error = "retry", f"internal error ({type(exc).__name__}); will retry"


def _send(relay: Relay, attempt: Attempt) -> str:
    client, reference = relay.client, attempt.reference
    if not attempt.wanted:
        if attempt.remote in ("absent", "deleted"):
            return "unchanged"  # never created, or already deleted: nothing to send
        try:
            relay.call(lambda: client.delete([reference]))
        except NotFoundError:
            pass  # nDelius does not have it: that is what we wanted
        attempt.remote = "deleted"
        return "deleted"

    if attempt.write is None:
        # "uncertain": a write's answer was lost (or its relay died). Look before sending anything again; the
        # record stays "uncertain" until the answer is in, so a crash here leads to another look.
        payload = attempt.payload or {}
        found = relay.call(lambda: client.find(
            reference, requirement_id=payload.get("requirementId"),
            licence_condition_id=payload.get("licenceConditionId"), from_date=min(attempt.search_dates),
            to_date=max(attempt.search_dates)))
        if found is None:
            if attempt.past_without_outcome:
                attempt.remote = "absent"
                raise NeedsPerson(PAST_WITHOUT_OUTCOME)
            attempt.remote_before_write, attempt.write = "absent", "create"
        else:
            attempt.remote = "present"
            if attempt.notes and (found.get("notes") or "").endswith(attempt.notes):
                attempt.notes_sent, attempt.notes = True, None  # the lost write had delivered them
            if attempt.notes is None and _same_schedule(found, payload):
                return "unchanged"
            attempt.remote_before_write, attempt.write = "present", "update"
        attempt.remote = "uncertain"

    payload = _with_notes(attempt)
    if attempt.write == "create":
        relay.call(lambda: client.create([payload]))
    else:
        relay.call(lambda: client.update([payload]))
    attempt.remote, attempt.notes_sent = "present", attempt.notes_sent or bool(attempt.notes)
    return "created" if attempt.write == "create" else "updated"


# --- writing back ---------------------------------------------------------------------------------------------


def finish(relay: Relay, claimed: list[int], attempts: list[Attempt]) -> None:
    """Write what happened (rows done / back in the queue / needing attention) and release every lease."""
    now = relay.now()
    by_id = {a.appointment_id: a for a in attempts}
    appointments = {a.id: a for a in db.session.scalars(
        select(NDeliusAppointment).where(NDeliusAppointment.id.in_(claimed)).options(
            joinedload(NDeliusAppointment.attendee).joinedload(Attendee.session)))}
    rows = {r.id: r for r in db.session.scalars(select(OutboxItem).where(
        OutboxItem.id.in_([i for a in attempts for i in a.row_ids])))} if attempts else {}
    others: dict[int, list[OutboxItem]] = defaultdict(list)  # rows this batch did not plan for
    for row in db.session.scalars(select(OutboxItem).where(
            OutboxItem.appointment_id.in_(claimed), OutboxItem.status.in_(("pending", "needs_attention")))):
        if row.id not in rows:
            others[row.appointment_id].append(row)
    for appointment_id, appointment in appointments.items():
        if appointment.claimed_by == relay.token:
            appointment.claimed_by, appointment.claimed_until = None, None
        attempt = by_id.get(appointment_id)
        if attempt is not None:
            _finish_one(relay, appointment, attempt, [rows[i] for i in attempt.row_ids if i in rows],
                        others[appointment_id], now)
    db.session.commit()


def _finish_one(relay: Relay, appointment: NDeliusAppointment, attempt: Attempt, rows: list[OutboxItem],
                others: list[OutboxItem], now: datetime) -> None:
    appointment.remote_state = attempt.remote
    if attempt.outcome == "retry":
        for row in rows:
            row.attempts += 1
            delay = backoff_delay(row.attempts - 1, base=relay.retry_base, cap=relay.retry_cap)
            row.next_attempt_at = now + timedelta(seconds=max(delay, attempt.retry_after or 0))
            row.last_error = attempt.error
        appointment.last_error = attempt.error
        return
    if attempt.outcome == "attention":
        for row in rows:
            row.status, row.last_error, row.processed_at = "needs_attention", attempt.error, now
        appointment.sync_state, appointment.last_error = "needs_attention", attempt.error
        audit.record(None, "ndelius.needs_attention", appointment, group_id=appointment.attendee.session.group_id,
                     after={"reason": attempt.error, "actions": sorted({r.action for r in rows})})
        return
    newest = max(attempt.row_ids)
    for row in rows:
        row.status, row.last_error, row.processed_at = "done", None, now
    for row in others:  # earlier refusals are superseded: the appointment as it stands now was accepted
        if row.status == "needs_attention" and row.id < newest:
            row.status, row.processed_at = "done", now
    if attempt.wanted:
        appointment.sync_state = "synced"
        if attempt.payload is not None:
            appointment.last_sent = attempt.payload
        if attempt.notes_sent:
            appointment.last_sent_notes = attempt.current_notes
    else:
        appointment.sync_state = "deleted"
    appointment.last_error, appointment.last_synced_at = None, now
    if any(row.status == "pending" and row.id > newest for row in others):
        appointment.sync_state = "pending"  # changed again while this was being sent


# --- helpers --------------------------------------------------------------------------------------------------


def _same_schedule(found: dict[str, Any], payload: dict[str, Any]) -> bool:
    day, start, end = local_schedule(found)
    theirs = {
        "date": day.isoformat(), "startTime": start.strftime("%H:%M") if start else None,
        "endTime": end.strftime("%H:%M") if end else None,
        "staff": _code(found.get("staff")), "team": _code(found.get("team")),
        "location": _code(found.get("location")), "outcome": _code(found.get("outcome")),
    }
    ours = {key: (_code(payload.get(key)) if isinstance(payload.get(key), dict) else payload.get(key))
            for key in SCHEDULE_FIELDS}
    return theirs == ours


def _code(value: Any) -> str | None:
    return value.get("code") if isinstance(value, dict) else None


def _refusal(error: PermanentError) -> str:
    if isinstance(error, ClashError):
        return f"nDelius refused it as a clash with another appointment ({error})"
    if error.terminated_requirement:
        return f"nDelius does not accept the requirement - it may have been terminated ({error})"
    if error.status in (401, 403):
        return f"nDelius refused our credentials ({error}); check NDELIUS_CLIENT_ID/SECRET and roles"
    if isinstance(error, NotFoundError):
        return f"nDelius did not recognise it ({error})"
    return f"nDelius refused it ({error})"
