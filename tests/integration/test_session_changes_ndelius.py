"""What nDelius ends up holding when a session is cancelled, a booking made in error is deleted, someone is taken
off or added to one session, and a started group moves to a new location (issues 15.1, 15.2), against the fake
nDelius over real HTTP."""
# ruff: noqa: F811 - the fixtures imported from ndelius_kit are arguments of the tests
from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Session
from app.services import catch_ups, group_edit, ndelius_reconcile, session_changes
from tests.integration.ndelius_kit import appointments, drain, fake, manager, nd, started_group  # noqa: F401


def _session(group, starts_at):  # type: ignore[no-untyped-def]
    return db.session.scalar(select(Session).where(Session.group_id == group.id, Session.starts_at == starts_at,
                                                   Session.kind == "scheduled"))


def test_a_cancelled_sessions_appointments_stay_in_ndelius_as_rescheduled_by_the_service(nd, world, manager):
    group = started_group(world, manager, people=2)
    drain()
    session = _session(group, datetime(2026, 5, 11, 10))
    references = [str(a.reference) for a in appointments(group) if a.attendee.session_id == session.id]
    session_changes.cancel(manager, session, reason="The room flooded")
    result = drain()
    assert result.updated == 2
    for reference in references:
        assert nd.appointments[reference]["outcome"] == {"code": "RSSR"}
    assert {a.sync_state for a in appointments(group) if a.attendee.session_id == session.id} == {"synced"}
    # reconciliation expects that outcome: no disagreement
    ndelius_reconcile.reconcile(breaker=False)
    from app.models import NDeliusDisagreement

    assert db.session.scalar(select(NDeliusDisagreement.id)) is None


def test_a_session_cancelled_before_it_reached_ndelius_is_never_created(nd, world, manager):
    group = started_group(world, manager, people=1)
    session = _session(group, datetime(2026, 5, 11, 10))
    reference = next(str(a.reference) for a in appointments(group) if a.attendee.session_id == session.id)
    session_changes.cancel(manager, session, reason="Trainer ill")
    drain()
    assert reference not in nd.appointments
    assert nd.creates_of(reference) == 0


def test_deleting_a_catch_up_deletes_its_appointments_and_taking_someone_off_deletes_theirs(nd, world, manager):
    group = started_group(world, manager, people=2)
    drain()
    clock.freeze(datetime(2026, 5, 12, 9))
    missed = _session(group, datetime(2026, 5, 11, 10))
    from app.services import attendance

    for attendee in missed.attendees:
        attendance.record(manager, attendee, outcome="UAAB")
    db.session.commit()
    lead = group.lead_facilitator
    catch_up = catch_ups.schedule(manager, missed, referral_ids=[a.referral_id for a in missed.attendees],
                                  on=date(2026, 5, 14), at=time(14), facilitator_id=lead.id)
    drain()
    catch_up_refs = [str(a.reference) for a in appointments(group) if a.attendee.session_id == catch_up.id]
    assert all(ref in nd.appointments for ref in catch_up_refs)
    session_changes.delete(manager, db.session.get(Session, catch_up.id))
    assert drain().deleted == 2
    assert not any(ref in nd.appointments for ref in catch_up_refs)

    later = _session(group, datetime(2026, 6, 1, 10))
    person = later.attendees[0].referral_id
    theirs = next(str(a.reference) for a in appointments(group)
                  if a.attendee.session_id == later.id and a.attendee.referral_id == person)
    session_changes.remove_attendee(manager, later, person)
    assert drain().deleted == 1 and theirs not in nd.appointments
    session_changes.add_attendee(manager, db.session.get(Session, later.id), person)
    drain()
    assert theirs in nd.appointments and nd.creates_of(theirs) == 2  # made again under the same reference


def test_a_new_location_reaches_ndelius_for_the_sessions_to_come_only(nd, world, manager):
    group = started_group(world, manager, people=1)
    nd.set(location_codes=["LOC1", "LOC2"])
    drain()
    clock.freeze(datetime(2026, 6, 1, 9))
    nd.set(now="2026-06-01T09:00")
    group_edit.edit_group(manager, group, group_edit.GroupChanges(
        code=group.code, cohort=group.cohort, sex=group.sex, learning_disability=False,
        delivery_location="New office", location_code="LOC2", treatment_manager_id=None))
    drain()
    for appointment in appointments(group):
        wanted = "LOC2" if appointment.attendee.session.starts_at > datetime(2026, 6, 1, 9) else "LOC1"
        assert nd.appointments[str(appointment.reference)]["location"] == {"code": wanted}
