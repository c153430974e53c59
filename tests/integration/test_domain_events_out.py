"""Status out (issue 14.2): every referral status change is published as an HMPPS domain event through the
transactional outbox, to a real SNS/SQS server; programme completion once; nothing lost while the broker is
down; the detailUrls answer only to a client token with the right role."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import DomainEventOutbox, Referral, ReferralStatusChange, Session
from app.services import attendance, events_publish, membership
from app.services.events_out import PROGRAMME_COMPLETE, STATUS_UPDATED
from tests.events_fixtures import OTHER_CLIENT, client_token


@pytest.fixture
def setting(world):  # type: ignore[no-untyped-def]
    region = world.region()
    manager = world.user(region, "treatment_manager", "tm")
    alex = world.referral(region, "Alex Able", crn="X100001")
    group = world.started(world.group(manager, "BC1", members=(alex,)), manager)
    sessions = list(db.session.scalars(select(Session).where(Session.group_id == group.id)
                                       .order_by(Session.starts_at)))
    return {"region": region, "manager": manager, "group": group, "alex": alex, "sessions": sessions}


def _record(manager, session, referral, outcome):  # type: ignore[no-untyped-def]
    attendee = next(a for a in session.attendees if a.referral_id == referral.id)
    current = attendee.attendance
    attendance.record(manager, attendee, outcome=outcome, seen_version=current.version if current else None)
    db.session.commit()


def test_a_status_change_is_published_in_the_hmpps_shape_with_a_detail_url_we_serve(app, world, sns_sqs):  # type: ignore[no-untyped-def]
    region = world.region()
    manager = world.user(region, "treatment_manager", "tm")
    group = world.group(manager, "BC1")
    person = world.referral(region, "Sam Smith", crn="X200002")
    membership.allocate(manager, group, person)
    assert db.session.scalar(select(func.count(DomainEventOutbox.id))) == 1  # written with the allocation

    result = events_publish.drain()
    assert (result.sent, result.broker_down) == (1, False)
    [event] = sns_sqs.published()
    assert event["eventType"] == STATUS_UPDATED and event["version"] == 1
    assert event["_attributes"] == {"eventType": STATUS_UPDATED}  # what HMPPS subscriptions filter on
    assert event["personReference"] == {"identifiers": [{"type": "CRN", "value": "X200002"}]}
    assert event["additionalInformation"]["newStatus"] == "SCHEDULED"
    assert datetime.fromisoformat(event["occurredAt"]).tzinfo is not None
    path = event["detailUrl"].removeprefix(app.config["API_BASE_URL"])

    client = app.test_client()
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer nonsense"}).status_code == 401
    assert client.get(path, headers={"Authorization": f"Bearer {client_token(app, OTHER_CLIENT)}"}).status_code == 403
    answer = client.get(path, headers={"Authorization": f"Bearer {client_token(app)}"})
    assert answer.status_code == 200
    assert answer.get_json() == {
        "newStatus": "SCHEDULED", "sourcedFromEntityType": "REQUIREMENT",
        "sourcedFromEntityId": person.requirement_id, "notes": None,
        "description": "Status changed from Awaiting allocation to Scheduled",
    }
    assert events_publish.drain().sent == 0  # published once


def test_recording_the_last_attended_session_publishes_programme_complete_once(app, setting, sns_sqs):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2027, 3, 1, 9))
    manager, alex, sessions = setting["manager"], setting["alex"], setting["sessions"]
    for session in sessions:
        _record(manager, session, alex, "ATTC")
    assert db.session.get(Referral, alex.id).status == "Programme complete"
    events_publish.drain()
    published = sns_sqs.published()
    assert [(e["eventType"], e["additionalInformation"].get("newStatus")) for e in published] == [
        (STATUS_UPDATED, "SCHEDULED"), (STATUS_UPDATED, "ON_PROGRAMME"), (STATUS_UPDATED, "PROGRAMME_COMPLETE"),
        (PROGRAMME_COMPLETE, None)]

    # A correction and the same session recorded again: the status moves twice more, completion is not
    # announced a second time.
    _record(manager, sessions[-1], alex, "UAAB")
    _record(manager, sessions[-1], alex, "ATTC")
    events_publish.drain()
    published = sns_sqs.published()
    assert [(e["eventType"], e["additionalInformation"].get("newStatus")) for e in published] == [
        (STATUS_UPDATED, "ON_PROGRAMME"), (STATUS_UPDATED, "PROGRAMME_COMPLETE")]
    assert db.session.scalar(select(func.count(DomainEventOutbox.id)).where(
        DomainEventOutbox.event_type == PROGRAMME_COMPLETE)) == 1

    row = db.session.scalar(select(DomainEventOutbox).where(DomainEventOutbox.event_type == PROGRAMME_COMPLETE))
    detail = app.test_client().get(f"/api/referral/{alex.id}/completion-data",
                                   headers={"Authorization": f"Bearer {client_token(app)}"})
    last = sessions[-1].starts_at.replace(tzinfo=clock.LONDON).astimezone(UTC)
    assert detail.get_json() == {"licReqId": alex.requirement_id, "sourcedFromEntityType": "REQUIREMENT",
                                 "licReqCompletedAt": last.strftime("%Y-%m-%dT%H:%M:%S.000Z")}
    assert row.status == "sent" and row.message_id


def test_nothing_is_lost_while_the_broker_is_down_and_order_is_kept(app, world, sns_sqs):  # type: ignore[no-untyped-def]
    region = world.region()
    manager = world.user(region, "treatment_manager", "tm")
    group = world.group(manager, "BC1")
    people = [world.referral(region, f"Person {n}", crn=f"X30000{n}") for n in range(3)]
    working = app.config["AWS_ENDPOINT_URL"]
    app.config["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"  # nothing listens there
    for person in people:
        membership.allocate(manager, group, person)
    down = events_publish.drain()
    assert (down.sent, down.broker_down, down.retrying) == (0, True, 3)
    rows = list(db.session.scalars(select(DomainEventOutbox).order_by(DomainEventOutbox.id)))
    assert [r.status for r in rows] == ["pending"] * 3
    assert "cannot be reached" in rows[0].last_error
    assert rows[0].next_attempt_at >= rows[0].occurred_at

    app.config["AWS_ENDPOINT_URL"] = working
    db.session.execute(DomainEventOutbox.__table__.update().values(next_attempt_at=rows[0].occurred_at))
    db.session.commit()
    assert events_publish.drain().sent == 3
    assert [e["personReference"]["identifiers"][0]["value"] for e in sns_sqs.published()] == [
        "X300000", "X300001", "X300002"]


def test_a_change_that_is_rolled_back_leaves_neither_history_nor_event(app, world, sns_sqs):  # type: ignore[no-untyped-def]
    region = world.region()
    person = world.referral(region, "Pat Doe")
    person.status = "Deferred"
    db.session.flush()
    db.session.rollback()
    assert db.session.scalar(select(func.count(DomainEventOutbox.id))) == 0
    assert db.session.get(Referral, person.id).status == "Awaiting allocation"
    # Only the creation is in the history.
    assert [c.to_status for c in db.session.scalars(select(ReferralStatusChange))] == ["Awaiting allocation"]


def test_the_scheduler_queues_the_publisher_only_when_events_are_due(app, redis, world, sns_sqs):  # type: ignore[no-untyped-def]
    from jobs import events
    from jobs.enqueue import queue

    assert events.queue_publish_if_due() is False
    region = world.region()
    person = world.referral(region, "Pat Doe")
    person.status = "Deferred"
    db.session.commit()
    assert events.queue_publish_if_due() is True
    assert queue().job_ids == ["domain-events-publish"]
