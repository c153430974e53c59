"""Demo data for `make run` and journeys: two regions, every role, facilitators, 100 referrals and groups at
every stage, built around the day it runs (app.clock: a session today for each demo facilitator). Idempotent: a
second run changes nothing."""
from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import (
    Facilitator,
    Group,
    Membership,
    Operation,
    Referral,
    Region,
    Session,
    User,
)
from app.scheduling import Slot
from app.services import attendance, catch_ups, groups
from app.services import membership as membership_service
from app.services.programme import ensure_building_choices
from app.services.schedule import generate_schedule

REGIONS = [("NW", "North West"), ("LDN", "London")]
ROLES = [("tm", "treatment_manager"), ("fac", "facilitator"), ("lead", "lead")]
FIRST = ["Alex", "Sam", "Jordan", "Chris", "Jamie", "Lee", "Robin", "Terry", "Kim", "Morgan", "Dale", "Ashley",
         "Danny", "Jo", "Pat", "Charlie", "Frankie", "Billie", "Ray", "Toni"]
LAST = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson", "Wright",
        "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson", "Clarke"]
OUTCOMES = ["ATTC"] * 8 + ["UAAB", "AFTC", "AAME"]


DEMO_NAMES = {"admin": "Ada Admin", "tm.nw": "Terry Walker", "fac.nw": "Sam Jones", "lead.nw": "Robin Hall",
              "tm.ldn": "Kim Evans", "fac.ldn": "Jo Wright", "lead.ldn": "Pat Green"}


def demo_users() -> list[dict[str, str | None]]:
    """The demo staff: the fake HMPPS Auth's users (`make run`) and their nDelius region and staff code."""
    users: list[dict[str, str | None]] = [
        {"username": "admin", "name": DEMO_NAMES["admin"], "role": "admin", "region": "NW", "staff_code": None,
         "who": "Admin (all regions)"}]
    for code, name in REGIONS:
        for prefix, role in ROLES:
            username = f"{prefix}.{code.lower()}"
            users.append({"username": username, "name": DEMO_NAMES[username], "role": role, "region": code,
                          "staff_code": f"{code}001" if role == "facilitator" else None,
                          "who": f"{role.replace('_', ' ').capitalize()}, {name}"})
    return users


def demo_logins() -> list[tuple[str, str]]:
    return [(str(user["username"]), str(user["who"])) for user in demo_users()]


def seed() -> bool:
    """Returns False when the demo data was already there."""
    ensure_building_choices()
    if db.session.scalar(select(Region).filter_by(code=REGIONS[0][0])):
        db.session.commit()
        return False
    rng = random.Random(2026)
    today = clock.today()
    regions = {code: Region(code=code, name=name) for code, name in REGIONS}
    db.session.add_all(regions.values())
    db.session.flush()

    admin = User(username="admin", name=DEMO_NAMES["admin"], role="admin", region_id=regions["NW"].id)
    db.session.add(admin)
    crn = 100000
    for code, region in regions.items():
        facilitators = [
            Facilitator(region_id=region.id, name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                        staff_code=f"{code}{n:03d}", team_code=f"{code}TM1", email=f"fac{n}.{code.lower()}@example.gov.uk")
            for n in range(1, 5)
        ]
        # the demo facilitator's row has their HMPPS Auth name (signing in would make it so anyway): one name on
        # every page
        facilitators[0].name = DEMO_NAMES[f"fac.{code.lower()}"]
        db.session.add_all(facilitators)
        db.session.flush()
        for prefix, role in ROLES:
            db.session.add(User(
                username=f"{prefix}.{code.lower()}", name=DEMO_NAMES[f"{prefix}.{code.lower()}"],
                role=role, region_id=region.id,
                facilitator_id=facilitators[0].id if role == "facilitator" else None,
            ))
        referrals = []
        for n in range(48):
            crn += 1
            on_licence = n % 3 == 0
            referrals.append(Referral(
                region_id=region.id, crn=f"{code[0]}{crn}", person_name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                sex="male" if n % 5 else "female", cohort="general" if n % 4 else "sexual",
                learning_disability=n % 7 == 0,
                requirement_id=None if on_licence else 2_500_000 + crn,
                licence_condition_id=2_600_000 + crn if on_licence else None,
                sentence_end_date=today + timedelta(days=200 + 20 * n),
            ))
        if code == "NW":
            # Restricted access (LAO): the fake nDelius lets only tm.nw and admin see Rowan, and keeps fac.nw
            # from Elliot (tests/fakes/ndelius_cases.py); everyone else sees "Restricted".
            for lao_crn, name, requirement in (("R900001", "Rowan Restricted", 2_590_001),
                                                ("R900002", "Elliot Excluded", 2_590_002)):
                referrals.insert(0, Referral(region_id=region.id, crn=lao_crn, person_name=name, sex="male",
                                             cohort="general", requirement_id=requirement,
                                             sentence_end_date=today + timedelta(days=600)))
        db.session.add_all(referrals)
        db.session.flush()
        tm = db.session.scalar(select(User).filter_by(username=f"tm.{code.lower()}"))
        assert tm is not None  # seeded with the region above
        males = iter([r for r in referrals if r.sex == "male" and r.cohort == "general"])
        _region_around_today(code, tm, facilitators, lambda n, people=males: [next(people) for _ in range(n)],
                             today, rng)
    db.session.commit()
    return True


def _region_around_today(code: str, tm: User, facilitators: list[Facilitator], members: Callable[..., list[Referral]],
                         today: date,
                         rng: random.Random) -> None:
    """Groups at every stage around the day the seed runs (issue 15.8): one not started; (North West) one in
    its pre-group one-to-ones, one finished last month (someone left it 14 weeks ago: a restart); and one
    mid-programme led by the demo facilitator, with a session today and one earlier this week, attendance
    recorded (catch-ups included) and someone who left it 5 weeks ago (a bus-stop candidate). Past sessions
    have outcomes, except one person's at the session earlier this week: the one thing that needs attention."""
    waiting_for_start = members(6)  # first: the restricted-access people are in the group not started
    mid_slots = [Slot(today.weekday(), time(10)), Slot((today - timedelta(days=2)).weekday(), time(14))]
    mid = _group(tm, facilitators, f"BC{code}3", today - timedelta(weeks=12), mid_slots, members(8), lead=0,
                 rng=rng)
    _session_today_and_earlier_this_week(mid, today)
    if code == "NW":
        finished = _group(tm, facilitators, f"BC{code}4", today - timedelta(weeks=40),
                          [Slot(0, time(10)), Slot(3, time(14))], members(7), lead=1, rng=rng)
        _finish_last_month(finished, today)
        _leave(tm, finished, today - timedelta(weeks=14), "Moved out of the area for work")
        early = _group(tm, facilitators, f"BC{code}2", today - timedelta(days=8),  # its one-to-ones began last week
                       [Slot((today - timedelta(days=1)).weekday(), time(10))], members(6), lead=1, rng=rng)
        _record_past(tm, early, rng)
        _record_past(tm, finished, rng)
    _leave(tm, mid, today - timedelta(weeks=5), "Started a new job with shifts on the group's days")
    _record_past(tm, mid, rng, catch_up=True, unrecorded_example=True)
    _group(tm, facilitators, f"BC{code}1", today + timedelta(days=40), [Slot(0, time(10)), Slot(3, time(14))],
           waiting_for_start, lead=0, rng=rng, start=False)


def _group(tm: User, facilitators: list[Facilitator], code: str, earliest: date, slots: list[Slot],
           members: list[Referral], *, lead: int, rng: random.Random, start: bool = True) -> Group:
    group = groups.create_group(tm, groups.GroupInput(
        code=code, cohort="general", sex="male", learning_disability=False,
        delivery_location=f"{tm.region.name} Probation Office, room {rng.randint(1, 9)}",
        earliest_start_date=earliest, slots=tuple(slots), lead_facilitator_id=facilitators[lead].id,
        cover_facilitator_ids=(facilitators[1 - lead if lead < 2 else 0].id,),
    ))
    for referral in members:
        # allocated a fortnight before the group could start (or now, for one that starts later)
        joined = min(datetime.combine(earliest - timedelta(weeks=2), time(9)), clock.now_local())
        db.session.add(Membership(group=group, referral=referral, added_by_id=tm.id,
                                  joined_at=joined.replace(tzinfo=clock.LONDON).astimezone(UTC)))
        referral.status = "Scheduled"
    db.session.commit()
    if start:
        operation = Operation(kind="generate", user_id=tm.id, region_id=group.region_id, group_id=group.id)
        db.session.add(operation)
        db.session.commit()
        generate_schedule(operation.id)
        db.session.refresh(group)
    return group


def _sessions(group: Group) -> list[Session]:
    return list(db.session.scalars(select(Session).where(Session.group_id == group.id)
                                   .order_by(Session.starts_at, Session.id)))


def _move(session: Session, day: date) -> None:
    length = session.ends_at - session.starts_at
    session.starts_at = datetime.combine(day, session.starts_at.time())
    session.ends_at = session.starts_at + length


def _session_today_and_earlier_this_week(group: Group, today: date) -> None:
    """The demo facilitator's day: a group session today and one a few days ago, whatever the gaps between
    modules put there (the next session is brought to today, the last one before to two days ago)."""
    sessions = [s for s in _sessions(group) if s.kind == "scheduled"]
    if not any(s.starts_at.date() == today for s in sessions):
        upcoming = next((s for s in sessions if s.starts_at.date() > today), None)
        if upcoming is not None:
            _move(upcoming, today)
    earlier = today - timedelta(days=2)
    if not any(earlier <= s.starts_at.date() < today for s in sessions):
        before = [s for s in sessions if s.starts_at.date() < earlier]
        if before:
            _move(before[-1], earlier)
    db.session.commit()


def _finish_last_month(group: Group, today: date) -> None:
    """The whole schedule moved by whole weeks so that its last session was last month."""
    sessions = _sessions(group)
    last_month_end = today.replace(day=1) - timedelta(days=1)
    target = last_month_end - timedelta(days=10)
    days = (sessions[-1].starts_at.date() - target).days
    shift = timedelta(weeks=-(-days // 7))  # whole weeks (the days of the week stay), rounded up
    for session in sessions:
        session.starts_at, session.ends_at = session.starts_at - shift, session.ends_at - shift
    if group.started_at is not None:
        group.started_at = group.started_at - shift
    db.session.commit()


def _at(moment: datetime, work: Callable[[], object]) -> None:
    """Do `work` as if it were `moment` (a removal or a booking made then), then put the clock back."""
    before = getattr(clock, "_frozen", None)
    clock.freeze(moment)
    try:
        work()
    finally:
        clock.freeze(before)


def _leave(tm: User, group: Group, on: date, reason: str) -> None:
    membership = next(m for m in sorted(group.memberships, key=lambda m: m.id) if m.left_at is None)
    moment = datetime.combine(on, time(12))
    _at(moment, lambda: membership_service.remove(tm, membership, reason=reason, new_status="Awaiting allocation"))
    membership.left_at = moment.replace(tzinfo=clock.LONDON).astimezone(UTC)  # when they left, not when seeded
    db.session.commit()


def _record_past(tm: User, group: Group, rng: random.Random, *, catch_up: bool = False,
                 unrecorded_example: bool = False) -> None:
    now = clock.now_local()
    past = [s for s in _sessions(group) if s.starts_at < now and s.status == "scheduled"]
    skipped = None
    if unrecorded_example:
        recent = [s for s in past if s.ends_at < now and s.starts_at.date() < now.date()]
        skipped = recent[-1].id if recent else None
    missed = None
    for session in past:
        attendees = [a for a in sorted(session.attendees, key=lambda a: a.id) if a.removed_at is None]
        for n, attendee in enumerate(attendees):
            if attendee.attendance is not None or (session.id == skipped and n == 0):
                continue
            outcome = rng.choice(OUTCOMES)
            if catch_up and missed is None and session.kind == "scheduled" and \
                    timedelta(weeks=2) < now - session.starts_at < timedelta(weeks=4):
                outcome, missed = "UAAB", (session, attendee)
            attendance.record(tm, attendee, outcome=outcome, seen_version=None,
                              notes="Joined in well." if rng.random() < 0.3 else None)
    db.session.commit()
    if missed is not None:
        session, attendee = missed
        on = session.starts_at.date() + timedelta(days=3)
        booked: list[Session | None] = []
        _at(session.starts_at + timedelta(days=1), lambda: booked.append(catch_ups.schedule(
            tm, session, referral_ids=[attendee.referral_id], on=on, at=time(15),
            facilitator_id=group.lead_facilitator.id if group.lead_facilitator else None)))
        if booked and booked[0] is not None:
            for catch_attendee in booked[0].attendees:
                attendance.record(tm, catch_attendee, outcome="ATTC", seen_version=None,
                                  notes="Caught up on the session they missed.")
            db.session.commit()
