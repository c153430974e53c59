"""Sending a relay batch in arrays (worker threads: HTTP only; the only database statement is the fenced
lease renewal before each call, on a connection of its own). What each item's call did is left on its
``Attempt`` for ``ndelius_finish`` to write back.

First the searches (for appointments whose last write's answer was lost: ≤ 500 requirement and ≤ 500 licence
condition ids a search), then the deletes, creates and updates, each in arrays of at most ``batch_size``. The
API answers for a whole request and applies it whole or not at all, so a refusal (400, 404, 409) is narrowed
down: items the answer names (an unknown reference, an invalid requirement id) take it, and the others are
sent again; an answer naming none is narrowed by halving the array until the item it is about stands alone.
A transient failure (timeout, 5xx, circuit open) is the whole array's. 401/403 is about us, not the items.
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from functools import partial
from typing import TYPE_CHECKING, Any

from app.integrations.errors import (
    AmbiguousResult,
    ClashError,
    NDeliusError,
    NotFoundError,
    NotSent,
    PermanentError,
    TransientError,
)
from app.integrations.ndelius import MAX_SEARCH_IDS, bare_reference, local_schedule
from app.services.ndelius_plan import PAST_WITHOUT_OUTCOME, Attempt, with_notes

if TYPE_CHECKING:
    from app.services.ndelius_sync import Lease, Relay

log = logging.getLogger(__name__)
SCHEDULE_FIELDS = ("date", "startTime", "endTime", "staff", "team", "location", "outcome")
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
NUMBER_RE = re.compile(r"\d+")


def send(relay: Relay, lease: Lease, attempts: list[Attempt], pool: Executor) -> None:
    """Make the batch's calls; every attempt that was to be sent ends with its own outcome."""
    looks = [a for a in attempts if a.kind == "look"]
    _run(pool, [(relay, lease, chunk, "look") for chunk in _search_chunks(looks)])
    for attempt in attempts:
        if attempt.outcome == "pending" and not attempt.wanted and attempt.kind is None:
            attempt.outcome = "unchanged"  # never created, or already deleted: nothing to send
    jobs = []
    for kind in ("delete", "create", "update"):
        items = [a for a in attempts if a.kind == kind]
        jobs += [(relay, lease, items[i:i + relay.batch_size], kind) for i in range(0, len(items), relay.batch_size)]
    _run(pool, jobs)


def _run(pool: Executor, jobs: list[tuple[Relay, Lease, list[Attempt], str]]) -> None:
    for future in [pool.submit(_send_chunk, *job) for job in jobs]:
        future.result()


def _search_chunks(looks: list[Attempt]) -> Iterable[list[Attempt]]:
    """Looks grouped so that one search carries at most 500 ids of each kind (never none)."""
    chunk: list[Attempt] = []
    requirements: set[int] = set()
    licences: set[int] = set()
    for attempt in looks:
        mine = {attempt.requirement_id} if attempt.requirement_id is not None else set()
        theirs = {attempt.licence_condition_id} if attempt.licence_condition_id is not None else set()
        if chunk and (len(requirements | mine) > MAX_SEARCH_IDS or len(licences | theirs) > MAX_SEARCH_IDS):
            yield chunk
            chunk, requirements, licences = [], set(), set()
        chunk.append(attempt)
        requirements |= mine
        licences |= theirs
    if chunk:
        yield chunk


def _send_chunk(relay: Relay, lease: Lease, attempts: list[Attempt], kind: str) -> None:
    try:
        _isolating(relay, lease, attempts, kind)
    except Exception as exc:  # a bug must not stop the batch nor lose the others' results
        log.exception("ndelius relay failed on a %s of %d appointments", kind, len(attempts))
        for attempt in attempts:
            if attempt.outcome == "pending":
                _failed(attempt, kind, NDeliusError(f"internal error ({type(exc).__name__}); will retry"))


def _isolating(relay: Relay, lease: Lease, attempts: list[Attempt], kind: str) -> None:
    """Send ``attempts`` as one call; narrow a refusal down to the items it is about (see the module)."""
    waiting = [attempts]
    while waiting:
        chunk = waiting.pop(0)
        held, deadline = relay.renew(lease, [a.appointment_id for a in chunk])
        for attempt in chunk:
            if attempt.appointment_id not in held:
                attempt.outcome = "lost"  # another relay (or the sweeper) took the lease: it is theirs now
        chunk = [a for a in chunk if a.appointment_id in held]
        if not chunk:
            continue
        if time.monotonic() + relay.client.call_seconds > deadline:
            _all_failed(chunk, kind, NotSent("not sent: out of time"))
            continue
        try:
            answer = relay.call(partial(CALLS[kind], relay, chunk, deadline))
        except PermanentError as exc:
            if exc.status in (401, 403) or len(chunk) == 1:
                _all_failed(chunk, kind, exc)
                continue
            named = _named(exc, chunk)
            if named and len(named) < len(chunk):
                _all_failed(named, kind, exc)
                waiting.append([a for a in chunk if a not in named])
            elif named:
                _all_failed(chunk, kind, exc)
            else:
                half = len(chunk) // 2
                waiting += [chunk[:half], chunk[half:]]
        except NDeliusError as exc:  # transient (timeout, 5xx, circuit open), not sent, or unreadable
            _all_failed(chunk, kind, exc)
        else:
            for attempt in chunk:
                _succeeded(attempt, kind, answer)


# --- the calls ------------------------------------------------------------------------------------------------


def _search(relay: Relay, chunk: list[Attempt], deadline: float) -> dict[str, dict[str, Any]]:
    dates = [day for a in chunk for day in a.search_dates]
    found = relay.client.search(
        {a.requirement_id for a in chunk if a.requirement_id is not None},
        {a.licence_condition_id for a in chunk if a.licence_condition_id is not None},
        min(dates), max(dates), deadline=deadline)
    by_reference: dict[str, dict[str, Any]] = {}
    for item in found:
        try:
            by_reference.setdefault(bare_reference(item.get("reference") or ""), item)
        except ValueError:
            continue  # not one of ours
    return by_reference


CALLS: dict[str, Callable[[Relay, list[Attempt], float], Any]] = {
    "look": _search,
    "create": lambda relay, chunk, deadline: relay.client.create([with_notes(a) for a in chunk], deadline=deadline),
    "update": lambda relay, chunk, deadline: relay.client.update([with_notes(a) for a in chunk], deadline=deadline),
    "delete": lambda relay, chunk, deadline: relay.client.delete([a.reference for a in chunk], deadline=deadline),
}


def _named(error: PermanentError, chunk: list[Attempt]) -> list[Attempt]:
    """The items a refusal names: by reference (404 "Appointment with reference of … not found") or by
    requirement id (400 "Invalid Requirement IDs: [...]")."""
    references = {match.lower() for match in UUID_RE.findall(error.message)}
    named = [a for a in chunk if a.reference in references]
    if not named and error.terminated_requirement:
        ids = {int(n) for n in NUMBER_RE.findall(error.message.partition(":")[2])}
        named = [a for a in chunk if a.requirement_id in ids]
    return named


# --- what each item learnt ------------------------------------------------------------------------------------


def _succeeded(attempt: Attempt, kind: str, answer: Any) -> None:
    if kind == "look":
        _looked(attempt, answer.get(attempt.reference))
    elif kind == "delete":
        attempt.remote, attempt.outcome = "deleted", "deleted"
    else:
        attempt.remote, attempt.notes_sent = "present", attempt.notes_sent or bool(attempt.notes)
        attempt.outcome = "created" if kind == "create" else "updated"


def _looked(attempt: Attempt, found: dict[str, Any] | None) -> None:
    """After the search: create, update or nothing. The record stays "uncertain" until a write's answer is in,
    so a crash from here on leads to another look."""
    payload = attempt.payload or {}
    if found is None:
        if attempt.past_without_outcome:
            attempt.remote, attempt.outcome, attempt.error = "absent", "attention", PAST_WITHOUT_OUTCOME
            return
        attempt.remote_before_write, attempt.write = "absent", "create"
        return
    attempt.remote = "present"
    if attempt.notes and (found.get("notes") or "").endswith(attempt.notes):
        attempt.notes_sent, attempt.notes = True, None  # the lost write had delivered them
    if attempt.notes is None and _same_schedule(found, payload):
        attempt.outcome = "unchanged"
        return
    attempt.remote_before_write, attempt.write, attempt.remote = "present", "update", "uncertain"


def _all_failed(chunk: list[Attempt], kind: str, error: NDeliusError) -> None:
    for attempt in chunk:
        _failed(attempt, kind, error)


def _failed(attempt: Attempt, kind: str, error: NDeliusError) -> None:
    if isinstance(error, NotSent):
        if attempt.remote_before_write is not None and kind != "look":
            attempt.remote = attempt.remote_before_write  # nothing reached nDelius
        attempt.outcome, attempt.error = "deferred", str(error)
    elif isinstance(error, TransientError):
        if not isinstance(error, AmbiguousResult) and attempt.remote_before_write is not None and kind != "look":
            attempt.remote = attempt.remote_before_write  # nothing reached nDelius
        attempt.outcome, attempt.error, attempt.retry_after = "retry", str(error), error.retry_after
    elif isinstance(error, PermanentError):
        if kind == "delete" and isinstance(error, NotFoundError):
            attempt.remote, attempt.outcome = "deleted", "deleted"  # nDelius does not have it: as wanted
            return
        if attempt.remote_before_write is not None and kind != "look":
            attempt.remote = attempt.remote_before_write  # refused: nothing was applied
        if isinstance(error, NotFoundError) and attempt.wanted and kind == "update":
            attempt.remote = "uncertain"  # nDelius does not know it (any more): look before sending again
        attempt.outcome, attempt.error = "attention", _refusal(error)
    else:  # an answer we could not read: try again later
        attempt.outcome, attempt.error = "retry", str(error)


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
