"""The relay sends arrays, isolates the item a refusal is about, and is fenced by its lease (issue 16 item 3,
issue 12 item 6), against the fake nDelius over real HTTP. No timing assumptions: where a test needs a call to
be "still out", the fake holds its answer until the test releases it, and the test waits for that state."""
# ruff: noqa: F811 - the fixtures imported from ndelius_kit are arguments of the tests
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import demo
from app.extensions import db
from app.models import NDeliusAppointment, OutboxItem, Session
from app.models.base import utcnow
from app.services import ndelius_sync, outbox
from tests.integration.ndelius_kit import (  # noqa: F401 - fixtures
    appointments,
    assert_arrays_bounded,
    assert_one_each,
    client_for,
    drain,
    fake,
    items,
    later,
    manager,
    nd,
    posts,
    started_group,
)


def test_a_batch_that_outlives_its_lease_is_taken_over_and_nothing_is_sent_twice(nd, world, manager, app):
    group = started_group(world, manager)
    held = appointments(group)
    nd.set(hold_answers=1)  # the first relay's first array (10 creates) is applied; its answer is held
    slow = client_for(nd, read_timeout=60)  # it waits for that answer well past its lease
    first = []
    db.session.commit()

    def first_relay():
        with app.app_context():
            first.append(ndelius_sync.drain(client=slow, breaker=False, batch_size=10, concurrency=1,
                                            claim_size=27))

    thread = threading.Thread(target=first_relay)
    thread.start()
    assert nd.wait_until(lambda f: f.held == 1)
    # Ten minutes on, by the second relay's clock, the first relay's lease on all 27 has run out: it takes
    # the batch over, searches (the first array is there) and creates the other 17.
    second = drain(now=later(10), batch_size=10, concurrency=1)
    assert (second.unchanged, second.created) == (10, 17)
    nd.release()  # the first relay hears back at last, and would carry on with its other 17...
    thread.join()
    slow.close()

    assert first[0].lease_lost == 27 and first[0].created == 0  # ...but sends nothing more, writes nothing
    assert len(posts(nd)) == 3  # its one array, and the second relay's two
    assert_one_each(nd, held)  # no appointment twice
    assert {a.sync_state for a in appointments(group)} == {"synced"}
    assert all(a.last_synced_at > utcnow() + timedelta(minutes=9) for a in appointments(group))  # the 2nd's
    assert all(a.claimed_by is None for a in appointments(group))


def test_a_relay_only_starts_a_call_it_can_finish_within_its_time_budget(nd, world, manager, app):
    group = started_group(world, manager)

    result = drain(client=client_for(nd, read_timeout=30), budget=5)  # no call can be answered within 5 s

    assert result.deferred == 27 and result.calls == 0 and nd.api_calls(path="/appointments") == []
    rows = list(db.session.scalars(select(OutboxItem)))
    assert {(r.status, r.attempts) for r in rows} == {("pending", 0)}  # not a failed attempt
    assert {a.remote_state for a in appointments(group)} == {"absent"}  # nothing went out: no search needed
    assert all(a.claimed_by is None for a in appointments(group))

    runner = app.test_cli_runner()
    app.config["NDELIUS_READ_TIMEOUT"] = 30
    out = runner.invoke(args=["ndelius", "sync", "--budget", "5"])
    assert out.exit_code == 1 and "27 left for the next run (out of time)" in out.output
    assert "27 appointments are still waiting for nDelius" in out.output
    app.config["NDELIUS_READ_TIMEOUT"] = 5
    assert drain().created == 27
    assert_one_each(nd, appointments(group))


def test_a_full_cascade_for_twelve_people_goes_in_arrays_two_calls_at_a_time(nd, world, manager):
    group = started_group(world, manager, people=12)
    held = appointments(group)
    assert len(held) == 324
    created = drain()
    assert created.created == 324 and created.calls == 7
    for session in db.session.scalars(select(Session).where(Session.group_id == group.id)):
        session.starts_at += timedelta(days=7)
        session.ends_at += timedelta(days=7)
    for appointment in held:
        outbox.appointment_changed(appointment)
    db.session.commit()
    nd.set(latency_ms=50)
    nd.peak_concurrency = 0

    moved = drain()

    assert moved.updated == 324 and moved.calls == 7  # 324 updates in 7 arrays of at most 50
    assert nd.peak_concurrency == 2  # two arrays at a time, never more
    assert_arrays_bounded(nd)
    first = held[0]
    assert nd.appointments[str(first.reference)]["date"] == "2026-03-30"
    assert_one_each(nd, held)


def test_deletes_go_in_an_array_and_one_unknown_to_ndelius_does_not_hold_up_the_others(nd, world, manager):
    group = started_group(world, manager)
    drain()
    held = appointments(group)
    gone = held[3:8]
    nd.forget(str(gone[2].reference))  # nDelius lost one already
    for appointment in gone:
        appointment.attendee.session.status = "cancelled"
        outbox.appointment_changed(appointment, "delete")
    db.session.commit()

    result = drain()

    assert result.deleted == 5
    calls = nd.api_calls("DELETE", "/appointments")
    assert [len(c["body"]["appointments"]) for c in calls] == [5, 4]  # the 404 named it; the others resent
    assert {db.session.get(NDeliusAppointment, a.id).sync_state for a in gone} == {"deleted"}
    assert not any(nd.count(str(a.reference)) for a in gone)


def test_an_update_nDelius_does_not_know_needs_attention_and_the_rest_of_the_array_is_updated(nd, world, manager):
    group = started_group(world, manager)
    drain()
    held = appointments(group)
    lost = held[10]
    nd.forget(str(lost.reference))
    for session in db.session.scalars(select(Session).where(Session.group_id == group.id)):
        session.ends_at += timedelta(minutes=15)
    for appointment in held:
        outbox.appointment_changed(appointment)
    db.session.commit()

    result = drain()

    assert (result.updated, result.needs_attention) == (26, 1)
    assert [len(c["body"]["appointments"]) for c in nd.api_calls("PUT", "/appointments")] == [27, 26]
    refused = db.session.get(NDeliusAppointment, lost.id)
    assert refused.sync_state == "needs_attention" and "did not recognise" in refused.last_error
    assert refused.remote_state == "uncertain"  # look before sending it again
    assert nd.appointments[str(held[0].reference)]["endTime"] == "11:15"


def test_demo_data_syncs_in_fewer_than_a_tenth_as_many_calls_as_appointments(nd, app):
    if app.config["BACKEND"] == "postgresql":
        pytest.skip("counts calls, not database work: once is enough (the demo takes ~10 s to load)")
    demo.seed()
    total = db.session.scalar(select(func.count(NDeliusAppointment.id)))

    result = drain()  # 540 appointments: 524 created, 16 past ones waiting for attendance

    assert total > 500 and result.calls * 10 < total, (result.calls, total)
    assert result.sent + result.needs_attention == total
    assert result.retrying == 0
    assert_arrays_bounded(nd)
    assert not [ref for ref, n in nd.created_per_reference.items() if n != 1]
    assert len(items(nd, "POST")) == result.created
