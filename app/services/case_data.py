"""Two sources of truth for a person (seed 004, SPEC §4): what the referral said and what nDelius says now.

Both are kept (``CaseFact``: value, source, time). nDelius is authoritative for every field here, so the
referral's working values (the columns pages and rules read) take nDelius's value as soon as it has one; until
then the referral's value is used and nothing waits. Every difference is a ``CaseDisagreement``, listed on the
person's page and the integration page until a person resolves it. A requirement or licence condition that
nDelius shows terminated (or refuses with "Invalid Requirement IDs") stops further appointments for the person.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.integrations.errors import NDeliusError, NotFoundError
from app.integrations.probation_cases import Case, Component, cases_client
from app.models import CaseDisagreement, CaseFact, Referral, User
from app.models.base import utcnow
from app.services import audit
from app.services.errors import ServiceError

log = logging.getLogger(__name__)


class Field(Enum):
    """The facts kept from both sources, with the words pages use."""

    NAME = ("name", "Name")
    DATE_OF_BIRTH = ("date_of_birth", "Date of birth")
    SEX = ("sex", "Sex")
    COMPONENT = ("component", "Requirement or licence condition")
    SENTENCE_END = ("sentence_end_date", "Sentence end date")

    def __init__(self, key: str, label: str) -> None:
        self.key, self.label = key, label

    @classmethod
    def of(cls, key: str) -> Field:
        return next(f for f in cls if f.key == key)


SOURCE_LABELS = {"referral": "Referral", "ndelius": "nDelius"}
REFUSED_REASON = ("nDelius refused an appointment because it no longer accepts this person's requirement or "
                  "licence condition (\"Invalid Requirement IDs\"): it may have been terminated. No further "
                  "appointments can be made for them until it is put right in nDelius")
TERMINATED_REASON = ("nDelius shows this person's {what} as ended{when}: no further appointments can be made "
                     "for them until it is replaced in nDelius")


@dataclass
class RefreshResult:
    referral_id: int
    checked: bool
    error: str | None = None
    disagreements: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"referral_id": self.referral_id, "checked": self.checked, "error": self.error,
                "disagreements": self.disagreements}


def component_text(referral: Referral) -> str:
    if referral.licence_condition_id is not None:
        return f"Licence condition {referral.licence_condition_id}"
    return f"Requirement {referral.requirement_id}"


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    return value.isoformat() if isinstance(value, date) else str(value)


def record_referral(referral: Referral, *, at: datetime | None = None) -> None:
    """Keep what the referral said (call once, when it arrives)."""
    at = at or utcnow()
    values = {Field.NAME: referral.person_name, Field.DATE_OF_BIRTH: referral.date_of_birth,
              Field.SEX: referral.sex, Field.COMPONENT: component_text(referral),
              Field.SENTENCE_END: referral.sentence_end_date}
    for field_, value in values.items():
        _put_fact(referral, field_, "referral", _text(value), at)


def _put_fact(referral: Referral, field_: Field, source: str, value: str | None, at: datetime) -> None:
    fact = db.session.scalar(select(CaseFact).where(CaseFact.referral_id == referral.id,
                                                    CaseFact.field == field_.key, CaseFact.source == source))
    if fact is None:
        db.session.add(CaseFact(referral_id=referral.id, field=field_.key, source=source, value=value,
                                observed_at=at))
    else:
        fact.value, fact.observed_at = value, at


def apply_case(referral: Referral, case: Case, *, at: datetime | None = None) -> int:
    """Keep what nDelius says now, let it win, and open a disagreement for every difference with the
    referral (closing ones nDelius has since come round to). How many are open now."""
    at = at or utcnow()
    component = _component(referral, case)
    ndelius: dict[Field, object] = {Field.NAME: case.name or None, Field.DATE_OF_BIRTH: case.date_of_birth,
                                    Field.SEX: case.sex}
    if component is not None:
        ndelius[Field.COMPONENT] = component_text(referral)
        ndelius[Field.SENTENCE_END] = component.sentence_end_date
    else:
        ndelius[Field.COMPONENT] = "Not found in nDelius"
    for field_, value in ndelius.items():
        _put_fact(referral, field_, "ndelius", _text(value), at)
    # nDelius wins where it has a value.
    if case.name:
        referral.person_name = case.name[:200]
    if case.date_of_birth:
        referral.date_of_birth = case.date_of_birth
    if case.sex:
        referral.sex = case.sex
    if component is not None and component.sentence_end_date:
        referral.sentence_end_date = component.sentence_end_date
    if component is not None and component.terminated_on is not None:
        mark_terminated(referral, TERMINATED_REASON.format(
            what=component_text(referral).lower(), when=f" on {component.terminated_on:%-d %B %Y}"))
    referral.case_checked_at, referral.case_check_error = at, None
    db.session.flush()
    return _compare(referral, at)


def _component(referral: Referral, case: Case) -> Component | None:
    if referral.licence_condition_id is not None:
        return next((c for c in case.licence_conditions if c.id == referral.licence_condition_id), None)
    return next((c for c in case.requirements if c.id == referral.requirement_id), None)


def _compare(referral: Referral, at: datetime) -> int:
    facts = {(f.field, f.source): f for f in db.session.scalars(
        select(CaseFact).where(CaseFact.referral_id == referral.id))}
    open_ = {d.field: d for d in db.session.scalars(select(CaseDisagreement).where(
        CaseDisagreement.referral_id == referral.id, CaseDisagreement.resolved_at.is_(None)))}
    count = 0
    for field_ in Field:
        ours, theirs = facts.get((field_.key, "referral")), facts.get((field_.key, "ndelius"))
        if ours is None or theirs is None:
            continue
        differs = _normal(ours.value) != _normal(theirs.value)
        current = open_.get(field_.key)
        if differs and current is None:
            already = db.session.scalar(select(CaseDisagreement).where(
                CaseDisagreement.referral_id == referral.id, CaseDisagreement.field == field_.key,
                CaseDisagreement.referral_value == ours.value, CaseDisagreement.ndelius_value == theirs.value,
                CaseDisagreement.resolved_at.is_not(None)).limit(1))
            if already is not None:
                continue  # a person already resolved exactly this difference
            db.session.add(CaseDisagreement(
                referral_id=referral.id, region_id=referral.region_id, field=field_.key,
                referral_value=ours.value, referral_at=ours.observed_at, ndelius_value=theirs.value,
                ndelius_at=theirs.observed_at, found_at=at))
            count += 1
        elif differs and current is not None:
            current.ndelius_value, current.ndelius_at = theirs.value, theirs.observed_at
            count += 1
        elif not differs and current is not None:
            current.resolved_at, current.resolution = at, "nDelius now agrees with the referral"
    return count


def _normal(value: str | None) -> str:
    return " ".join((value or "").lower().split())


def mark_terminated(referral: Referral, reason: str) -> None:
    """nDelius no longer accepts the requirement: say so on the person and stop further appointments."""
    if referral.requirement_terminated_at is None:
        referral.requirement_terminated_at = utcnow()
        referral.requirement_terminated_reason = reason
        audit.record(None, "referral.requirement_terminated", referral, after={"reason": reason})


def appointments_stopped(referral: Referral) -> str | None:
    """Why no further appointments may be made for this person (None: they may)."""
    return referral.requirement_terminated_reason if referral.requirement_terminated_at else None


def check_case(referral: Referral) -> tuple[Case | None, str | None]:
    """Ask nDelius for the case; (case, None), or (None, why not) - never raises for nDelius being down."""
    client = cases_client(current_app.config)
    try:
        return client.case(referral.crn), None
    except NotFoundError:
        return None, f"nDelius has no case with CRN {referral.crn}"
    except NDeliusError as exc:
        return None, f"nDelius could not be asked ({exc})"
    finally:
        client.close()


def refresh(referral_id: int) -> RefreshResult:
    """Ask nDelius again for one person's case and apply it (one transaction)."""
    referral = db.session.get(Referral, referral_id)
    if referral is None:
        return RefreshResult(referral_id, False, "no such referral")
    case, error = check_case(referral)
    if case is None:
        referral.case_check_error = error
        db.session.commit()
        return RefreshResult(referral_id, False, error)
    count = apply_case(referral, case)
    db.session.commit()
    return RefreshResult(referral_id, True, None, count)


def facts_for(referral: Referral) -> list[tuple[Field, CaseFact | None, CaseFact | None]]:
    """Each field with what the referral said and what nDelius says (for the person's page)."""
    facts = {(f.field, f.source): f for f in db.session.scalars(
        select(CaseFact).where(CaseFact.referral_id == referral.id))}
    return [(f, facts.get((f.key, "referral")), facts.get((f.key, "ndelius"))) for f in Field]


def open_disagreements(*, referral_id: int | None = None, region_id: int | None = None,
                       limit: int = 200) -> list[CaseDisagreement]:
    query = select(CaseDisagreement).where(CaseDisagreement.resolved_at.is_(None))
    if referral_id is not None:
        query = query.where(CaseDisagreement.referral_id == referral_id)
    if region_id is not None:
        query = query.where(CaseDisagreement.region_id == region_id)
    return list(db.session.scalars(query.order_by(CaseDisagreement.found_at, CaseDisagreement.id).limit(limit)))


def disagreement_of(referral: Referral, disagreement_id: int) -> CaseDisagreement | None:
    return db.session.scalar(select(CaseDisagreement).where(
        CaseDisagreement.id == disagreement_id, CaseDisagreement.referral_id == referral.id))


def resolve(actor: User, disagreement: CaseDisagreement, note: str) -> None:
    """A person has looked at the difference (nDelius's value stands; the note says what they did)."""
    note = (note or "").strip()
    if not note:
        raise ServiceError("Say what you have done about it, for example \"asked for nDelius to be corrected\"",
                           "note")
    if len(note) > 500:
        raise ServiceError("The note must be 500 characters or fewer", "note")
    if disagreement.resolved_at is not None:
        raise ServiceError("Someone has already resolved this")
    disagreement.resolved_at, disagreement.resolved_by_id, disagreement.resolution = utcnow(), actor.id, note
    audit.record(actor, "case.disagreement_resolved", disagreement.referral, after={
        "field": disagreement.field, "referral": disagreement.referral_value,
        "ndelius": disagreement.ndelius_value, "note": note})
    db.session.commit()
