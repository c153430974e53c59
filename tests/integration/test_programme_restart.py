"""Bus stopping on every path and restarts (issue 12.5, SPEC §3): the service refuses an allocation at the
wrong point of the programme whoever asks; matching checks sex, cohort and the LDC flag; after 12 weeks a
person restarts and their earlier completions stay in their history but count for nothing any more."""
from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import (
    Attendance,
    Attendee,
    AuditEvent,
    Membership,
    ReferralProgress,
    Session,
    TemplateCompletion,
)
from app.services import attendance, bus_stop, membership, progress, progress_grid
from app.services.errors import ServiceError
from tests.integration.test_membership import KEYS, TUESDAY, complete, left_after, started_group

LDC_GROUP = "an LDC group (learning disabilities and challenges)"


@pytest.fixture
def manager(world):  # type: ignore[no-untyped-def]
    return world.user(world.region(), "treatment_manager")


def _memberships(person):  # type: ignore[no-untyped-def]
    return db.session.scalars(select(Membership).where(Membership.referral_id == person.id)).all()


# ------------------------------------------------------------------------------------- the point, on every path

def test_the_service_refuses_a_group_at_the_wrong_point_whoever_asks(world, manager):  # type: ignore[no-untyped-def]
    person, _ = left_after(world, manager, KEYS[:6], on=datetime(2026, 4, 22, 12))  # resumes at 3.3
    now = datetime(2026, 5, 11, 12)
    clock.freeze(now)
    ahead = started_group(world, manager, "AT-3.4", now=now, next_index=7)
    other_module = started_group(world, manager, "AT-2.3", now=now, next_index=3)
    not_started = world.group(manager, "NEW", start=date(2026, 6, 2), slots=(TUESDAY,))

    for group, message in [
        (ahead, ("Group AT-3.4 is at 3.4 Managing my feelings, part 2; they need 3.3 Managing my feelings, part 1 "
                "or an earlier session of module 3")),
        (other_module, "Group AT-2.3 is at 2.3 "),
        (not_started, "Group NEW has not started; they need 3.3 "),
    ]:
        with pytest.raises(ServiceError) as refused:
            membership.allocate(manager, group, person)
        assert refused.value.message.startswith(message) and refused.value.field == "referral_id"
        db.session.rollback()
    assert [m.group.code for m in _memberships(person)] == ["A"]

    fits = started_group(world, manager, "AT-3.2", now=now, next_index=5)  # one back in the same module
    assert membership.allocate(manager, fits, person).sessions == 27 - 5


def test_someone_never_in_a_group_cannot_be_put_into_the_middle_of_one(world, manager):  # type: ignore[no-untyped-def]
    now = datetime(2026, 6, 1, 12)
    clock.freeze(now)
    group = started_group(world, manager, "G1", now=now, next_index=4)
    with pytest.raises(ServiceError, match="they need a group at the start of the programme"):
        membership.allocate(manager, group, world.referral(manager.region))


# ----------------------------------------------------------------------------------------------- LDC matching

def test_matching_checks_the_learning_disability_flag_with_cohort_and_sex(world, manager):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 3, 1, 9))
    ldc_group = world.group(manager, "LDC1")
    ldc_group.learning_disability = True
    plain_group = world.group(manager, "G1")
    needs_ldc = world.referral(manager.region, "Lee Ldc")
    needs_ldc.learning_disability = True
    plain = world.referral(manager.region, "Pat Plain")
    db.session.commit()

    for group, person, message in [
        (ldc_group, plain, f"Group LDC1 is {LDC_GROUP} and Pat Plain does not need one"),
        (plain_group, needs_ldc, f"Group G1 is not {LDC_GROUP} and Lee Ldc needs one"),
    ]:
        with pytest.raises(ServiceError) as refused:
            membership.allocate(manager, group, person)
        assert refused.value.message == message
        db.session.rollback()

    fitting, others = bus_stop.candidates_for(ldc_group)
    assert [c.referral.person_name for c in fitting] == ["Lee Ldc"] and others == []
    _, fitting, others = bus_stop.find_groups(plain)
    assert [o.group.code for o in fitting] == ["G1"]
    assert [(o.group.code, o.reason) for o in others] == [
        ("LDC1", f"Group LDC1 is {LDC_GROUP} and Pat Plain does not need one")]
    assert membership.allocate(manager, ldc_group, needs_ldc).membership.group_id == ldc_group.id


# ---------------------------------------------------------------------------------------------------- restart

@pytest.fixture
def restarted(world, manager):  # type: ignore[no-untyped-def]
    """Bo completed 1.1–3.2 in group A, left on 22 April 2026, and joined group NEW 13 weeks later."""
    person, old = left_after(world, manager, KEYS[:6], on=datetime(2026, 4, 22, 12), name="Bo Stop")
    clock.freeze(datetime(2026, 7, 22, 12))  # 91 days after leaving
    new = world.group(manager, "NEW", start=date(2026, 8, 4), slots=(TUESDAY,))
    assert bus_stop.position_of(person).restarts
    joined = membership.allocate(manager, new, person).membership
    return person, old, new, joined


def test_after_12_weeks_earlier_completions_stay_in_history_but_count_for_nothing(restarted):  # type: ignore[no-untyped-def]
    person, old, _, joined = restarted
    assert joined.restarts_programme
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "membership.allocated")
                              .order_by(AuditEvent.id.desc()).limit(1))
    assert event.after["restarts_programme"] is True
    stored = db.session.get(ReferralProgress, person.id)
    assert (stored.sessions_completed, stored.modules_completed, stored.percent, stored.complete) == (0, 0, 0, False)
    assert (stored.outcomes_recorded, stored.outcomes_attended, stored.outcomes_complied) == (0, 0, 0)
    assert db.session.scalars(select(TemplateCompletion).where(TemplateCompletion.referral_id == person.id)).all() == []
    # the history is all still there, in the group where it happened
    outcomes = db.session.scalars(select(Attendance.outcome).join(Attendee).join(Session).where(
        Attendee.referral_id == person.id, Session.group_id == old.id, Attendance.outcome.is_not(None))).all()
    assert outcomes == ["ATTC"] * 6
    assert progress.verify() == []
    assert person.status == "Scheduled"


def test_the_restarted_programme_counts_from_its_first_session(world, manager, restarted):  # type: ignore[no-untyped-def]
    person, old, new, _ = restarted
    world.started(new, manager)
    clock.freeze(datetime(2026, 8, 4, 12))
    complete(manager, new, person, [(1, 1)])
    stored = db.session.get(ReferralProgress, person.id)
    assert (stored.sessions_completed, stored.percent, stored.outcomes_complied) == (1, 100 // 27, 1)
    assert person.status == "On programme"
    # a correction to the old group's register changes its history, not the restarted programme
    old_attendee = db.session.scalar(select(Attendee).join(Session).where(
        Attendee.referral_id == person.id, Session.group_id == old.id).order_by(Session.starts_at).limit(1))
    record = attendance.record(manager, old_attendee, outcome="AFTC", seen_version=old_attendee.attendance.version)
    attendance.record(manager, old_attendee, outcome="ATTC", seen_version=record.version)
    db.session.commit()
    stored = db.session.get(ReferralProgress, person.id)
    assert (stored.sessions_completed, stored.outcomes_recorded) == (1, 1)
    assert progress.verify() == []
    # leaving the restarted group within 12 weeks, they resume from what they did since the restart
    membership.remove(manager, membership.active_membership(person), reason="Ill", new_status="Awaiting allocation")
    assert bus_stop.position_of(person).resume == (2, 1)


def test_verification_does_not_accept_a_completion_from_before_the_restart(restarted):  # type: ignore[no-untyped-def]
    person, old, _, _ = restarted
    old_attendee = db.session.scalar(select(Attendee).join(Session).where(
        Attendee.referral_id == person.id, Session.group_id == old.id).order_by(Session.starts_at).limit(1))
    db.session.add(TemplateCompletion(referral_id=person.id, attendee_id=old_attendee.id,
                                      session_template_id=old_attendee.session.session_template_id))
    db.session.commit()
    differences = [str(d) for d in progress.verify()]
    assert differences == [(f"referral {person.id}: stored completion of session template "
                           f"{old_attendee.session.session_template_id} is not backed by an ATTC attendance")]


def test_the_old_groups_grid_shows_what_they_did_there_as_no_longer_counting(restarted):  # type: ignore[no-untyped-def]
    person, old, _, _ = restarted
    report = progress_grid.group_progress(progress_grid.GridGroup.of(old))
    row = next(r for r in report.rows if r.referral.id == person.id)
    states = [cell.state for cell in row.cells]
    assert states[:6] == ["before_restart"] * 6 and "complete" not in states and row.restarted_since
