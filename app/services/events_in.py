"""Referrals in: what the listener does with each message from our queue (HMPPS.md §5).

* ``interventions.community-referral.created`` / ``.imported``: read the referral from the event's detailUrl,
  the person's case from nDelius, and put the referral on the waiting list. Idempotent: the SNS MessageId is
  recorded (the same message twice is seen once) and the referral is keyed by its referral id (a created and
  an imported event for one referral, in either order, make one referral).
* ``probation-case.merge.completed``: the person's referrals move to the surviving CRN (and a referral that
  arrives later for the old CRN is filed under the new one).

nDelius being down never stops a referral arriving: it is created from what the referral says, and the case
is read again later. A message that cannot ever be processed (not JSON, no detail, an unknown region) is
*poison*: it goes to the dead-letter queue and is listed for admins. A passing failure (the referral source
down) is retried a few times, then dead-lettered too.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

import requests
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.integrations.domain_events import Broker, BrokerError
from app.integrations.errors import NDeliusError
from app.models import CrnMerge, InboundEvent, Referral, Region
from app.models.base import utcnow
from app.services import audit, case_data
from app.services.errors import ServiceError

log = logging.getLogger(__name__)
CREATED = "interventions.community-referral.created"
IMPORTED = "interventions.community-referral.imported"
MERGED = "probation-case.merge.completed"
COHORTS = {"GENERAL_OFFENCE": "general", "SEXUAL_OFFENCE": "sexual"}
SEXES = {"male": "male", "m": "male", "female": "female", "f": "female"}


class Poison(Exception):
    """This message can never be processed as it is."""


class TryLater(Exception):
    """Something we depend on could not answer now."""


@dataclass(frozen=True)
class Outcome:
    """What the listener must do with the message: ``delete`` it (processed, ignored, a replay), ``retry`` it
    later, or ``dead_letter`` it."""

    action: str
    status: str
    detail: str | None = None
    referral_id: int | None = None
    case_unchecked: bool = False


def handle(message_id: str, body: str, receive_count: int) -> Outcome:
    """Process one message (one transaction); the caller then deletes, retries or dead-letters it."""
    max_receives = current_app.config["DOMAIN_EVENTS_MAX_RECEIVES"]
    try:
        envelope = json.loads(body)
        message = json.loads(envelope["Message"]) if isinstance(envelope.get("Message"), str) else envelope
        key = str(envelope.get("MessageId") or message_id)
        event_type = message.get("eventType") if isinstance(message, dict) else None
    except (ValueError, TypeError, AttributeError, KeyError):
        return _record_poison(message_id, None, body, "The message is not an HMPPS domain event (not JSON)")

    row = db.session.scalar(select(InboundEvent).where(InboundEvent.message_id == key))
    if row is not None and row.status in ("processed", "ignored", "dismissed"):
        db.session.rollback()
        return Outcome("delete", "duplicate", "already processed", row.referral_id)
    if row is not None and row.status == "dead":
        db.session.rollback()
        return Outcome("dead_letter", "dead", row.error)
    if row is None:
        row = InboundEvent(message_id=key, event_type=str(event_type)[:100] if event_type else None, body=body)
        db.session.add(row)
        try:
            db.session.flush()
        except IntegrityError:  # another listener took the same message a moment ago
            db.session.rollback()
            return Outcome("retry", "busy", "being processed by another listener")
    row.attempts += 1
    try:
        if event_type in (CREATED, IMPORTED):
            referral, unchecked = _referral_event(message)
            row.status, row.referral_id, row.error = "processed", referral.id, None
            outcome = Outcome("delete", "processed", None, referral.id, unchecked)
        elif event_type == MERGED:
            moved = _merge_event(message)
            row.status, row.error = "processed", None
            outcome = Outcome("delete", "processed", f"{moved} referral(s) moved")
        else:
            row.status = "ignored"
            outcome = Outcome("delete", "ignored", f"not an event we consume: {event_type!r}")
    except Poison as exc:
        db.session.rollback()
        return _record_poison(key, event_type, body, str(exc))
    except TryLater as exc:
        db.session.rollback()
        dead = receive_count >= max_receives
        reason = f"gave up after {receive_count} attempts: {exc}" if dead else str(exc)
        _record_failure(key, event_type, body, reason, dead=dead)
        if dead:
            return Outcome("dead_letter", "dead", reason)
        return Outcome("retry", "retrying", str(exc))
    row.processed_at = utcnow()
    db.session.commit()
    return outcome


def _record_poison(key: str, event_type: Any, body: str, reason: str) -> Outcome:
    _record_failure(key, event_type, body, reason, dead=True)
    return Outcome("dead_letter", "dead", reason)


def _record_failure(key: str, event_type: Any, body: str, reason: str, *, dead: bool) -> None:
    row = db.session.scalar(select(InboundEvent).where(InboundEvent.message_id == key))
    if row is None:
        row = InboundEvent(message_id=key, event_type=str(event_type)[:100] if event_type else None, body=body)
        db.session.add(row)
    row.attempts = (row.attempts or 0) + 1
    row.status, row.error = ("dead" if dead else "retrying"), reason[:2000]
    log.warning("domain event %s %s: %s", key, "dead-lettered" if dead else "will be retried", reason)
    db.session.commit()


# --- referral created / imported ------------------------------------------------------------------------------


def _referral_event(message: dict[str, Any]) -> tuple[Referral, bool]:
    detail_url = message.get("detailUrl")
    if not isinstance(detail_url, str) or not detail_url.startswith(("http://", "https://")):
        raise Poison("The event has no detailUrl to read the referral from")
    details = _fetch_details(detail_url)
    referral_id = str(details.get("referralId") or "")
    if not referral_id or len(referral_id) > 36:
        raise Poison("The referral's details have no referralId")
    existing = db.session.scalar(select(Referral).where(Referral.source_referral_id == referral_id))
    if existing is not None:
        return existing, False  # the same referral announced again (created after imported, a replay...)

    crn = _surviving_crn(_crn(details, message))
    person = details.get("person") or {}
    kind = details.get("sourcedFromReferenceType")
    try:
        component = int(str(details.get("sourcedFromReference")))
    except ValueError:
        raise Poison("The referral does not say which requirement or licence condition it is for") from None
    if kind not in ("REQUIREMENT", "LICENCE_CONDITION"):
        raise Poison(f"Unknown sourcedFromReferenceType {kind!r}")
    cohort = COHORTS.get(str(details.get("cohort")))
    sex = SEXES.get(str(person.get("sex", "")).lower())
    if cohort is None or sex is None:
        raise Poison("The referral's cohort or sex is missing or not one we know")

    referral = Referral(
        crn=crn, source_referral_id=referral_id,
        person_name=" ".join(p for p in (person.get("forename"), person.get("surname")) if p)[:200] or crn,
        date_of_birth=_date(person.get("dateOfBirth")), sex=sex, cohort=cohort,
        learning_disability=bool(details.get("hasLdc")),
        requirement_id=component if kind == "REQUIREMENT" else None,
        licence_condition_id=component if kind == "LICENCE_CONDITION" else None,
        sentence_end_date=_date(details.get("sentenceEndDate")), event_number=_int(details.get("eventNumber")),
        status="Awaiting allocation",
    )
    case, error = case_data.check_case(referral)
    region_code = (case.region_code if case and case.region_code else None) or details.get("regionCode")
    region = db.session.scalar(select(Region).where(Region.code == str(region_code))) if region_code else None
    if region is None:
        if case is None and not details.get("regionCode"):
            raise TryLater(f"the person's region is not known yet ({error})")
        raise Poison(f"No region with code {region_code!r} in this service")
    referral.region = region
    db.session.add(referral)
    try:
        db.session.flush()
    except IntegrityError:  # the other event for this referral was processed at the same moment
        db.session.rollback()
        raise TryLater("the same referral is being recorded by another listener") from None
    case_data.record_referral(referral)
    if case is not None:
        case_data.apply_case(referral, case)
    else:
        referral.case_check_error = error
    audit.record(None, "referral.received", referral, after={
        "crn": referral.crn, "source_referral_id": referral_id, "event": message.get("eventType"),
        "nDelius": "checked" if case is not None else error})
    return referral, case is None


def _fetch_details(url: str) -> dict[str, Any]:
    from app.integrations.probation_cases import cases_client

    config = current_app.config
    client = cases_client(config)  # the same HMPPS Auth client-credentials token
    try:
        token = client._bearer()
    except NDeliusError as exc:
        raise TryLater(f"no token from HMPPS Auth ({exc})") from exc
    finally:
        client.close()
    try:
        response = requests.get(url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                                timeout=(3.05, config["REFERRAL_SOURCE_TIMEOUT"]))
    except requests.RequestException as exc:
        raise TryLater(f"the referral's details could not be read ({type(exc).__name__})") from exc
    if response.status_code in (408, 429) or response.status_code >= 500:
        raise TryLater(f"the referral source answered {response.status_code}")
    if response.status_code == 404:
        raise Poison("The referral source has no referral at the event's detailUrl (404)")
    if response.status_code != 200:
        raise Poison(f"The referral source refused the request ({response.status_code})")
    try:
        details = response.json()
    except ValueError:
        raise Poison("The referral's details are not JSON") from None
    if not isinstance(details, dict):
        raise Poison("The referral's details are not an object")
    return details


def _crn(details: dict[str, Any], message: dict[str, Any]) -> str:
    crn = details.get("personReference") if details.get("personReferenceType", "CRN") == "CRN" else None
    if not crn:
        identifiers = (message.get("personReference") or {}).get("identifiers") or []
        crn = next((i.get("value") for i in identifiers if isinstance(i, dict) and i.get("type") == "CRN"), None)
    if not isinstance(crn, str) or not (1 <= len(crn) <= 10):
        raise Poison("The referral has no CRN")
    return crn.upper()


def _surviving_crn(crn: str) -> str:
    seen = {crn}
    while (merged := db.session.scalar(select(CrnMerge.target_crn).where(CrnMerge.source_crn == crn))):
        if merged in seen:
            break
        seen.add(merged)
        crn = merged
    return crn


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    return int(value) if str(value or "").isdigit() else None


# --- merge --------------------------------------------------------------------------------------------------


def _merge_event(message: dict[str, Any]) -> int:
    extra = message.get("additionalInformation") or {}
    source, target = extra.get("sourceCRN"), extra.get("targetCRN")
    if not (isinstance(source, str) and isinstance(target, str) and source and target) or source == target:
        raise Poison("A merge event needs additionalInformation.sourceCRN and targetCRN")
    source, target = source.upper()[:10], target.upper()[:10]
    merge = db.session.scalar(select(CrnMerge).where(CrnMerge.source_crn == source))
    if merge is None:
        db.session.add(CrnMerge(source_crn=source, target_crn=target))
    else:
        merge.target_crn = target
    moving = list(db.session.scalars(select(Referral).where(Referral.crn == source)))
    for referral in moving:
        audit.record(None, "referral.crn_merged", referral, before={"crn": source}, after={"crn": target})
    db.session.execute(update(Referral).where(Referral.crn == source).values(crn=target)
                       .execution_options(synchronize_session=False))
    return len(moving)


# --- admins: dead letters -------------------------------------------------------------------------------------


def dead_letters(limit: int = 100) -> list[InboundEvent]:
    return list(db.session.scalars(select(InboundEvent).where(InboundEvent.status.in_(("dead", "retrying")))
                                   .order_by(InboundEvent.received_at.desc()).limit(limit)))


def inbound_event(event_id: int) -> InboundEvent | None:
    return db.session.get(InboundEvent, event_id)


class NotDeadLetter(ServiceError):
    """The message is no longer a dead letter (retried or dismissed meanwhile): nothing is sent."""

    def __init__(self) -> None:
        super().__init__("That message is not a dead letter any more.")


def prepare_retry(row: InboundEvent) -> str:
    """An admin sends a dead letter again: it may be processed once more. The body to put back on the queue."""
    row.status, row.attempts, row.error = "retrying", 0, None
    db.session.commit()
    return row.body


def send_again(row: InboundEvent, broker: Broker) -> None:
    """An admin's retry of a dead letter: put back on our queue for the listener. A message that is not a dead
    letter any more is refused (NotDeadLetter); one the broker does not take stays a dead letter (the
    BrokerError is raised)."""
    if row.status != "dead":
        raise NotDeadLetter()
    body = prepare_retry(row)
    try:
        broker.requeue(body)
    except BrokerError:
        row.status = "dead"
        db.session.commit()
        raise


def dismiss(actor: Any, row: InboundEvent) -> None:
    row.status = "dismissed"
    audit.record(actor, "domain_event.dismissed", row, after={"message_id": row.message_id,
                                                              "event_type": row.event_type})
    db.session.commit()
