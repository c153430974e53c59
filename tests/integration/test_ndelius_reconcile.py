"""Reconciliation against the fake nDelius over real HTTP (RELIABILITY S9; issue 16 item 4): drift is recorded,
never overwritten; searches go in batches of at most 500 ids and never empty; a failed batch does not abort the
run; a treatment manager's run covers their region only."""
# ruff: noqa: F811 - the fixtures imported from ndelius_kit are arguments of the tests
from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import NDeliusDisagreement, OutboxItem, Session
from app.services import ndelius_reconcile, ndelius_status
from tests.integration.ndelius_kit import (  # noqa: F401 - fixtures
    appointments,
    drain,
    fake,
    manager,
    nd,
    started_group,
)


def test_reconciliation_records_drift_and_never_overwrites_ours(nd, world, manager):
    group = started_group(world, manager)
    drain()
    held = appointments(group)
    missing, moved, doubled = held[2], held[3], held[4]
    nd.forget(str(missing.reference))
    nd.appointments[str(moved.reference)]["staff"] = {"code": "OTHER1"}
    nd.appointments[str(moved.reference)]["startTime"] = "09:00"
    nd.duplicates.append(dict(nd.appointments[str(doubled.reference)], contactId=99999))
    stranger = nd.seed({"reference": "0b0b0b0b-0000-4000-8000-000000000001",
                        "requirementId": held[0].attendee.referral.requirement_id, "date": "2026-04-01",
                        "startTime": "10:00", "endTime": "11:00", "staff": {"code": "X1"},
                        "team": {"code": "T1"}})[0]
    ours_before = [(s.starts_at, s.version) for s in db.session.scalars(select(Session).order_by(Session.id))]

    run = ndelius_reconcile.reconcile(breaker=False)

    assert run.error is None and run.compared == 27 and run.new == 5
    found = {(str(d.reference), d.field): d for d in db.session.scalars(select(NDeliusDisagreement))}
    assert found[(str(missing.reference), "appointment")].theirs == "Not in nDelius"
    staff = found[(str(moved.reference), "staff")]
    assert (staff.ours, staff.theirs) == (group.lead_facilitator.staff_code, "OTHER1")
    assert staff.source == "nDelius appointments search" and staff.ours_at and staff.last_seen_at
    assert (found[(str(moved.reference), "start_time")].ours, found[(str(moved.reference), "start_time")].theirs) \
        == ("10:00", "09:00")
    assert found[(str(doubled.reference), "duplicates")].theirs == "2"
    unknown = found[(stranger["reference"], "appointment")]
    assert unknown.ours == "Not in our records" and unknown.region_id == manager.region_id
    # ours stays as it was: nothing overwritten, nothing queued
    assert [(s.starts_at, s.version) for s in db.session.scalars(select(Session).order_by(Session.id))] == ours_before
    assert db.session.scalar(select(func.count(OutboxItem.id)).where(OutboxItem.status == "pending")) == 0
    searches = [c["body"] for c in nd.api_calls("POST", "/appointments/search")]
    assert searches and all(b["requirementIds"] or b["licenceConditionIds"] for b in searches)
    assert all(len(b["requirementIds"]) <= 500 and len(b["licenceConditionIds"]) <= 500 for b in searches)

    again = ndelius_reconcile.reconcile(breaker=False)
    assert again.new == 0 and db.session.scalar(select(func.count(NDeliusDisagreement.id))) == 5

    ndelius_status.send_ours(manager, staff.id)
    ndelius_status.send_ours(manager, found[(str(missing.reference), "appointment")].id)
    drain()
    assert nd.appointments[str(moved.reference)]["staff"] == {"code": group.lead_facilitator.staff_code}
    assert nd.count(str(missing.reference)) == 1
    third = ndelius_reconcile.reconcile(breaker=False)
    assert third.resolved == 1  # the start time now agrees too
    still_open = {(str(d.reference), d.field) for d in db.session.scalars(
        select(NDeliusDisagreement).where(NDeliusDisagreement.resolved_at.is_(None)))}
    assert still_open == {(str(doubled.reference), "duplicates"), (stranger["reference"], "appointment")}


def test_reconciliation_that_cannot_reach_ndelius_says_so_and_changes_nothing(nd, world, manager):
    started_group(world, manager)
    drain()
    nd.set(fail_5xx=5)
    run = ndelius_reconcile.reconcile(breaker=False)
    assert run.error and "503" in run.error
    assert db.session.scalar(select(func.count(NDeliusDisagreement.id))) == 0


