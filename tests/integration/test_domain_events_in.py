"""Referrals in (issue 14.1): events on a real SNS/SQS server, read by the listener, make referrals on the
waiting list - once, whatever the replays and order; poison messages go to the dead-letter queue and are
listed; nDelius down never stops a referral; a merge moves a referral to the surviving CRN."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.integrations.domain_events import Broker
from app.models import CaseDisagreement, InboundEvent, Referral
from jobs import listener
from tests.fakes.referral_source import CREATED, IMPORTED, referral_details, referral_event


@pytest.fixture
def region(world):  # type: ignore[no-untyped-def]
    return world.region("NW", "North West")


@pytest.fixture
def env(app, sns_sqs, case_ndelius, referral_source, region):  # type: ignore[no-untyped-def]
    return {"broker": Broker.from_config(app.config), "topic": sns_sqs, "nd": case_ndelius,
            "source": referral_source}


def _case(details, **changes):  # type: ignore[no-untyped-def]
    person = details["person"]
    case = {"crn": details["personReference"], "forename": person["forename"], "surname": person["surname"],
            "dateOfBirth": person["dateOfBirth"], "sex": person["sex"][0], "region": details["regionCode"],
            "requirements": [{"id": int(details["sourcedFromReference"]), "eventNumber": 1,
                              "sentenceEndDate": details["sentenceEndDate"]}]}
    case.update(changes)
    return case


def _publish(env, details, event_type=CREATED):  # type: ignore[no-untyped-def]
    url = env["source"].add(details)
    return env["topic"].server.send_event(env["topic"].topic_arn, referral_event(
        url, details["personReference"], details["referralId"], event_type))


def _poll(app, env):  # type: ignore[no-untyped-def]
    db.session.commit()  # the listener has its own session (on SQLite ours would hold the write lock)
    outcomes = listener.poll_once(app, env["broker"], wait_seconds=1)
    db.session.expire_all()
    return outcomes


def test_a_referral_event_puts_the_person_on_the_waiting_list_with_both_sources_kept(app, env):  # type: ignore[no-untyped-def]
    details = referral_details(crn="E100001", forename="Casey", surname="Jones", date_of_birth="1990-05-17",
                               sentence_end_date="2028-01-31")
    env["nd"].cases.add(_case(details, dateOfBirth="1990-05-18"))  # nDelius has another date of birth
    _publish(env, details)
    assert _poll(app, env) == ["deleted"]
    referral = db.session.scalar(select(Referral).where(Referral.crn == "E100001"))
    assert (referral.person_name, referral.status, referral.region.code) == ("Casey Jones", "Awaiting allocation",
                                                                           "NW")
    assert referral.date_of_birth.isoformat() == "1990-05-18"  # nDelius wins
    assert referral.case_checked_at is not None
    [disagreement] = db.session.scalars(select(CaseDisagreement))
    assert (disagreement.field, disagreement.referral_value, disagreement.ndelius_value) == (
        "date_of_birth", "1990-05-17", "1990-05-18")
    assert env["nd"].cases.case_calls == ["E100001/personal-details", "E100001/requirements",
                                          "E100001/licence-conditions"]


def test_replays_and_a_created_after_imported_make_one_referral(app, env):  # type: ignore[no-untyped-def]
    details = referral_details(crn="E100002")
    env["nd"].cases.add(_case(details))
    url = env["source"].add(details)
    event = referral_event(url, "E100002", details["referralId"], IMPORTED)
    sns = env["topic"].server.client("sns")
    first = sns.publish(TopicArn=env["topic"].topic_arn, Message=json.dumps(event),
                        MessageAttributes={"eventType": {"DataType": "String", "StringValue": IMPORTED}})
    assert _poll(app, env) == ["deleted"]
    # The very same SNS message delivered again (at-least-once), then the created event, out of order.
    envelope = {"Type": "Notification", "MessageId": first["MessageId"], "Message": json.dumps(event)}
    env["topic"].server.client("sqs").send_message(QueueUrl=env["topic"].queue_url, MessageBody=json.dumps(envelope))
    _publish(env, details, CREATED)
    assert sorted(_poll(app, env) + _poll(app, env)) == ["deleted", "deleted"]
    assert db.session.scalar(select(func.count(Referral.id))) == 1
    statuses = sorted(r.status for r in db.session.scalars(select(InboundEvent)))
    assert statuses == ["processed", "processed"]  # two distinct messages; the replay was recognised


@pytest.mark.parametrize("poison, reason", [
    ("not json at all", "not an HMPPS domain event"),
    (json.dumps({"Type": "Notification", "MessageId": "m-1", "Message": json.dumps(
        {"eventType": CREATED, "version": 1})}), "no detailUrl"),
    ("unknown-referral", "no referral at the event's detailUrl"),
    ("garbage-detail", "not JSON"),
    ("unknown-region", "No region with code 'ZZ'"),
])
def test_poison_messages_go_to_the_dead_letter_queue_and_are_listed(app, env, poison, reason):  # type: ignore[no-untyped-def]
    sqs = env["topic"].server.client("sqs")
    if poison == "unknown-referral":
        env["topic"].server.send_event(env["topic"].topic_arn, referral_event(
            env["source"].url + "/referral/nope", "E100003", "nope"))
    elif poison == "garbage-detail":
        env["source"].set(garbage=1)
        _publish(env, referral_details(crn="E100004"))
    elif poison == "unknown-region":
        _publish(env, referral_details(crn="E100005", region="ZZ"))  # nDelius has no case either
    else:
        sqs.send_message(QueueUrl=env["topic"].queue_url, MessageBody=poison)
    assert _poll(app, env) == ["dead_letter"]
    dead = sqs.receive_message(QueueUrl=env["topic"].dlq_url, MessageAttributeNames=["All"]).get("Messages", [])
    assert len(dead) == 1 and reason in dead[0]["MessageAttributes"]["reason"]["StringValue"]
    [row] = db.session.scalars(select(InboundEvent))
    assert row.status == "dead" and reason in row.error
    assert _poll(app, env) == []  # gone from our queue
    assert db.session.scalar(select(func.count(Referral.id))) == 0


def test_nobody_waits_for_ndelius_a_referral_arrives_while_it_is_down(app, env):  # type: ignore[no-untyped-def]
    from app.services import case_data

    details = referral_details(crn="E100006", forename="Drew", surname="Patel")
    env["nd"].cases.add(_case(details, surname="Patel-Smith"))
    env["nd"].cases.control("POST", json.dumps({"fail_5xx": 1}).encode())
    _publish(env, details)
    assert _poll(app, env) == ["deleted"]
    referral = db.session.scalar(select(Referral).where(Referral.crn == "E100006"))
    assert referral.status == "Awaiting allocation" and referral.person_name == "Drew Patel"
    assert referral.case_checked_at is None and "could not be asked" in referral.case_check_error
    assert case_data.refresh(referral.id).checked  # the queued refresh, once nDelius is back
    db.session.expire_all()
    assert referral.person_name == "Drew Patel-Smith"
    assert [d.field for d in case_data.open_disagreements(referral_id=referral.id)] == ["name"]


def test_the_referral_source_down_is_retried_then_dead_lettered(app, env):  # type: ignore[no-untyped-def]
    app.config["DOMAIN_EVENTS_VISIBILITY_TIMEOUT"] = 0
    details = referral_details(crn="E100007")
    env["nd"].cases.add(_case(details))
    env["source"].set(fail_5xx=10)
    _publish(env, details)
    app.config["DOMAIN_EVENTS_MAX_RECEIVES"] = 2
    assert _poll(app, env) == ["retry"]
    assert db.session.scalar(select(InboundEvent.status)) == "retrying"
    assert _poll(app, env) == ["dead_letter"]
    assert db.session.scalar(select(InboundEvent.status)) == "dead"
    # An admin retries it once the source is back: it is processed.
    from app.services import events_in

    env["source"].set(fail_5xx=0)
    row = db.session.scalar(select(InboundEvent))
    env["broker"].requeue(events_in.prepare_retry(row))
    assert _poll(app, env) == ["deleted"]
    assert db.session.scalar(select(func.count(Referral.id))) == 1


def test_a_merge_moves_the_referral_to_the_surviving_crn_even_when_it_arrives_first(app, env):  # type: ignore[no-untyped-def]
    server, topic = env["topic"].server, env["topic"].topic_arn
    merge = {"eventType": "probation-case.merge.completed", "version": 1, "occurredAt": "2026-05-01T10:00:00Z",
             "description": "merged", "additionalInformation": {"sourceCRN": "E100008", "targetCRN": "E200008"},
             "personReference": {"identifiers": [{"type": "CRN", "value": "E200008"}]}}
    first = referral_details(crn="E100009")
    env["nd"].cases.add(_case(first))
    _publish(env, first)
    _poll(app, env)
    server.send_event(topic, {**merge, "additionalInformation": {"sourceCRN": "E100009", "targetCRN": "E200009"}})
    assert _poll(app, env) == ["deleted"]
    assert db.session.scalar(select(Referral.crn)) == "E200009"
    # A merge before the referral arrives: the referral is filed under the surviving CRN.
    server.send_event(topic, merge)
    _poll(app, env)
    later = referral_details(crn="E100008")
    env["nd"].cases.add(_case(later, crn="E200008"))
    _publish(env, later)
    _poll(app, env)
    assert sorted(db.session.scalars(select(Referral.crn))) == ["E200008", "E200009"]


def test_the_listener_process_puts_a_published_referral_on_the_waiting_list(app, env, browser, world, region):  # type: ignore[no-untyped-def]
    """`python -m jobs.listener` as its own process, as in `make run` and the Procfile."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    world.user(region, "lead", "lead.nw")
    details = referral_details(crn="E100010", forename="Quinn", surname="Byrne")
    env["nd"].cases.add(_case(details))
    config = app.config
    process_env = dict(os.environ, DATABASE_URL=config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=config["REDIS_URL"],
                       RQ_QUEUE=config["RQ_QUEUE"], AWS_ENDPOINT_URL=config["AWS_ENDPOINT_URL"],
                       DOMAIN_EVENTS_QUEUE_URL=config["DOMAIN_EVENTS_QUEUE_URL"],
                       DOMAIN_EVENTS_DLQ_URL=config["DOMAIN_EVENTS_DLQ_URL"], NDELIUS_URL=config["NDELIUS_URL"],
                       HMPPS_AUTH_URL=config["HMPPS_AUTH_URL"], LOG_LEVEL="WARNING")
    db.session.commit()
    listener_process = subprocess.Popen([sys.executable, "-m", "jobs.listener"], env=process_env,
                                        cwd=Path(__file__).resolve().parents[2], start_new_session=True)
    try:
        _publish(env, details)
        browser.sign_in("lead.nw")
        deadline = time.monotonic() + 60
        while "Quinn Byrne" not in browser.get("/referrals").get_data(as_text=True):
            assert time.monotonic() < deadline, "the referral never reached the waiting list"
            time.sleep(0.2)
    finally:
        os.killpg(listener_process.pid, signal.SIGTERM)
        listener_process.wait(timeout=30)


def test_admins_see_dead_letters_and_retry_or_dismiss_them(app, env, browser, world, region):  # type: ignore[no-untyped-def]
    world.user(region, "admin", "admin.nw")
    world.user(region, "treatment_manager", "tm.nw")
    sqs = env["topic"].server.client("sqs")
    sqs.send_message(QueueUrl=env["topic"].queue_url, MessageBody="not json at all")
    details = referral_details(crn="E100011")
    env["nd"].cases.add(_case(details))
    env["source"].set(fail_5xx=10)
    app.config["DOMAIN_EVENTS_MAX_RECEIVES"] = 1
    _publish(env, details)
    assert sorted(_poll(app, env)) == ["dead_letter", "dead_letter"]

    manager = type(browser)(app, app.test_client())
    manager.sign_in("tm.nw")
    assert manager.get("/integration/events").status_code == 403
    browser.sign_in("admin.nw")
    page = browser.get("/integration/events").get_data(as_text=True)
    assert "Messages that could not be processed (2)" in page and "not an HMPPS domain event" in page
    assert "gave up after 1 attempts: the referral source answered 503" in page
    rows = {r.event_type: r for r in db.session.scalars(select(InboundEvent))}
    assert browser.post(f"/integration/events/{rows[None].id}/dismiss").status_code == 302
    env["source"].set(fail_5xx=0)
    assert browser.post(f"/integration/events/{rows[CREATED].id}/retry").status_code == 302
    assert _poll(app, env) == ["deleted"]
    assert db.session.scalar(select(Referral.crn)) == "E100011"
    assert "Messages that could not be processed (0)" in browser.get("/integration/events").get_data(as_text=True)


def test_a_case_refresh_while_ndelius_is_still_down_is_asked_again_later(app, env, redis, world, region):  # type: ignore[no-untyped-def]
    from rq.registry import ScheduledJobRegistry

    from jobs import events
    from jobs.enqueue import queue

    details = referral_details(crn="E100012")
    env["nd"].cases.add(_case(details))
    env["nd"].cases.control("POST", json.dumps({"fail_5xx": 10}).encode())
    _publish(env, details)
    assert _poll(app, env) == ["deleted"]
    referral_id = db.session.scalar(select(Referral.id))
    redis.flushdb()  # forget the refresh the listener queued: this one must queue its own
    assert events.refresh_case(referral_id)["checked"] is False
    scheduled = ScheduledJobRegistry(queue=queue()).get_job_ids()
    assert f"case-refresh-{referral_id}" in scheduled  # asked again later
    env["nd"].cases.control("POST", json.dumps({"fail_5xx": 0}).encode())
    assert events.refresh_case(referral_id)["checked"] is True
