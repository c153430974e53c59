"""Allocation, removal and bus stopping against a real database (issue 6, SPEC §2–3)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import (
    Attendance,
    Attendee,
    AuditEvent,
    Membership,
    NDeliusAppointment,
    OutboxItem,
    ReferralProgress,
    Session,
    TemplateCompletion,
)
from app.models.group import GROUP_SIZE_LIMIT
from app.scheduling import Slot
from app.services import attendance, bus_stop, membership
from app.services.errors import ServiceError

TUESDAY = Slot(1, time(10))  # no Tuesday is a bank holiday in 2026: the schedule is strictly weekly


@pytest.fixture
def manager(world):  # type: ignore[no-untyped-def]
    return world.user(world.region(), "treatment_manager")


def started_group(world, manager, code, *, now: datetime, next_index: int, members=()):  # type: ignore[no-untyped-def]
    """A started Tuesday-10:00 group whose next session after `now` is template number `next_index` (0 = the
    pre-group one-to-one, 1 = 2.1, 2 = 2.2, 3 = 2.3, 4 = 3.1 …)."""
    target = now.date() + timedelta(days=1)
    while target.weekday() != 1:
        target += timedelta(days=1)
    start = target if next_index == 0 else target - timedelta(days=21 + 7 * (next_index - 1))
    group = world.started(world.group(manager, code, start=start, slots=(TUESDAY,), members=members), manager)
    upcoming = db.session.scalar(select(Session).where(Session.group_id == group.id, Session.starts_at > now)
                                 .order_by(Session.starts_at).limit(1))
    assert upcoming.starts_at.date() == target
    return group


def future_attendees(group, referral):  # type: ignore[no-untyped-def]
    return db.session.scalars(select(Attendee).join(Session).where(
        Session.group_id == group.id, Attendee.referral_id == referral.id, Session.starts_at > clock.now_local(),
        Attendee.removed_at.is_(None))).all()


def complete(manager, group, referral, keys):  # type: ignore[no-untyped-def]
    """Record "Attended" (ATTC, complied) for the person at the group's sessions of these templates."""
    for attendee in db.session.scalars(select(Attendee).join(Session).where(
            Session.group_id == group.id, Attendee.referral_id == referral.id)):
        template = attendee.session.session_template
        if (template.module.module_number, template.session_number) in keys:
            attendance.record(manager, attendee, outcome="ATTC", seen_version=None)
    db.session.commit()


KEYS = [(1, 1), (2, 1), (2, 2), (2, 3), (3, 1), (3, 2), (3, 3), (3, 4), (3, 5), (3, 6), (3, 7), (4, 1)]


# ------------------------------------------------------------------------------------------------- allocation

def left_after(world, manager, keys, *, on: datetime, name: str = "Jordan Smith", code: str = "A"):  # type: ignore[no-untyped-def]
    """Someone who completed these templates in a Tuesday group started on 3 March 2026 and left it `on`."""
    clock.freeze(datetime(2026, 3, 1, 9))
    person = world.referral(manager.region, name)
    group = world.group(manager, code, start=date(2026, 3, 3), slots=(TUESDAY,))
    member = membership.allocate(manager, group, person).membership
    world.started(group, manager)
    clock.freeze(on)
    complete(manager, group, person, keys)
    membership.remove(manager, member, reason="Moved house", new_status="Awaiting allocation")
    return person, group


def test_allocating_to_a_started_group_adds_future_sessions_only_each_with_an_ndelius_appointment(world, manager):  # type: ignore[no-untyped-def]
    person, _ = left_after(world, manager, KEYS[:4], on=datetime(2026, 4, 15, 12))  # resumes at 3.1
    now = datetime(2026, 6, 1, 12)
    clock.freeze(now)
    group = started_group(world, manager, "G1", now=now, next_index=4)

    result = membership.allocate(manager, group, person)

    sessions = db.session.scalars(select(Session).where(Session.group_id == group.id)).all()
    future = [s for s in sessions if s.starts_at > now]
    attendees = db.session.scalars(select(Attendee).join(Session).where(
        Attendee.referral_id == person.id, Session.group_id == group.id)).all()
    assert result.sessions == len(future) == 23 and len(attendees) == 23
    assert {a.session_id for a in attendees} == {s.id for s in future}
    assert person.status == "Scheduled"
    creates = db.session.scalar(select(func.count(OutboxItem.id)).join(NDeliusAppointment).join(Attendee)
                                .join(Session).where(Attendee.referral_id == person.id, Session.group_id == group.id,
                                                     OutboxItem.action == "create"))
    assert creates == 23
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "membership.allocated")
                              .order_by(AuditEvent.id.desc()).limit(1))
    assert event.after["crn"] == person.crn and event.after["future_sessions"] == 23
    assert event.after["restarts_programme"] is False


def test_someone_allocated_before_the_start_gets_every_session_when_the_group_starts(world, manager):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 3, 1, 9))
    group = world.group(manager, start=date(2026, 3, 23))
    person = world.referral(manager.region)
    assert membership.allocate(manager, group, person).sessions == 0
    world.started(group, manager)
    assert db.session.scalar(select(func.count(Attendee.id)).where(Attendee.referral_id == person.id)) == 27


def test_a_mixed_group_takes_either_sex(world, manager):  # type: ignore[no-untyped-def]
    group = world.group(manager)
    group.sex = "mixed"
    db.session.commit()
    membership.allocate(manager, group, world.referral(manager.region, sex="female"))
    membership.allocate(manager, group, world.referral(manager.region, sex="male"))
    assert membership.member_count(group) == 2


def _full(world, manager, group):  # type: ignore[no-untyped-def]
    for _ in range(GROUP_SIZE_LIMIT):
        membership.allocate(manager, group, world.referral(manager.region))
    return world.referral(manager.region)


def _wrong_sex(world, manager, group):  # type: ignore[no-untyped-def]
    return world.referral(manager.region, "Fay Female", sex="female")


def _wrong_cohort(world, manager, group):  # type: ignore[no-untyped-def]
    return world.referral(manager.region, "Sam Cohort", cohort="sexual")


def _in_another_group(world, manager, group):  # type: ignore[no-untyped-def]
    person = world.referral(manager.region, "Al Ready")
    membership.allocate(manager, world.group(manager, "OTHER"), person)
    return person


def _closed(world, manager, group):  # type: ignore[no-untyped-def]
    person = world.referral(manager.region, "Wendy Withdrawn")
    person.status = "Withdrawn"
    db.session.commit()
    return person


def _other_region(world, manager, group):  # type: ignore[no-untyped-def]
    return world.referral(world.region("LDN", "London"), "Larry London")


@pytest.mark.parametrize(("make", "message"), [
    (_full, "Group G1 is full (12 people)"),
    (_wrong_sex, "Group G1 is a male group and Fay Female is female"),
    (_wrong_cohort, "Group G1 is for the general offence cohort and Sam Cohort is in the sexual offence cohort"),
    (_in_another_group, "Al Ready is already in group OTHER. Remove them from it first."),
    (_closed, "Wendy Withdrawn's referral is closed (Withdrawn)"),
    (_other_region, "Larry London is in another region"),
])
def test_allocation_is_refused_clearly(world, manager, make, message):  # type: ignore[no-untyped-def]
    group = world.group(manager, "G1")
    person = make(world, manager, group)
    members_before = membership.member_count(group)
    with pytest.raises(ServiceError) as refused:
        membership.allocate(manager, group, person)
    assert refused.value.message == message
    db.session.rollback()
    assert membership.member_count(group) == members_before
    assert db.session.scalar(select(func.count(Membership.id)).where(Membership.referral_id == person.id,
                                                                      Membership.group_id == group.id)) == 0


def test_allocating_someone_twice_to_the_same_group_is_refused(world, manager):  # type: ignore[no-untyped-def]
    group = world.group(manager, "G1")
    person = world.referral(manager.region, "Twice Over")
    membership.allocate(manager, group, person)
    with pytest.raises(ServiceError, match="Twice Over is already in this group"):
        membership.allocate(manager, group, person)


def test_a_group_with_no_sessions_left_takes_nobody(world, manager):  # type: ignore[no-untyped-def]
    group = world.started(world.group(manager, "OLD", start=date(2025, 1, 7)), manager)
    clock.freeze(datetime(2026, 6, 1, 12))
    with pytest.raises(ServiceError, match="Group OLD has no sessions left"):
        membership.allocate(manager, group, world.referral(manager.region))


def test_the_database_allows_one_active_membership_per_person(world, manager):  # type: ignore[no-untyped-def]
    from sqlalchemy.exc import IntegrityError

    person = world.referral(manager.region)
    membership.allocate(manager, world.group(manager, "A"), person)
    db.session.add(Membership(group=world.group(manager, "B"), referral=person))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


# ---------------------------------------------------------------------------------------------------- removal

def test_removing_someone_cancels_future_appointments_and_keeps_their_history(world, manager):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 3, 1, 9))
    person, other = world.referral(manager.region, "Lee Leaving"), world.referral(manager.region)
    group = world.group(manager, "G1", start=date(2026, 3, 3), slots=(TUESDAY,))
    membership.allocate(manager, group, person)
    membership.allocate(manager, group, other)
    world.started(group, manager)
    clock.freeze(datetime(2026, 4, 22, 12))  # 1.1, 2.1, 2.2, 2.3, 3.1, 3.2 have happened
    complete(manager, group, person, KEYS[:6])
    member = membership.active_membership(person)

    result = membership.remove(manager, member, reason="Moved to another area", new_status="Awaiting allocation")

    assert result.sessions == 21
    assert member.left_at is not None and member.left_reason == "Moved to another area"
    assert member.left_status == "Awaiting allocation" and member.removed_by_id == manager.id
    assert person.status == "Awaiting allocation"
    assert future_attendees(group, person) == []
    deletes = db.session.scalar(select(func.count(OutboxItem.id)).join(NDeliusAppointment).join(Attendee)
                                .where(Attendee.referral_id == person.id, OutboxItem.action == "delete"))
    assert deletes == 21
    # history stays: six past sessions with their attendance, progress and completion
    assert db.session.scalar(select(func.count(Attendance.id)).join(Attendee)
                             .where(Attendee.referral_id == person.id)) == 6
    assert db.session.get(ReferralProgress, person.id).sessions_completed == 6
    # a future session no longer expects them, the other member is unaffected
    next_session = db.session.scalar(select(Session).where(Session.group_id == group.id,
                                                           Session.starts_at > clock.now_local())
                                     .order_by(Session.starts_at).limit(1))
    assert [a.referral_id for a in next_session.attendees] == [other.id]
    assert len(future_attendees(group, other)) == 21
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "membership.removed"))
    assert event.before == {"status": "On programme"} and event.after["appointments_deleted"] == 21


def test_removing_someone_cancels_a_future_one_to_one_booked_only_for_them(world, manager):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 3, 1, 9))
    person = world.referral(manager.region)
    group = world.group(manager, "G1", start=date(2026, 3, 3), slots=(TUESDAY,))
    member = membership.allocate(manager, group, person).membership
    world.started(group, manager)
    placeholder = db.session.scalars(select(Session).where(Session.group_id == group.id)
                                     .order_by(Session.starts_at)).all()[3]  # 2.3, a one-to-one placeholder
    own = Session(group_id=group.id, session_template_id=placeholder.session_template_id, kind="one_to_one",
                  parent_id=placeholder.id, starts_at=placeholder.starts_at + timedelta(days=1),
                  ends_at=placeholder.starts_at + timedelta(days=1, hours=1))
    db.session.add(own)
    db.session.add(Attendee(session=own, referral_id=person.id, membership_id=member.id))
    db.session.commit()

    result = membership.remove(manager, member, reason="Deferred by the court", new_status="Deferred")

    assert result.cancelled == 1
    assert db.session.get(Session, own.id).status == "cancelled"


def test_removal_needs_a_reason_and_a_known_status(world, manager):  # type: ignore[no-untyped-def]
    person = world.referral(manager.region)
    member = membership.allocate(manager, world.group(manager), person).membership
    with pytest.raises(ServiceError, match="Enter why they are leaving the group"):
        membership.remove(manager, member, reason="  ", new_status="Deferred")
    with pytest.raises(ServiceError, match="Choose their new status"):
        membership.remove(manager, member, reason="x", new_status="On programme")


def test_someone_who_left_can_come_back_to_the_same_group(world, manager):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 3, 1, 9))
    person = world.referral(manager.region)
    group = world.group(manager, "G1", start=date(2026, 3, 3), slots=(TUESDAY,))
    first = membership.allocate(manager, group, person).membership
    world.started(group, manager)
    membership.remove(manager, first, reason="Unwell", new_status="Awaiting allocation")
    clock.freeze(datetime(2026, 3, 2, 9))

    again = membership.allocate(manager, group, person)

    assert again.sessions == 27 and len(future_attendees(group, person)) == 27
    assert {a.membership_id for a in future_attendees(group, person)} == {again.membership.id}
    creates = db.session.scalar(select(func.count(OutboxItem.id)).join(NDeliusAppointment).join(Attendee)
                                .where(Attendee.referral_id == person.id, OutboxItem.action == "create"))
    assert creates == 27 * 2


# ---------------------------------------------------------------------------------------------- bus stopping

@pytest.fixture
def left_after_3_2(world, manager):  # type: ignore[no-untyped-def]
    """Someone who completed 1.1 to 3.2 in group A and left it on Wednesday 22 April 2026."""
    clock.freeze(datetime(2026, 3, 1, 9))
    person = world.referral(manager.region, "Bo Stop")
    group = world.group(manager, "A", start=date(2026, 3, 3), slots=(TUESDAY,))
    member = membership.allocate(manager, group, person).membership
    world.started(group, manager)
    clock.freeze(datetime(2026, 4, 22, 12))
    complete(manager, group, person, KEYS[:6])
    membership.remove(manager, member, reason="Moved house", new_status="Awaiting allocation")
    return person, group


def _codes(options):  # type: ignore[no-untyped-def]
    return [o.group.code for o in options]


def test_on_day_84_they_keep_their_place_and_on_day_85_they_restart(world, manager, left_after_3_2):  # type: ignore[no-untyped-def]
    person, _ = left_after_3_2
    day_84 = datetime(2026, 7, 15, 12)  # 22 April + 84 days
    clock.freeze(day_84)
    started_group(world, manager, "AT-3.3", now=day_84, next_index=6)
    world.group(manager, "NEW", start=date(2026, 8, 4), slots=(TUESDAY,))

    position, fitting, _ = bus_stop.find_groups(person)
    assert position.keeps_place and position.days_since_left == 84
    assert position.rejoin_until == date(2026, 7, 15) and position.resume == (3, 3)
    assert _codes(fitting) == ["AT-3.3"]

    clock.freeze(day_84 + timedelta(days=1))
    position, fitting, others = bus_stop.find_groups(person)
    assert not position.keeps_place and position.days_since_left == 85
    assert "more than 12 weeks (84 days), so they restart the programme from the beginning" in \
        position.restart_reason
    assert _codes(fitting) == ["NEW"]
    assert "they need a group at the start of the programme" in \
        next(o.reason for o in others if o.group.code == "AT-3.3")


def test_groups_earlier_in_the_same_module_fit_and_later_or_other_modules_do_not(world, manager, left_after_3_2):  # type: ignore[no-untyped-def]
    person, _ = left_after_3_2
    now = datetime(2026, 5, 11, 12)
    clock.freeze(now)
    for code, index in [("AT-2.3", 3), ("AT-3.1", 4), ("AT-3.2", 5), ("AT-3.3", 6), ("AT-3.4", 7), ("AT-4.1", 11)]:
        started_group(world, manager, code, now=now, next_index=index)
    world.group(manager, "NEW", start=date(2026, 6, 2), slots=(TUESDAY,))

    position, fitting, others = bus_stop.find_groups(person)

    assert position.resume == (3, 3) and position.resume_name == "Managing my feelings, part 1"
    assert _codes(fitting) == ["AT-3.3", "AT-3.2", "AT-3.1"]  # closest to their point first
    assert [o.fit.behind for o in fitting] == [0, 1, 2]
    assert fitting[2].repeats == ["3.1 Understanding my feelings", "3.2 Helpful and unhelpful feelings"]
    reasons = {o.group.code: o.reason for o in others}
    assert set(reasons) == {"A", "AT-2.3", "AT-3.4", "AT-4.1", "NEW"}  # A, the group they left, has moved on
    assert reasons["AT-3.4"] == ("Group AT-3.4 is at 3.4 Managing my feelings, part 2; they need 3.3 Managing my "
                                 "feelings, part 1 or an earlier session of module 3")
    assert reasons["NEW"].startswith("Group NEW has not started")


def test_the_resume_point_crosses_into_the_next_module_when_a_module_is_finished(world, manager):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 3, 1, 9))
    person = world.referral(manager.region)
    group = world.group(manager, "A", start=date(2026, 3, 3), slots=(TUESDAY,))
    member = membership.allocate(manager, group, person).membership
    world.started(group, manager)
    clock.freeze(datetime(2026, 4, 15, 12))  # 1.1 to 3.1 have happened
    complete(manager, group, person, KEYS[:4])  # all of modules 1 and 2, not 3.1
    membership.remove(manager, member, reason="Ill", new_status="Awaiting allocation")
    now = datetime(2026, 5, 11, 12)
    clock.freeze(now)
    for code, index in [("AT-2.2", 2), ("AT-2.3", 3), ("AT-3.1", 4), ("AT-3.2", 5)]:
        started_group(world, manager, code, now=now, next_index=index)

    position, fitting, _ = bus_stop.find_groups(person)

    assert position.resume == (3, 1)
    assert _codes(fitting) == ["AT-3.1"]  # the end of module 2 is not "earlier in the same module"


def test_a_gap_in_completion_sets_the_resume_point_to_the_first_missed_session(world, manager):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 3, 1, 9))
    person = world.referral(manager.region)
    group = world.group(manager, "A", start=date(2026, 3, 3), slots=(TUESDAY,))
    member = membership.allocate(manager, group, person).membership
    world.started(group, manager)
    clock.freeze(datetime(2026, 4, 29, 12))
    complete(manager, group, person, [(1, 1), (2, 1), (2, 2), (2, 3), (3, 1), (3, 3)])  # missed 3.2
    membership.remove(manager, member, reason="Ill", new_status="Awaiting allocation")
    assert bus_stop.position_of(person).resume == (3, 2)


def test_joining_another_group_keeps_every_completed_session_and_adds_future_ones_only(world, manager, left_after_3_2):  # type: ignore[no-untyped-def]
    person, old_group = left_after_3_2
    now = datetime(2026, 5, 11, 12)
    clock.freeze(now)
    new_group = started_group(world, manager, "B", now=now, next_index=6)
    _, fitting, _ = bus_stop.find_groups(person)
    assert _codes(fitting) == ["B"]

    result = membership.allocate(manager, new_group, person)

    assert result.sessions == 21  # 3.3 onwards
    assert db.session.scalar(select(func.count(Attendee.id)).join(Session).where(
        Session.group_id == new_group.id, Attendee.referral_id == person.id, Session.starts_at < now)) == 0
    assert db.session.get(ReferralProgress, person.id).sessions_completed == 6
    # they attend 3.3 in the new group: seven completed, six of them from the old group
    clock.freeze(datetime(2026, 5, 12, 13))
    complete(manager, new_group, person, [(3, 3)])
    progress = db.session.get(ReferralProgress, person.id)
    assert progress.sessions_completed == 7 and progress.percent == 7 * 100 // 27
    groups_of_completion = db.session.scalars(
        select(Session.group_id).join(Attendee, Attendee.session_id == Session.id)
        .join(TemplateCompletion, TemplateCompletion.attendee_id == Attendee.id)
        .where(TemplateCompletion.referral_id == person.id)).all()
    assert sorted(groups_of_completion) == sorted([old_group.id] * 6 + [new_group.id])
    assert bus_stop.position_of(person).last_membership.group_id == old_group.id


def test_someone_never_in_a_group_starts_from_the_beginning(world, manager):  # type: ignore[no-untyped-def]
    now = datetime(2026, 5, 11, 12)
    clock.freeze(now)
    started_group(world, manager, "AT-1.1", now=now, next_index=0)
    started_group(world, manager, "AT-2.1", now=now, next_index=1)
    world.group(manager, "NEW", start=date(2026, 6, 2), slots=(TUESDAY,))
    position, fitting, _ = bus_stop.find_groups(world.referral(manager.region))
    assert position.restarts and "have not been in a group before" in position.restart_reason
    assert _codes(fitting) == ["AT-1.1", "NEW"]


def test_only_groups_of_the_region_are_offered(world, manager, left_after_3_2):  # type: ignore[no-untyped-def]
    person, _ = left_after_3_2
    now = datetime(2026, 5, 11, 12)
    clock.freeze(now)
    london = world.region("LDN", "London")
    started_group(world, world.user(london, "treatment_manager"), "LDN-3.3", now=now, next_index=6)
    _, fitting, others = bus_stop.find_groups(person)
    assert "LDN-3.3" not in _codes(fitting) + _codes(others)
