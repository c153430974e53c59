"""Reconciliation against the fake nDelius over real HTTP (RELIABILITY S9; issue 16 item 4): drift is recorded,
never overwritten; searches go in batches of at most 500 ids and never empty; a failed batch does not abort the
run; a treatment manager's run covers their region only."""
# ruff: noqa: F811 - the fixtures imported from ndelius_kit are arguments of the tests
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import NDeliusDisagreement, OutboxItem, Session
from app.services import ndelius_reconcile, ndelius_status
from tests.integration.ndelius_kit import (  # noqa: F401 - fixtures
    appointments,
    drain,
    fake,
    items,
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




# --- at scale: pages, batches, regions ------------------------------------------------------------------------


def test_reconciliation_searches_a_page_of_people_at_a_time_and_finds_drift_in_every_page(nd, world, manager):
    group = started_group(world, manager, people=3)
    drain()
    held = appointments(group)
    by_person = {}
    for appointment in held:
        by_person.setdefault(appointment.attendee.referral_id, []).append(appointment)
    missing = [appointments_of[5] for appointments_of in by_person.values()]  # one per person
    nd.forget(*(str(a.reference) for a in missing))

    run = ndelius_reconcile.reconcile(breaker=False, page_size=2)

    assert run.error is None and (run.searches, run.failed_searches) == (2, 0)
    assert run.compared == 81 and run.new == 3
    searches = [c["body"] for c in nd.api_calls("POST", "/appointments/search")]
    assert [len(b["requirementIds"]) + len(b["licenceConditionIds"]) for b in searches] == [2, 1]
    assert {str(d.reference) for d in db.session.scalars(select(NDeliusDisagreement))} == {
        str(a.reference) for a in missing}


def test_one_failed_search_does_not_abort_the_run_and_leaves_its_page_as_it_was(nd, world, manager):
    group = started_group(world, manager, people=2)
    drain()
    held = appointments(group)
    first_person = min(a.attendee.referral_id for a in held)
    theirs = [a for a in held if a.attendee.referral_id == first_person]
    others = [a for a in held if a.attendee.referral_id != first_person]
    nd.forget(str(theirs[3].reference), str(others[3].reference))
    ndelius_reconcile.reconcile(breaker=False)  # both seen missing
    nd.seed(_item_of(nd, theirs[3]))
    nd.seed(_item_of(nd, others[3]))  # both back in nDelius
    nd.set(fail_5xx=1)  # the first person's search fails

    run = ndelius_reconcile.reconcile(breaker=False, page_size=1)

    assert (run.searches, run.failed_searches, run.compared) == (2, 1, 27)
    assert run.error.startswith("1 of 2 searches failed") and "503" in run.error
    still_open = {str(d.reference) for d in db.session.scalars(
        select(NDeliusDisagreement).where(NDeliusDisagreement.resolved_at.is_(None)))}
    assert still_open == {str(theirs[3].reference)}  # left as it was; the other page's is resolved
    assert ndelius_status.last_reconciliation().error == run.error


def test_a_treatment_managers_run_covers_their_region_only(nd, world, manager):
    other_manager = world.user(world.region("OR", "Other region"), "treatment_manager")
    mine = started_group(world, manager, code="MINE")
    theirs = started_group(world, other_manager, code="THEIRS")
    drain()
    nd.forget(str(appointments(mine)[2].reference), str(appointments(theirs)[2].reference))
    ours_ids = {a.attendee.referral.requirement_id for a in appointments(mine)}

    run = ndelius_reconcile.reconcile(breaker=False, region_id=manager.region_id)

    assert run.region_id == manager.region_id and run.compared == 27 and run.new == 1
    searched = {i for c in nd.api_calls("POST", "/appointments/search") for i in c["body"]["requirementIds"]}
    assert searched == ours_ids  # nothing of the other region asked for
    found = list(db.session.scalars(select(NDeliusDisagreement)))
    assert [(str(d.reference), d.region_id) for d in found] == [
        (str(appointments(mine)[2].reference), manager.region_id)]
    assert ndelius_status.last_reconciliation(manager).id == run.id
    assert ndelius_status.last_reconciliation(other_manager) is None  # their region was not checked


def test_reconciliation_reads_rows_not_objects_the_same_statements_for_one_group_or_three(nd, world, manager, app):
    from sqlalchemy import event

    def statements_for(groups, code):
        for n in range(groups):
            started_group(world, manager, code=f"{code}{n}")
        drain()
        seen = []

        def count(*args):
            seen.append(args[2])

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            run = ndelius_reconcile.reconcile(breaker=False)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return run.compared, len(seen)

    one, four = statements_for(1, "A"), statements_for(3, "B")  # 27 appointments, then 108
    assert (one[0], four[0]) == (27, 108)
    assert one[1] == four[1]  # a page's worth of queries, whatever it holds: nothing loaded one by one


def test_the_window_follows_the_service_clock_not_the_machine_date(nd, world, manager, app):
    group = started_group(world, manager)
    drain()
    clock.freeze(datetime(2026, 7, 1, 9, 0))  # 60 days back: from Sat 2 May 2026
    in_window = [a for a in appointments(group) if a.attendee.session.starts_at >= datetime(2026, 5, 2)]

    run = ndelius_reconcile.reconcile(breaker=False)

    assert 0 < run.compared == len(in_window) < 27
    search = nd.api_calls("POST", "/appointments/search")[0]["body"]
    assert search["fromDate"] == "2026-05-02"


def _item_of(nd, appointment):
    """What was sent to create this appointment (to put it back after nDelius lost it)."""
    return next(i for i in items(nd, "POST") if i["reference"] == str(appointment.reference))
