"""Sending a relay batch (worker threads: HTTP only, no database): the calls for each planned appointment,
and what was learnt, left on its ``Attempt`` for ``ndelius_finish`` to write back."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from app.integrations.errors import (
    AmbiguousResult,
    ClashError,
    NDeliusError,
    NotFoundError,
    PermanentError,
    TransientError,
)
from app.integrations.ndelius import local_schedule
from app.services.ndelius_plan import PAST_WITHOUT_OUTCOME, Attempt, NeedsPerson, with_notes

if TYPE_CHECKING:
    from app.services.ndelius_sync import Relay

log = logging.getLogger(__name__)
SCHEDULE_FIELDS = ("date", "startTime", "endTime", "staff", "team", "location", "outcome")


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

    payload = with_notes(attempt)
    if attempt.write == "create":
        relay.call(lambda: client.create([payload]))
    else:
        relay.call(lambda: client.update([payload]))
    attempt.remote, attempt.notes_sent = "present", attempt.notes_sent or bool(attempt.notes)
    return "created" if attempt.write == "create" else "updated"


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
