"""Demo data for `make run` and journeys: two regions, every role, facilitators, 60 referrals and groups at
different stages. Idempotent: a second run changes nothing."""
from __future__ import annotations

import random
from datetime import date, time, timedelta

from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import (
    Attendee,
    Facilitator,
    Membership,
    Operation,
    Referral,
    Region,
    Session,
    User,
)
from app.scheduling import Slot
from app.services import attendance, groups
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
        for n in range(30):
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
        males = [r for r in referrals if r.sex == "male" and r.cohort == "general"]
        _group(tm, facilitators, f"BC{code}1", today + timedelta(days=40), [Slot(0, time(10)), Slot(3, time(14))],
               males[:6], record_until=None, rng=rng)
        _group(tm, facilitators, f"BC{code}2", today - timedelta(days=40), [Slot(1, time(10))],
               males[6:14], record_until=today - timedelta(days=7), rng=rng)
        if code == "NW":
            _group(tm, facilitators, f"BC{code}3", today - timedelta(days=230), [Slot(2, time(13)), Slot(4, time(10))],
                   males[14:20], record_until=today, rng=rng)
    db.session.commit()
    return True


def _group(tm: User, facilitators: list[Facilitator], code: str, start: date, slots: list[Slot],
           members: list[Referral], *, record_until: date | None, rng: random.Random) -> None:
    group = groups.create_group(tm, groups.GroupInput(
        code=code, cohort="general", sex="male", learning_disability=False,
        delivery_location=f"{tm.region.name} Probation Office, room {rng.randint(1, 9)}",
        earliest_start_date=start, slots=tuple(slots), lead_facilitator_id=facilitators[0].id,
        cover_facilitator_ids=(facilitators[1].id,),
    ))
    for referral in members:
        db.session.add(Membership(group=group, referral=referral, added_by_id=tm.id))
        referral.status = "Scheduled"
    db.session.commit()
    if record_until is None:
        return
    operation = Operation(kind="generate", user_id=tm.id, region_id=group.region_id, group_id=group.id)
    db.session.add(operation)
    db.session.commit()
    generate_schedule(operation.id)
    past = db.session.scalars(
        select(Attendee).join(Session).where(Session.group_id == group.id,
                                             Session.starts_at < record_until)
        .order_by(Session.starts_at, Attendee.id)
    ).all()
    for attendee in past:
        attendance.record(tm, attendee, outcome=rng.choice(OUTCOMES), seen_version=None,
                          notes="Joined in well." if rng.random() < 0.3 else None)
    db.session.commit()
