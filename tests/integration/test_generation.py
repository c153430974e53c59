from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app import clock
from app.extensions import db
from app.models import (
    Attendee,
    AuditEvent,
    Membership,
    Operation,
    OutboxItem,
    Referral,
    Session,
    SessionFacilitator,
)
from app.scheduling import Slot
from app.services.bank_holidays import holiday_dates


@pytest.fixture
def manager(world):  # type: ignore[no-untyped-def]
    return world.user(world.region(), "treatment_manager")


def test_starting_a_group_schedules_every_session_by_the_worked_example(world, manager):  # type: ignore[no-untyped-def]
    people = tuple(world.referral(manager.region) for _ in range(3))
    group = world.started(world.group(manager, members=people), manager)

    sessions = db.session.scalars(select(Session).where(Session.group_id == group.id)
                                  .order_by(Session.starts_at)).all()
    assert len(sessions) == 27
    assert [s.starts_at for s in sessions[:5]] == [
        datetime(2026, 3, 23, 10), datetime(2026, 4, 13, 10), datetime(2026, 4, 20, 10),
        datetime(2026, 4, 27, 10), datetime(2026, 5, 11, 10),  # 4 May is a bank holiday
    ]
    assert sessions[0].ends_at == datetime(2026, 3, 23, 11)
    assert sessions[1].ends_at == datetime(2026, 4, 13, 12, 30)
    assert sessions[-1].starts_at == datetime(2026, 11, 30, 10)  # six weeks after the last group session
    assert group.started_at is not None
    assert db.session.scalar(select(func.count(Attendee.id))) == 27 * 3
    assert db.session.scalar(select(func.count(OutboxItem.id)).where(OutboxItem.action == "create")) == 81
    leads = db.session.scalar(select(func.count(SessionFacilitator.id)).where(SessionFacilitator.role == "lead"))
    assert leads == 27
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "group.schedule_generated"))


def test_running_the_generation_twice_does_not_create_a_second_schedule(world, manager):  # type: ignore[no-untyped-def]
    group = world.group(manager)
    world.started(group, manager)
    world.started(group, manager)
    assert db.session.scalar(select(func.count(Session.id)).where(Session.group_id == group.id)) == 27


def test_the_database_refuses_a_second_generated_copy_of_a_session(world, manager):  # type: ignore[no-untyped-def]
    group = world.started(world.group(manager), manager)
    first = db.session.scalars(select(Session).where(Session.group_id == group.id)).first()
    db.session.add(Session(group_id=group.id, session_template_id=first.session_template_id, kind="scheduled",
                           starts_at=datetime(2027, 1, 4, 10), ends_at=datetime(2027, 1, 4, 11)))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_a_referral_needs_exactly_one_of_requirement_or_licence_condition(world):  # type: ignore[no-untyped-def]
    region = world.region()
    db.session.add(Referral(region_id=region.id, crn="X1", person_name="A", sex="male", cohort="general",
                            requirement_id=1, licence_condition_id=2))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.add(Referral(region_id=region.id, crn="X2", person_name="B", sex="male", cohort="general"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_a_referral_has_at_most_one_active_membership(world, manager):  # type: ignore[no-untyped-def]
    person = world.referral(manager.region)
    world.group(manager, "A", members=(person,))
    second = world.group(manager, "B")
    db.session.add(Membership(group_id=second.id, referral_id=person.id))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_a_session_has_exactly_one_lead_facilitator(world, manager):  # type: ignore[no-untyped-def]
    group = world.started(world.group(manager), manager)
    session = db.session.scalars(select(Session).where(Session.group_id == group.id)).first()
    other = world.facilitator(manager.region)
    db.session.add(SessionFacilitator(session_id=session.id, facilitator_id=other.id, role="lead"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_bank_holidays_come_from_the_database_and_the_library_beyond_it(app):  # type: ignore[no-untyped-def]
    holidays = holiday_dates(date(2026, 1, 1), years_ahead=12)
    assert date(2026, 4, 6) in holidays and date(2026, 5, 4) in holidays
    assert date(2026, 4, 7) not in holidays
    assert date(2038, 4, 26) in holidays  # Easter Monday beyond the snapshot: the holidays library


def test_two_weekly_slots_fill_in_time_order(world, manager):  # type: ignore[no-untyped-def]
    group = world.group(manager, start=date(2026, 3, 23), slots=(Slot(0, time(10)), Slot(3, time(14))))
    world.started(group, manager)
    first = db.session.scalars(select(Session.starts_at).where(Session.group_id == group.id)
                               .order_by(Session.starts_at).limit(4)).all()
    # pre-group Mon 23 Mar; restart on/after 13 Apr: Mon 13 Apr, Thu 16 Apr, Mon 20 Apr
    assert first == [datetime(2026, 3, 23, 10), datetime(2026, 4, 13, 10), datetime(2026, 4, 16, 14),
                     datetime(2026, 4, 20, 10)]


def test_demo_seed_is_idempotent(app):  # type: ignore[no-untyped-def]
    from app import demo

    assert demo.seed() is True
    counts = {t.name: db.session.execute(select(func.count()).select_from(t)).scalar()
              for t in db.metadata.sorted_tables}
    assert demo.seed() is False
    again = {t.name: db.session.execute(select(func.count()).select_from(t)).scalar()
             for t in db.metadata.sorted_tables}
    assert counts == again
    assert counts["referral"] >= 30 and counts["region"] == 2


@pytest.mark.parametrize("today", [datetime(2026, 12, 1, 9, 0), datetime(2027, 3, 15, 16, 0)])  # a Tuesday, a Monday
def test_the_demo_is_built_around_the_day_it_runs(app, today):  # type: ignore[no-untyped-def]
    """Issue 15.8: a session today and one earlier this week for each demo facilitator, groups at every stage,
    a waiting list that fits, someone who left 5 weeks ago and someone 14 weeks ago, and every past outcome
    recorded but one (the one thing that needs attention)."""
    from app import demo
    from app.models import Attendance, Attendee, Group, Membership, User

    def sessions_of(group):  # type: ignore[no-untyped-def]
        return list(db.session.scalars(select(Session).where(Session.group_id == group.id)))

    clock.freeze(today)
    assert demo.seed() is True
    now = clock.now_local()
    for username in ("fac.nw", "fac.ldn"):
        facilitator_id = db.session.scalar(select(User.facilitator_id).filter_by(username=username))
        led = [g for g in db.session.scalars(select(Group)) if g.lead_facilitator
               and g.lead_facilitator.id == facilitator_id and g.started_at is not None]
        days = {s.starts_at.date() for g in led for s in sessions_of(g) if s.kind == "scheduled"}
        assert now.date() in days, username
        assert any(now.date() - timedelta(days=6) <= d < now.date() for d in days), username
    by_code = {g.code: g for g in db.session.scalars(select(Group))}
    assert by_code["BCNW1"].started_at is None  # not started
    early = sorted(sessions_of(by_code["BCNW2"]), key=lambda s: s.starts_at)
    assert early[0].starts_at < now < early[1].starts_at  # in its pre-group one-to-ones
    finished = max(s.starts_at for s in sessions_of(by_code["BCNW4"]))
    assert finished.date() < now.date().replace(day=1) and finished.date() >= (
        now.date().replace(day=1) - timedelta(days=31)).replace(day=1)  # finished last month
    assert any(s.kind == "catch_up" for s in sessions_of(by_code["BCNW3"]))
    left = sorted((now.date() - m.left_at.astimezone(clock.LONDON).date()).days
                  for m in db.session.scalars(select(Membership).where(Membership.left_at.is_not(None))))
    assert 35 in left and 98 in left
    unrecorded = db.session.scalar(
        select(func.count(Attendee.id)).join(Session, Session.id == Attendee.session_id)
        .outerjoin(Attendance, Attendance.attendee_id == Attendee.id)
        .where(Session.ends_at < now, Session.status == "scheduled", Attendee.removed_at.is_(None),
               Attendance.id.is_(None)))
    assert unrecorded == 2  # one example in each region's mid-programme group
    waiting = db.session.scalar(select(func.count()).select_from(
        select(demo.Referral.id).where(demo.Referral.status == "Awaiting allocation", demo.Referral.sex == "male",
                                       demo.Referral.cohort == "general").subquery()))
    assert waiting >= 5  # people who fit the groups (male, general) are waiting
    assert demo.seed() is False


@pytest.fixture
def nia_booked_on_monday_13_april(world, manager):  # type: ignore[no-untyped-def]
    """Nia leads BC2 on Tuesdays in Leeds; BC2's 2.1 was moved to Monday 13 April 11:00–13:30."""
    nia = world.facilitator(manager.region, "Nia New")
    bc2 = world.started(world.group(manager, "BC2", slots=(Slot(1, time(10)),), lead=nia,
                                    location="Merrion House, Leeds"), manager)
    moved = next(s for s in db.session.scalars(select(Session).where(Session.group_id == bc2.id))
                 if s.session_template.label == "2.1")
    moved.starts_at, moved.ends_at = datetime(2026, 4, 13, 11), datetime(2026, 4, 13, 13, 30)
    db.session.commit()
    return nia, moved


def test_starting_a_group_lists_its_facilitators_double_bookings_with_where(world, manager,  # type: ignore[no-untyped-def]
                                                                            nia_booked_on_monday_13_april):
    from app.services import facilitators, schedule

    nia, moved = nia_booked_on_monday_13_april
    fran = world.facilitator(manager.region, "Fran Lead")
    bc1 = world.group(manager, "BC1", lead=fran)  # Mondays 10:00 from 23 March: 2.1 is 13 April 10:00–12:30
    facilitators.change_group_facilitators(manager, bc1, fran.id, [nia.id])

    world.started(bc1, manager)

    operation = db.session.scalar(select(Operation).where(Operation.group_id == bc1.id))
    ours = next(s for s in db.session.scalars(select(Session).where(Session.group_id == bc1.id))
                if s.session_template.label == "2.1")
    text = ("Nia New is already booked on group BC2, 2.1 Introduction to Building Choices, Mon 13 Apr 2026 "
            "11:00–13:30 at Merrion House, Leeds")
    assert operation.status == "succeeded"
    assert operation.message == "27 sessions scheduled, 23 Mar 2026 to 30 Nov 2026; 1 facilitator double booking to check"
    assert operation.result == {"sessions": 27, "clashes": [
        {"facilitator_id": nia.id, "booked_id": moved.id, "wanted_id": ours.id, "text": text}]}
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "group.schedule_generated",
                                                       AuditEvent.group_id == bc1.id))
    assert event.after["double_bookings"] == [text]

    shown = schedule.start_clashes(operation)
    assert shown.message == "Nia New is already booked at the same time as sessions of this group"
    assert [c.line for c in shown.clashes] == [f"{text} – overlaps 2.1 at 10:00"]

    # Resolved (another cover for that session): no longer listed.
    facilitators.change_session_facilitators(manager, ours, fran.id, [])
    assert not schedule.start_clashes(operation)


def test_starting_a_group_whose_facilitators_are_free_lists_no_double_booking(world, manager,  # type: ignore[no-untyped-def]
                                                                             nia_booked_on_monday_13_april):
    from app.services import schedule

    bc1 = world.started(world.group(manager, "BC1"), manager)  # another facilitator leads it
    operation = db.session.scalar(select(Operation).where(Operation.group_id == bc1.id))
    assert operation.result == {"sessions": 27, "clashes": []}
    assert operation.message == "27 sessions scheduled, 23 Mar 2026 to 30 Nov 2026"
    assert not schedule.start_clashes(operation)
