"""Changing a group's or a session's facilitators; double bookings are reported by name (issue 6)."""
from __future__ import annotations

from datetime import date, datetime, time

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import (
    AuditEvent,
    GroupFacilitator,
    NDeliusAppointment,
    OutboxItem,
    Session,
    SessionFacilitator,
)
from app.scheduling import Slot
from app.services import facilitators as service
from app.services.errors import ServiceError

NOW = datetime(2026, 5, 1, 12)  # Friday: 1.1, 2.1, 2.2, 2.3 of a group starting 23 March have happened


@pytest.fixture
def team(world):  # type: ignore[no-untyped-def]
    region = world.region()
    manager = world.user(region, "treatment_manager")
    return {
        "manager": manager,
        "fran": world.facilitator(region, "Fran Lead"),
        "cal": world.facilitator(region, "Cal Cover"),
        "nia": world.facilitator(region, "Nia New"),
        "people": tuple(world.referral(region) for _ in range(2)),
    }


@pytest.fixture
def group(world, team):  # type: ignore[no-untyped-def]
    g = world.group(team["manager"], "BC1", start=date(2026, 3, 23), lead=team["fran"], members=team["people"])
    service.change_group_facilitators(team["manager"], g, team["fran"].id, [team["cal"].id])
    world.started(g, team["manager"])
    clock.freeze(NOW)
    return g


def _sessions(group):  # type: ignore[no-untyped-def]
    return db.session.scalars(select(Session).where(Session.group_id == group.id).order_by(Session.starts_at)).all()


def _team(session):  # type: ignore[no-untyped-def]
    db.session.refresh(session)
    return (session.lead_facilitator.name, tuple(sorted(sf.facilitator.name for sf in session.facilitators
                                                        if sf.role == "cover")))


def _updates():  # type: ignore[no-untyped-def]
    return db.session.scalar(select(func.count(OutboxItem.id)).where(OutboxItem.action == "update"))


def test_a_new_lead_reaches_future_sessions_only_and_updates_their_ndelius_appointments(group, team):  # type: ignore[no-untyped-def]
    changed = service.change_group_facilitators(team["manager"], group, team["nia"].id, [team["cal"].id])

    sessions = _sessions(group)
    past = [s for s in sessions if s.starts_at < NOW]
    future = [s for s in sessions if s.starts_at > NOW]
    assert len(past) == 4 and changed.sessions == len(future) == 23
    assert {_team(s) for s in past} == {("Fran Lead", ("Cal Cover",))}
    assert {_team(s) for s in future} == {("Nia New", ("Cal Cover",))}
    assert changed.appointments == _updates() == 23 * 2  # two members
    pending = db.session.scalars(select(NDeliusAppointment.sync_state).join(OutboxItem)
                                 .where(OutboxItem.action == "update")).all()
    assert set(pending) == {"pending"}
    assert group.lead_facilitator.name == "Nia New"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "group.facilitators_changed")
                              .order_by(AuditEvent.id.desc()).limit(1))
    assert event.before == {"lead": "Fran Lead", "cover": ["Cal Cover"]}
    assert event.after["lead"] == "Nia New" and event.after["future_sessions"] == 23


def test_swapping_lead_and_cover_keeps_one_lead_per_session(group, team):  # type: ignore[no-untyped-def]
    service.change_group_facilitators(team["manager"], group, team["cal"].id, [team["fran"].id])
    future = [s for s in _sessions(group) if s.starts_at > NOW]
    assert {_team(s) for s in future} == {("Cal Cover", ("Fran Lead",))}
    assert db.session.scalar(select(func.count(GroupFacilitator.id)).where(
        GroupFacilitator.group_id == group.id, GroupFacilitator.role == "lead")) == 1


def test_a_cover_change_alone_does_not_touch_ndelius(group, team):  # type: ignore[no-untyped-def]
    changed = service.change_group_facilitators(team["manager"], group, team["fran"].id,
                                                [team["cal"].id, team["nia"].id])
    assert changed.sessions == 23 and changed.appointments == 0 and _updates() == 0
    future = [s for s in _sessions(group) if s.starts_at > NOW]
    assert {_team(s) for s in future} == {("Fran Lead", ("Cal Cover", "Nia New"))}


def test_a_session_changed_on_its_own_keeps_its_lead_when_the_group_lead_changes(group, team, world):  # type: ignore[no-untyped-def]
    other = world.facilitator(team["manager"].region, "Oli Own")
    special = [s for s in _sessions(group) if s.starts_at > NOW][3]
    service.change_session_facilitators(team["manager"], special, other.id, [team["cal"].id])

    service.change_group_facilitators(team["manager"], group, team["nia"].id, [])

    assert _team(special) == ("Oli Own", ())
    assert {_team(s) for s in _sessions(group) if s.starts_at > NOW and s.id != special.id} == {("Nia New", ())}


def test_changing_one_sessions_lead_updates_only_its_appointments(group, team):  # type: ignore[no-untyped-def]
    session = next(s for s in _sessions(group) if s.starts_at > NOW)
    changed = service.change_session_facilitators(team["manager"], session, team["nia"].id, [team["fran"].id])
    assert _team(session) == ("Nia New", ("Fran Lead",))
    assert changed.appointments == _updates() == 2
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "session.facilitators_changed"))


def test_a_double_booking_is_reported_naming_the_group_session_and_time_and_nothing_is_saved(group, team, world):  # type: ignore[no-untyped-def]
    other = world.started(world.group(team["manager"], "BC2", start=date(2026, 3, 23), lead=team["nia"],
                                      slots=(Slot(0, time(11)),)), team["manager"])
    session = next(s for s in _sessions(group) if s.starts_at > NOW)  # Monday 11 May 10:00-12:30

    with pytest.raises(service.FacilitatorClash) as clash:
        service.change_session_facilitators(team["manager"], session, team["nia"].id, [])
    db.session.rollback()

    assert clash.value.message == "Nia New is already booked at the same time"
    assert [c.text for c in clash.value.clashes] == [
        "Nia New is already booked on group BC2, 3.1 Understanding my feelings, Mon 11 May 2026 11:00–13:30 at Room 1"]
    assert _team(session) == ("Fran Lead", ("Cal Cover",))

    changed = service.change_session_facilitators(team["manager"], session, team["nia"].id, [],
                                                  accepted=clash.value.key)
    assert _team(session) == ("Nia New", ()) and len(changed.clashes) == 1
    assert other.id != group.id


def test_accepting_one_clash_does_not_accept_a_different_one(group, team, world):  # type: ignore[no-untyped-def]
    world.started(world.group(team["manager"], "BC2", start=date(2026, 3, 23), lead=team["nia"]), team["manager"])
    with pytest.raises(service.FacilitatorClash) as first:
        service.change_group_facilitators(team["manager"], group, team["nia"].id, [])
    db.session.rollback()
    assert len(first.value.clashes) == 23  # every future session overlaps BC2's
    with pytest.raises(service.FacilitatorClash):
        service.change_group_facilitators(team["manager"], group, team["fran"].id, [team["nia"].id],
                                          accepted="1:2:3")
    db.session.rollback()


def test_a_team_must_have_a_lead_who_is_not_also_cover_and_from_the_region(group, team, world):  # type: ignore[no-untyped-def]
    stranger = world.facilitator(world.region("LDN", "London"), "Lon Don")
    with pytest.raises(ServiceError, match="Choose a lead facilitator"):
        service.change_group_facilitators(team["manager"], group, None, [])
    with pytest.raises(ServiceError, match="cannot also be a cover"):
        service.change_group_facilitators(team["manager"], group, team["fran"].id, [team["fran"].id])
    with pytest.raises(ServiceError, match="Choose facilitators from the group's region"):
        service.change_group_facilitators(team["manager"], group, stranger.id, [])


def test_a_facilitators_sessions_are_grouped_by_week(group, team):  # type: ignore[no-untyped-def]
    weeks = service.sessions_by_week(team["cal"])
    assert weeks[0].starts_on == date(2026, 4, 27)  # this week (Friday 1 May): Monday's 2.3 is shown
    assert all(w.starts_on.weekday() == 0 for w in weeks)
    assert sum(len(w.sessions) for w in weeks) == 24
    assert {role for w in weeks for _, role in w.sessions} == {"cover"}
    past = service.sessions_by_week(team["cal"], past=True)
    assert sum(len(w.sessions) for w in past) == 3


def test_every_session_keeps_exactly_one_lead(group, team):  # type: ignore[no-untyped-def]
    service.change_group_facilitators(team["manager"], group, team["cal"].id, [team["nia"].id, team["fran"].id])
    service.change_group_facilitators(team["manager"], group, team["fran"].id, [])
    leads = db.session.execute(select(SessionFacilitator.session_id, func.count()).where(
        SessionFacilitator.role == "lead").group_by(SessionFacilitator.session_id)).all()
    assert len(leads) == 27 and {n for _, n in leads} == {1}
