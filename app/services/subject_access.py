"""Subject access requests (issue 15.7): everything Programme Delivery holds about a person, found by CRN, as the
HMPPS subject access request service asks every service for it (`GET /subject-access-request`, app/web/sar).

Dated records are kept when they fall within fromDate..toDate (Europe/London days, both ends included; either end
may be open); None when nothing is held in that range (the endpoint answers 204). Other people's details are left
out: a non-association says only why and when it was recorded, not who the other person is."""
from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import joinedload

from app import clock
from app.extensions import db
from app.models import (
    Attendance,
    AttendanceHistory,
    Attendee,
    AuditEvent,
    CaseFact,
    ExcludedLocation,
    Membership,
    NonAssociation,
    Referral,
    ReferralStatusChange,
    Session,
    SessionTemplate,
    Unavailability,
)
from app.models.group import DAY_NAMES
from app.models.session import OUTCOMES


class Window:
    """fromDate..toDate as a test for instants (UTC) and local wall-clock datetimes or dates."""

    def __init__(self, from_date: date | None, to_date: date | None) -> None:
        self.from_date, self.to_date = from_date, to_date

    def _day(self, value: date | datetime | None) -> date | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                return value.astimezone(clock.LONDON).date()
            return value.date()
        return value

    def holds(self, value: date | datetime | None) -> bool:
        day = self._day(value)
        if day is None:
            return self.from_date is None and self.to_date is None
        return (self.from_date is None or day >= self.from_date) and (self.to_date is None or day <= self.to_date)

    def overlaps(self, start: date | datetime | None, end: date | datetime | None) -> bool:
        first, last = self._day(start), self._day(end)
        if self.to_date is not None and first is not None and first > self.to_date:
            return False
        return not (self.from_date is not None and last is not None and last < self.from_date)


def _at(value: datetime | None) -> str | None:
    """A UTC instant as ISO-8601 with its offset; a wall-clock datetime as local ISO-8601."""
    if value is None:
        return None
    return value.isoformat(timespec="seconds")


def _hhmm(value: time | None) -> str | None:
    return f"{value:%H:%M}" if value else None


def content_for(crn: str, from_date: date | None, to_date: date | None) -> dict[str, Any] | None:
    window = Window(from_date, to_date)
    referrals = list(db.session.scalars(select(Referral).where(func.upper(Referral.crn) == crn.strip().upper())
                                        .options(joinedload(Referral.region)).order_by(Referral.created_at,
                                                                                          Referral.id)))
    found = [entry for entry in (_referral(r, window) for r in referrals) if entry is not None]
    if not found:
        return None
    return {"crn": crn.strip().upper(), "referrals": found}


def _referral(referral: Referral, window: Window) -> dict[str, Any] | None:
    rid = referral.id
    status_history = [
        {"fromStatus": c.from_status, "toStatus": c.to_status, "changedAt": _at(c.changed_at), "notes": c.notes}
        for c in db.session.scalars(select(ReferralStatusChange).where(ReferralStatusChange.referral_id == rid)
                                    .order_by(ReferralStatusChange.changed_at, ReferralStatusChange.id))
        if window.holds(c.changed_at)]
    memberships = list(db.session.scalars(select(Membership).where(Membership.referral_id == rid)
                                          .options(joinedload(Membership.group))
                                          .order_by(Membership.joined_at, Membership.id)))
    groups = [
        {"groupCode": m.group.code, "deliveryLocation": m.group.delivery_location, "joinedAt": _at(m.joined_at),
         "leftAt": _at(m.left_at), "leftReason": m.left_reason, "statusOnLeaving": m.left_status,
         "restartedProgramme": bool(m.restarts_programme)}
        for m in memberships if window.overlaps(m.joined_at, m.left_at)]
    sessions = _sessions(rid, window)
    facts = [
        {"detail": f.field, "source": f.source, "value": f.value, "observedAt": _at(f.observed_at)}
        for f in db.session.scalars(select(CaseFact).where(CaseFact.referral_id == rid)
                                    .order_by(CaseFact.observed_at, CaseFact.id))
        if window.holds(f.observed_at)]
    needs = _needs(rid, window)
    audit = _audit(rid, [m.id for m in memberships], window)
    referral_in_range = window.holds(referral.created_at)
    if not (referral_in_range or status_history or groups or sessions or facts or any(needs.values()) or audit):
        return None
    return {
        "crn": referral.crn,
        "name": referral.person_name,
        "dateOfBirth": referral.date_of_birth.isoformat() if referral.date_of_birth else None,
        "sex": referral.sex,
        "cohort": referral.cohort,
        "learningDisabilitiesAndChallenges": bool(referral.learning_disability),
        "requirementId": referral.requirement_id,
        "licenceConditionId": referral.licence_condition_id,
        "eventNumber": referral.event_number,
        "sentenceEndDate": referral.sentence_end_date.isoformat() if referral.sentence_end_date else None,
        "status": referral.status,
        "region": referral.region.name,
        "referredAt": _at(referral.created_at),
        "noFurtherAppointments": referral.requirement_terminated_reason,
        "caseDetails": facts,
        "statusHistory": status_history,
        "groups": groups,
        "sessions": sessions,
        "whatTheyCannotDo": needs,
        "auditTrail": audit,
    }


def _sessions(referral_id: int, window: Window) -> list[dict[str, Any]]:
    rows = db.session.execute(
        select(Attendee, Session, SessionTemplate).join(Session, Session.id == Attendee.session_id)
        .join(SessionTemplate, SessionTemplate.id == Session.session_template_id)
        .where(Attendee.referral_id == referral_id)
        .options(joinedload(Session.group), joinedload(SessionTemplate.module))
        .order_by(Session.starts_at, Attendee.id)
    ).unique().all()
    attendee_ids = [a.id for a, _, _ in rows]
    current = {a.attendee_id: a for a in db.session.scalars(
        select(Attendance).where(Attendance.attendee_id.in_(attendee_ids or [0])))}
    history: dict[int, list[AttendanceHistory]] = {}
    for h in db.session.scalars(select(AttendanceHistory).where(AttendanceHistory.attendee_id.in_(attendee_ids or [0]))
                                .options(joinedload(AttendanceHistory.recorded_by))
                                .order_by(AttendanceHistory.version)):
        history.setdefault(h.attendee_id, []).append(h)
    found = []
    for attendee, session, template in rows:
        if not window.holds(session.starts_at):
            continue
        record = current.get(attendee.id)
        found.append({
            "group": session.group.code,
            "session": f"{template.module.module_number}.{template.session_number} {template.name}",
            "kind": session.kind,
            "startsAt": _at(session.starts_at),
            "endsAt": _at(session.ends_at),
            "location": session.location or session.group.delivery_location,
            "cancelled": session.status == "cancelled",
            "noLongerExpected": attendee.removed_at is not None,
            "outcome": ({"code": record.outcome, "description": OUTCOMES.get(record.outcome)}
                        if record and record.outcome else None),
            "didNotEngage": bool(record.did_not_engage) if record else False,
            "arrivedAt": _hhmm(record.arrived_at) if record else None,
            "leftAt": _hhmm(record.departed_at) if record else None,
            "notes": record.notes if record else None,
            "recordHistory": [
                {"version": h.version, "outcome": h.outcome, "notes": h.notes, "recordedAt": _at(h.recorded_at),
                 "recordedBy": h.recorded_by.name if h.recorded_by else None}
                for h in history.get(attendee.id, [])],
        })
    return found


def _needs(referral_id: int, window: Window) -> dict[str, list[dict[str, Any]]]:
    times = [
        {"day": DAY_NAMES[u.day_of_week], "from": _hhmm(u.start_time), "until": _hhmm(u.end_time),
         "reason": u.reason, "recordedAt": _at(u.created_at)}
        for u in db.session.scalars(select(Unavailability).where(Unavailability.referral_id == referral_id)
                                    .order_by(Unavailability.day_of_week, Unavailability.start_time))
        if window.holds(u.created_at)]
    places = [
        {"location": p.location, "reason": p.reason, "recordedAt": _at(p.created_at)}
        for p in db.session.scalars(select(ExcludedLocation).where(ExcludedLocation.referral_id == referral_id)
                                    .order_by(ExcludedLocation.location))
        if window.holds(p.created_at)]
    apart = [
        {"reason": n.reason, "recordedAt": _at(n.created_at)}
        for n in db.session.scalars(select(NonAssociation).where(or_(
            NonAssociation.referral_id == referral_id, NonAssociation.other_referral_id == referral_id))
            .order_by(NonAssociation.created_at, NonAssociation.id))
        if window.holds(n.created_at)]
    return {"timesTheyCannotAttend": times, "locationsTheyCannotAttend": places, "nonAssociations": apart}


def _audit(referral_id: int, membership_ids: list[int], window: Window) -> list[dict[str, Any]]:
    attendance_ids = select(Attendance.id).join(Attendee, Attendee.id == Attendance.attendee_id) \
        .where(Attendee.referral_id == referral_id)
    events = db.session.scalars(
        select(AuditEvent).where(or_(
            and_(AuditEvent.object_type == "referral", AuditEvent.object_id == referral_id),
            and_(AuditEvent.object_type == "membership", AuditEvent.object_id.in_(membership_ids or [0])),
            and_(AuditEvent.object_type == "attendance", AuditEvent.object_id.in_(attendance_ids))))
        .options(joinedload(AuditEvent.user)).order_by(AuditEvent.at, AuditEvent.id))
    found = []
    for event in events:
        if not window.holds(event.at):
            continue
        before, after = event.before, event.after
        if event.action.startswith("referral.non_association"):  # the other person is not theirs to see
            before = {"reason": before["reason"]} if before else None
            after = {"reason": after["reason"]} if after else None
        found.append({"at": _at(event.at), "action": event.action, "by": event.user.name if event.user else None,
                      "role": event.role, "before": before, "after": after})
    return found
