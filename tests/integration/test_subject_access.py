"""The HMPPS subject access request endpoint (issue 15.7) over the wire: our service on a real HTTP server, tokens
from the fake HMPPS Auth's client-credentials grant."""
from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
import requests
from sqlalchemy import select, update

from app import clock
from app.extensions import db
from app.models import (
    Attendance,
    AttendanceHistory,
    AuditEvent,
    CaseFact,
    Membership,
    ReferralStatusChange,
    Session,
    Unavailability,
)
from app.services import attendance, case_data, membership, needs
from tests.browser.live_server import live_server  # noqa: F401

MARCH_1 = datetime(2026, 3, 1, 10, tzinfo=UTC)


@pytest.fixture
def tokens(app):  # type: ignore[no-untyped-def]
    auth = app.config["HMPPS_AUTH_URL"]
    requests.post(auth + "/__clients", timeout=5, json={"clients": [
        {"client_id": "sar-service", "client_secret": "s", "grant_types": ["client_credentials"],
         "authorities": ["ROLE_SAR_DATA_ACCESS"]},
        {"client_id": "nosy", "client_secret": "s", "grant_types": ["client_credentials"],
         "authorities": ["ROLE_ACCREDITED_PROGRAMMES_COMMUNITY__EVENTS_RO"]}]}).raise_for_status()

    def token(client: str) -> str:
        answer = requests.post(auth + "/oauth/token", auth=(client, "s"), timeout=5,
                               data={"grant_type": "client_credentials"})
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    return {"sar": token("sar-service"), "other": token("nosy")}


@pytest.fixture
def person(world):  # type: ignore[no-untyped-def]
    """Alex: referred on 1 March, allocated, the group started on 23 March, the first session attended with notes,
    a time they cannot attend and a non-association with Casey. Every bookkeeping time is set to 1 March but the
    audit trail's (append-only: it keeps the real time it was written)."""
    clock.freeze(datetime(2026, 3, 1, 9))
    region = world.region()
    manager = world.user(region, "treatment_manager", "tm", name="Terry Manager")
    alex = world.referral(region, "Alex Able", crn="X500001")
    casey = world.referral(region, "Casey Cole", crn="X500002")
    case_data.record_referral(alex)
    db.session.commit()
    group = world.group(manager, "BC1")
    membership.allocate(manager, group, alex)
    world.started(group, manager)
    needs.add_unavailability(manager, alex, day_of_week=0, start=time(9), end=time(12), reason="Works mornings")
    needs.add_non_association(manager, alex, crn="X500002", reason="Co-defendants")
    clock.freeze(datetime(2026, 3, 23, 12))
    first = db.session.scalar(select(Session).where(Session.group_id == group.id).order_by(Session.starts_at))
    attendee = next(a for a in first.attendees if a.referral_id == alex.id)
    attendance.record(manager, attendee, outcome="ATTC", seen_version=None, notes="Engaged well")
    db.session.commit()
    for model, column in ((ReferralStatusChange, ReferralStatusChange.changed_at),
                          (CaseFact, CaseFact.observed_at), (Membership, Membership.joined_at),
                          (Unavailability, Unavailability.created_at)):
        db.session.execute(update(model).values({column.key: MARCH_1}))
    from app.models import NonAssociation, Referral

    db.session.execute(update(NonAssociation).values(created_at=MARCH_1))
    db.session.execute(update(Referral).values(created_at=MARCH_1))
    db.session.execute(update(Attendance).values(recorded_at=datetime(2026, 3, 23, 12, tzinfo=UTC)))
    db.session.execute(update(AttendanceHistory).values(recorded_at=datetime(2026, 3, 23, 12, tzinfo=UTC)))
    db.session.commit()
    return {"alex": alex.id, "casey": casey.id}


def _sar(server: str, token: str | None, **params: str):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(server + "/subject-access-request", params=params, headers=headers, timeout=10)


def test_tokens_are_checked(live_server, tokens):  # type: ignore[no-untyped-def]  # noqa: F811
    missing = _sar(live_server, None, crn="X500001")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    forged = _sar(live_server, tokens["sar"][:-4] + "AAAA", crn="X500001")
    assert forged.status_code == 401
    wrong_role = _sar(live_server, tokens["other"], crn="X500001")
    assert wrong_role.status_code == 403
    assert wrong_role.json() == {"status": 403, "userMessage": "The token has none of the roles this needs"}


@pytest.mark.parametrize(("params", "message"), [
    ({}, "One of prn or crn must be supplied."),
    ({"prn": " ", "crn": ""}, "One of prn or crn must be supplied."),
    ({"crn": "X500001", "fromDate": "01/03/2026"}, "fromDate must be a date in the form YYYY-MM-DD, not '01/03/2026'"),
    ({"crn": "X500001", "toDate": "2026-13-01"}, "toDate must be a date in the form YYYY-MM-DD, not '2026-13-01'"),
    ({"crn": "X500001", "fromDate": "2026-03-02", "toDate": "2026-03-01"}, "toDate cannot be before fromDate"),
])
def test_bad_parameters_are_400(live_server, tokens, params, message):  # type: ignore[no-untyped-def]  # noqa: F811
    answer = _sar(live_server, tokens["sar"], **params)
    assert answer.status_code == 400
    assert answer.json() == {"status": 400, "userMessage": message, "developerMessage": message}


def test_a_prison_number_alone_is_not_ours_209_and_an_unknown_crn_is_204(live_server, tokens, person):  # type: ignore[no-untyped-def]  # noqa: F811
    only_prn = _sar(live_server, tokens["sar"], prn="A1234BC")
    assert only_prn.status_code == 209 and only_prn.content == b""
    unknown = _sar(live_server, tokens["sar"], crn="X999999")
    assert unknown.status_code == 204 and unknown.content == b""


def test_everything_held_about_the_person(live_server, tokens, person):  # type: ignore[no-untyped-def]  # noqa: F811
    answer = _sar(live_server, tokens["sar"], crn="x500001", prn="A1234BC")
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    content = answer.json()["content"]
    assert content["crn"] == "X500001"
    [referral] = content["referrals"]
    assert {k: referral[k] for k in ("crn", "name", "sex", "cohort", "status", "region", "referredAt")} == {
        "crn": "X500001", "name": "Alex Able", "sex": "male", "cohort": "general", "status": "On programme",
        "region": "North West", "referredAt": "2026-03-01T10:00:00+00:00"}
    assert referral["groups"] == [{"groupCode": "BC1", "deliveryLocation": "Room 1",
                                   "joinedAt": "2026-03-01T10:00:00+00:00", "leftAt": None, "leftReason": None,
                                   "statusOnLeaving": None, "restartedProgramme": False}]
    assert len(referral["sessions"]) == 27  # every session of the programme they are expected at
    first = referral["sessions"][0]
    assert first["session"] == "1.1 Pre-group one-to-one" and first["startsAt"] == "2026-03-23T10:00:00"
    assert first["outcome"] == {"code": "ATTC", "description": "Attended"}
    assert first["notes"] == "Engaged well"
    assert first["recordHistory"] == [{"version": 1, "outcome": "ATTC", "notes": "Engaged well",
                                       "recordedAt": "2026-03-23T12:00:00+00:00", "recordedBy": "Terry Manager"}]
    assert referral["sessions"][1]["outcome"] is None
    assert [c["toStatus"] for c in referral["statusHistory"]] == ["Awaiting allocation", "Scheduled",
                                                                  "On programme"]
    assert referral["whatTheyCannotDo"] == {
        "timesTheyCannotAttend": [{"day": "Monday", "from": "09:00", "until": "12:00", "reason": "Works mornings",
                                   "recordedAt": "2026-03-01T10:00:00+00:00"}],
        "locationsTheyCannotAttend": [],
        "nonAssociations": [{"reason": "Co-defendants", "recordedAt": "2026-03-01T10:00:00+00:00"}]}
    actions = [e["action"] for e in referral["auditTrail"]]
    assert "membership.allocated" in actions and "attendance.recorded" in actions
    assert "referral.unavailability_added" in actions and "referral.non_association_added" in actions
    assert {e["by"] for e in referral["auditTrail"]} == {"Terry Manager"}
    # nothing about the other person of the non-association
    assert "X500002" not in answer.text and "Casey" not in answer.text


def _audit_days() -> set[date]:
    return {e.at.astimezone(clock.LONDON).date() for e in db.session.scalars(select(AuditEvent))}


def test_the_date_range_filters_dated_records(live_server, tokens, person):  # type: ignore[no-untyped-def]  # noqa: F811
    audit_days = _audit_days()
    later = _sar(live_server, tokens["sar"], crn="X500001", fromDate="2026-03-30", toDate="2026-04-30")
    assert later.status_code == 200
    [referral] = later.json()["content"]["referrals"]
    starts = [date.fromisoformat(s["startsAt"][:10]) for s in referral["sessions"]]
    assert starts and min(starts) >= date(2026, 3, 30) and max(starts) <= date(2026, 4, 30)
    assert referral["statusHistory"] == []
    in_range = any(date(2026, 3, 30) <= d <= date(2026, 4, 30) for d in audit_days)
    assert bool(referral["auditTrail"]) is in_range
    assert referral["groups"][0]["groupCode"] == "BC1"  # a membership still running in the range
    assert referral["whatTheyCannotDo"]["timesTheyCannotAttend"] == []
    day = _sar(live_server, tokens["sar"], crn="X500001", fromDate="2026-03-23", toDate="2026-03-23")
    [referral] = day.json()["content"]["referrals"]
    assert [s["session"] for s in referral["sessions"]] == ["1.1 Pre-group one-to-one"]
    audit_day = min(audit_days)
    on_audit_day = _sar(live_server, tokens["sar"], crn="X500001", fromDate=audit_day.isoformat(),
                        toDate=audit_day.isoformat()).json()["content"]["referrals"][0]["auditTrail"]
    assert "membership.allocated" in [e["action"] for e in on_audit_day]
    earliest = min(audit_day, date(2026, 3, 1))
    before = _sar(live_server, tokens["sar"], crn="X500001", toDate=date.fromordinal(earliest.toordinal() - 1)
                  .isoformat())
    assert before.status_code == 204
