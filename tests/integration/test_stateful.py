"""A model-based test of the core (issue 12 item 9): a hypothesis state machine interleaves what users and the
world do to one running group — taps on the register, postpones (cascade or not, later or earlier), changes of
days and times, one-to-one and catch-up bookings, removals and allocations, the clock moving on, a worker killed
part-way through a stored plan and the recovery that carries it on, Redis flushed, the fake nDelius down and
back — and after every step checks what must always hold:

- no session that has started or has attendance has moved since;
- a postpone that moves a session later never plans any session earlier (the push rule);
- the rules of SPEC §3 the group must keep: every active member expected at every future session and nobody
  who left, one lead per session, at most one booking per person per one-to-one, no session on a bank holiday
  or inside the 6-week gap before the post-programme review unless a person confirmed it;
- the stored progress equals a recomputation from attendance;
- once the outbox is drained, the fake nDelius holds exactly one appointment per live attendee, with our
  dates and times, and no duplicates (checked at the end of every run).

`make test` runs a bounded number of examples on each database; `pytest --slow` runs many more.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from redis import Redis
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import (
    Attendance,
    Attendee,
    Group,
    Membership,
    NDeliusAppointment,
    Operation,
    OperationStep,
    Referral,
    Session,
    SessionFacilitator,
)
from app.models.base import utcnow
from app.scheduling import Slot
from app.services import attendance, catch_ups, membership, ndelius_sync, one_to_ones, progress, reschedule
from app.services.bank_holidays import holiday_dates
from app.services.errors import ServiceError
from tests.conftest import REDIS_URL, _empty_tables
from tests.factories import World
from tests.fakes.ndelius import start_fake_ndelius

CLOCK_START = datetime(2026, 5, 20, 9, 0)
GROUP_START = date(2026, 5, 25)  # a bank holiday Monday: the first session is on 1 June
SLOTS = (Slot(0, time(10)), Slot(3, time(14)))  # Mondays 10:00 and Thursdays 14:00
OUTCOMES = ("ATTC", "AFTC", "UAAB", "AAME")
FAR = timedelta(days=3650)

DEFAULT = {"max_examples": 6, "stateful_step_count": 14}
SLOW = {"max_examples": 150, "stateful_step_count": 40}


@pytest.fixture(scope="module")
def fake():  # type: ignore[no-untyped-def]
    server = start_fake_ndelius()
    yield server
    server.stop()


class Core(RuleBasedStateMachine):
    """One group, its people and its schedule; the model keeps only what the database cannot tell after the
    fact (what had started or had attendance, which moves a person confirmed, which plans were pushes)."""

    app: Any = None
    fake: Any = None
    runs: ClassVar[list[int]] = []  # steps per example, for the report

    def __init__(self) -> None:
        super().__init__()
        db.session.rollback()
        _empty_tables()
        Redis.from_url(REDIS_URL).flushdb()
        assert self.fake.wait_idle()
        self.fake.reset()
        clock.freeze(CLOCK_START)
        self._follow_clock()
        world = World()
        region = world.region()
        self.manager = world.user(region, "treatment_manager")
        people = tuple(world.referral(region) for _ in range(2))
        self.waiting = [world.referral(region).id for _ in range(2)]
        group = world.started(world.group(self.manager, "SM1", start=GROUP_START, slots=SLOTS, members=people),
                              self.manager)
        self.group_id = group.id
        self.lead_id = world.facilitator(region, "Cover Person").id  # a second facilitator in the region
        self.frozen: dict[int, tuple[datetime, datetime]] = {}
        self.confirmed: set[int] = set()  # sessions a person confirmed onto a bank holiday or across a gap
        # Sessions that stay put where no plan could have known it: they started or had attendance recorded
        # while a stored plan was waiting (its late steps skip them), or had attendance when a change of days
        # and times re-placed the others (a re-slot asks for no confirmation).
        self.stayed_unforeseen: set[int] = set()
        self.pushes: set[int] = set()  # operations that moved their session later
        self.holidays = holiday_dates(GROUP_START, years_ahead=3)
        self.steps = 0
        self._freeze_what_happened()

    # --- helpers ----------------------------------------------------------------------------------------

    def _follow_clock(self) -> None:
        self.fake.set(now=clock.now_local().isoformat(timespec="minutes"))

    def _sessions(self, **where: Any) -> list[Session]:
        query = select(Session).where(Session.group_id == self.group_id).order_by(Session.starts_at, Session.id)
        for name, value in where.items():
            query = query.where(getattr(Session, name) == value)
        return list(db.session.scalars(query))

    def _future(self, kind: str = "scheduled") -> list[Session]:
        now = clock.now_local()
        return [s for s in self._sessions(kind=kind, status="scheduled") if s.starts_at > now]

    def _active_operation(self) -> Operation | None:
        return reschedule.active_reschedule(self.group_id)

    def _members(self) -> list[Membership]:
        return list(db.session.scalars(select(Membership).where(Membership.group_id == self.group_id,
                                                                Membership.left_at.is_(None))
                                       .order_by(Membership.id)))

    def _freeze_what_happened(self) -> None:
        """Remember every session that has started or has attendance: none of them may move again."""
        now = clock.now_local()
        with_attendance = self._with_attendance()
        pending = self._active_operation() is not None
        for session in self._sessions():
            if session.id not in self.frozen and (session.starts_at <= now or session.id in with_attendance):
                self.frozen[session.id] = (session.starts_at, session.ends_at)
                if pending:
                    self.stayed_unforeseen.add(session.id)

    def _with_attendance(self) -> set[int]:
        return set(db.session.scalars(
            select(Attendee.session_id).join(Attendance, Attendance.attendee_id == Attendee.id)))

    def _step_done(self) -> None:
        self.steps += 1
        db.session.rollback()
        self._freeze_what_happened()

    def _unchanged(self, before: dict[int, tuple[datetime, datetime]]) -> None:
        assert self._times() == before

    def _times(self) -> dict[int, tuple[datetime, datetime]]:
        db.session.expire_all()
        return {s.id: (s.starts_at, s.ends_at) for s in self._sessions()}

    # --- what the world does ----------------------------------------------------------------------------

    @rule(days=st.integers(0, 9), hours=st.sampled_from([0, 1, 5]))
    def time_passes(self, days: int, hours: int) -> None:
        clock.freeze(clock.now_local() + timedelta(days=days, hours=hours))
        self._follow_clock()
        self._step_done()

    @rule()
    def redis_is_flushed(self) -> None:
        Redis.from_url(REDIS_URL).flushdb()
        self._step_done()

    @rule(down=st.booleans())
    def ndelius_goes_down_or_comes_back(self, down: bool) -> None:
        self.fake.set(fail_5xx=10**6 if down else 0)
        self._step_done()

    @rule()
    def the_relay_drains(self) -> None:
        ndelius_sync.drain(breaker=False)
        self._step_done()

    @precondition(lambda self: self._active_operation() is not None)
    @rule(data=st.data())
    def a_worker_dies_part_way(self, data: st.DataObject) -> None:
        """The job applies some of the plan's steps, then its worker is killed (nothing after that step)."""
        operation = self._active_operation()
        assert operation is not None
        left = db.session.scalar(select(func.count(OperationStep.id)).where(
            OperationStep.operation_id == operation.id, OperationStep.applied_at.is_(None))) or 0
        for _ in range(data.draw(st.integers(0, max(0, left - 1)), label="steps before the kill")):
            reschedule.apply_next_step(operation.id)
        self._step_done()

    @precondition(lambda self: self._active_operation() is not None)
    @rule()
    def the_reschedule_is_carried_on(self) -> None:
        """The recovery path for a plan whose worker died or whose job Redis lost: the scheduler's watchdog
        (jobs.recovery) queues it again, without a person, and a worker finishes it."""
        from rq import SimpleWorker

        from jobs import recovery
        from jobs.enqueue import queue

        operation = self._active_operation()
        assert operation is not None
        operation_id = operation.id
        assert recovery.watch()["operations"] == 1
        q = queue()
        SimpleWorker([q], connection=q.connection).work(burst=True)
        db.session.expire_all()
        finished = db.session.get(Operation, operation_id)
        assert finished is not None and finished.status == "succeeded", finished and finished.error
        self._step_done()

    # --- what people do ---------------------------------------------------------------------------------

    @rule(data=st.data(), outcome=st.sampled_from(OUTCOMES))
    def a_facilitator_taps_the_register(self, data: st.DataObject, outcome: str) -> None:
        now = clock.now_local()
        sessions = [s for s in self._sessions(status="scheduled") if s.attendees
                    and (s.starts_at <= now or outcome == "AAME")]
        if not sessions:
            return
        session = data.draw(st.sampled_from(sessions), label="session")
        attendee = data.draw(st.sampled_from(session.attendees), label="attendee")
        current = attendee.attendance
        try:
            attendance.save_row(self.manager, attendee, attendance.RowInput(outcome=outcome),
                                seen_version=current.version if current else None, key=None)
        except ServiceError:
            db.session.rollback()
        self._step_done()

    @rule(data=st.data(), weeks=st.integers(-2, 3), days=st.integers(-3, 3),
          cascade=st.sampled_from([None, True, False]), confirm=st.booleans(), run=st.sampled_from(["all", "queued"]))
    def a_manager_postpones_a_session(self, data: st.DataObject, weeks: int, days: int, cascade: bool | None,
                                      confirm: bool, run: str) -> None:
        future = self._future() + self._future("one_to_one")
        if not future:
            return
        session = data.draw(st.sampled_from(future), label="session")
        new_start = session.starts_at + timedelta(weeks=weeks, days=days)
        if new_start == session.starts_at:
            return
        before = self._times()
        try:
            plan = reschedule.preview_postpone(self.manager, session, new_start, None, cascade)
            operation = reschedule.request_postpone(self.manager, session, new_start, None, cascade,
                                                    seen_fingerprint=plan.fingerprint, confirmed=confirm)
        except ServiceError:
            db.session.rollback()
            self._unchanged(before)
            self._step_done()
            return
        if plan.confirmations:
            assert confirm
            self.confirmed |= {m.session.id for m in plan.moves}
        if new_start > before[session.id][0]:
            self.pushes.add(operation.id)
        if run == "all":
            reschedule.apply_plan(operation.id)
        self._step_done()

    @rule(weekday=st.sampled_from([1, 2, 4]), at=st.sampled_from([time(10), time(14)]), run=st.booleans())
    def a_manager_changes_the_days_and_times(self, weekday: int, at: time, run: bool) -> None:
        group = db.session.get(Group, self.group_id)
        before = self._times()
        now = clock.now_local()
        recorded = {s.id for s in self._sessions() if s.id in self._with_attendance() and s.starts_at > now}
        try:
            operation = reschedule.request_reslot(self.manager, group, [Slot(weekday, at)], clock.today(),
                                                  group.version)
        except ServiceError:
            db.session.rollback()
            self._unchanged(before)
            self._step_done()
            return
        self.stayed_unforeseen |= recorded
        if operation is not None and run:
            reschedule.apply_plan(operation.id)
        self._step_done()

    @rule(data=st.data(), day=st.integers(0, 4), at=st.sampled_from([time(9), time(13), time(15, 30)]))
    def a_manager_books_a_one_to_one(self, data: st.DataObject, day: int, at: time) -> None:
        placeholders = [s for s in self._future() if s.session_template.session_type == "one_to_one"]
        if not placeholders:
            return
        placeholder = data.draw(st.sampled_from(placeholders), label="placeholder")
        if not placeholder.attendees:
            return
        attendee = data.draw(st.sampled_from(placeholder.attendees), label="person")
        before = self._times()
        try:
            one_to_ones.book(self.manager, placeholder, referral_id=attendee.referral_id,
                             on=placeholder.starts_at.date() + timedelta(days=day), at=at,
                             facilitator_id=placeholder.facilitators[0].facilitator_id)
        except ServiceError:
            db.session.rollback()
            self._unchanged(before)
        self._step_done()

    @rule(data=st.data(), day=st.integers(1, 10))
    def a_manager_books_a_catch_up(self, data: st.DataObject, day: int) -> None:
        missed = list(db.session.scalars(
            select(Session).join(Attendee, Attendee.session_id == Session.id)
            .join(Attendance, Attendance.attendee_id == Attendee.id)
            .where(Session.group_id == self.group_id, Attendance.outcome.in_(("UAAB", "AFTC")))
            .order_by(Session.id).distinct()))
        if not missed:
            return
        session = data.draw(st.sampled_from(missed), label="missed")
        people = [c.attendee.referral_id for c in catch_ups.candidates(session) if c.pending is None]
        if not people:
            return
        before = self._times()
        try:
            catch_ups.schedule(self.manager, session, referral_ids=people[:1],
                               on=clock.today() + timedelta(days=day), at=time(16),
                               facilitator_id=session.facilitators[0].facilitator_id)
        except ServiceError:
            db.session.rollback()
            self._unchanged(before)
        self._step_done()

    @rule(data=st.data())
    def a_manager_removes_someone(self, data: st.DataObject) -> None:
        members = self._members()
        if not members:
            return
        leaving = data.draw(st.sampled_from(members), label="member")
        try:
            membership.remove(self.manager, leaving, reason="Moved away", new_status="Awaiting allocation")
        except ServiceError:
            db.session.rollback()
        else:
            self.waiting.append(leaving.referral_id)
        self._step_done()

    @precondition(lambda self: bool(self.waiting))
    @rule(data=st.data())
    def a_manager_allocates_someone(self, data: st.DataObject) -> None:
        referral = db.session.get(Referral, data.draw(st.sampled_from(self.waiting), label="referral"))
        try:
            membership.allocate(self.manager, db.session.get(Group, self.group_id), referral)
        except ServiceError:
            db.session.rollback()
        else:
            self.waiting.remove(referral.id)
        self._step_done()

    # --- what must always hold --------------------------------------------------------------------------

    @invariant()
    def nothing_that_happened_has_moved(self) -> None:
        times = self._times()
        moved = {sid: (was, times.get(sid)) for sid, was in self.frozen.items() if times.get(sid) != was}
        assert not moved, f"sessions that had started or had attendance moved: {moved}"

    @invariant()
    def a_postpone_later_never_plans_a_session_earlier(self) -> None:
        if not self.pushes:
            return
        for step in db.session.scalars(select(OperationStep).where(OperationStep.operation_id.in_(self.pushes))):
            assert step.payload["new_starts_at"] >= step.payload["old_starts_at"], step.payload

    @invariant()
    def every_active_member_is_expected_at_every_future_session(self) -> None:
        now = clock.now_local()
        active = {m.referral_id for m in self._members()}
        for session in self._sessions(kind="scheduled", status="scheduled"):
            if session.starts_at <= now:
                continue
            expected = {a.referral_id for a in session.attendees}
            assert expected == active, (session.id, session.session_template.label, expected, active)
        for session in self._future("one_to_one") + self._future("catch_up"):
            assert {a.referral_id for a in session.attendees} <= active, (session.id, session.kind)

    @invariant()
    def every_session_has_one_lead(self) -> None:
        counts = dict(db.session.execute(
            select(Session.id, func.count(SessionFacilitator.id)).outerjoin(
                SessionFacilitator, (SessionFacilitator.session_id == Session.id) & (SessionFacilitator.role == "lead"))
            .where(Session.group_id == self.group_id, Session.status == "scheduled").group_by(Session.id)).all())
        assert set(counts.values()) <= {1}, counts

    @invariant()
    def nobody_is_booked_twice_for_one_one_to_one(self) -> None:
        seen: set[tuple[int | None, int]] = set()
        for booking in self._sessions(kind="one_to_one", status="scheduled"):
            for attendee in booking.attendees:
                key = (booking.parent_id, attendee.referral_id)
                assert key not in seen, key
                seen.add(key)

    @invariant()
    def no_session_on_a_bank_holiday_or_in_the_review_gap_unless_confirmed(self) -> None:
        scheduled = self._sessions(kind="scheduled", status="scheduled")
        for session in scheduled:
            if session.starts_at.date() in self.holidays:
                assert session.id in self.confirmed or session.id in self.frozen, session.id
        by_label = {s.session_template.label: s for s in scheduled}
        review, before = by_label.get("7.1"), by_label.get("6.3")
        if self._active_operation() is not None:
            return  # a plan part-way through moves the timeline one session at a time
        # A session with attendance recorded before a postpone is planned stays out of the plan, so breaking the
        # gap around it needs a confirmation like any other (this check once skipped every session that had
        # started or had attendance, and so hid plans that counted on moving them). Only what no plan could
        # foresee may break the gap unconfirmed: see stayed_unforeseen.
        if review and before and not ({review.id, before.id} & (self.confirmed | self.stayed_unforeseen)):
            assert review.starts_at.date() >= before.starts_at.date() + timedelta(days=42), (
                before.starts_at, review.starts_at, [(o.kind, (o.result or {}).get("not_moved")) for o in
                                                     db.session.scalars(select(Operation).order_by(Operation.id))])

    @invariant()
    def stored_progress_equals_a_recomputation(self) -> None:
        assert progress.verify() == []

    def teardown(self) -> None:
        """Drain to the end with nDelius up: it then holds exactly one appointment per live attendee."""
        try:
            self.fake.set(fail_5xx=0)
            ndelius_sync.sweep(utcnow() + FAR)
            for _ in range(5):
                result = ndelius_sync.drain(breaker=False, now=lambda: utcnow() + FAR)
                if not result.batches:
                    break
            db.session.expire_all()
            now = clock.now_local()
            live: dict[str, Session] = {}
            waiting_for_an_outcome: set[str] = set()
            for appointment, attendee, session in db.session.execute(
                select(NDeliusAppointment, Attendee, Session)
                .join(Attendee, Attendee.id == NDeliusAppointment.attendee_id)
                .join(Session, Session.id == Attendee.session_id).where(Session.group_id == self.group_id)
            ).all():
                if attendee.removed_at is not None or session.status != "scheduled":
                    continue
                reference = str(appointment.reference)
                live[reference] = session
                # nDelius takes no appointment in the past without an outcome: one never sent before its session
                # began waits, shown to a person ("record attendance"), until attendance is recorded
                outcome = attendee.attendance.outcome if attendee.attendance else None
                if session.starts_at <= now and outcome is None and appointment.sync_state == "needs_attention":
                    waiting_for_an_outcome.add(reference)
            held = self.fake.state()
            assert held["duplicates"] == []
            sent = set(held["appointments"])
            assert sent <= set(live), sent - set(live)  # nothing of ours left in nDelius that should be gone
            missing = set(live) - sent - waiting_for_an_outcome
            why = [(a.sync_state, a.last_error, live[str(a.reference)].starts_at)
                   for a in db.session.scalars(select(NDeliusAppointment)) if str(a.reference) in missing]
            assert not missing, (why, now)
            for reference in sent:
                session, found = live[reference], held["appointments"][reference]
                assert (found["date"], found["startTime"], found["endTime"]) == (
                    session.starts_at.date().isoformat(), f"{session.starts_at:%H:%M}", f"{session.ends_at:%H:%M}"
                ), (reference, session.session_template.label)
            Core.runs.append(self.steps)
        finally:
            db.session.rollback()
            clock.freeze(None)


def test_the_core_keeps_its_rules_whatever_people_and_the_world_do(app, fake, monkeypatch, request):  # type: ignore[no-untyped-def]
    for name, value in {"NDELIUS_URL": fake.url, "HMPPS_AUTH_URL": fake.url, "NDELIUS_READ_TIMEOUT": 0.5,
                        "NDELIUS_CONNECT_TIMEOUT": 0.5, "NDELIUS_RETRY_BASE": 1, "NDELIUS_RETRY_CAP": 5}.items():
        monkeypatch.setitem(app.config, name, value)
    Core.app, Core.fake, Core.runs = app, fake, []
    chosen = SLOW if request.config.getoption("--slow") else DEFAULT
    run_state_machine_as_test(Core, settings=settings(
        deadline=None, suppress_health_check=list(HealthCheck), print_blob=True, **chosen))
    print(f"\nstateful core [{app.config['BACKEND']}]: {len(Core.runs)} examples, {sum(Core.runs)} steps")
