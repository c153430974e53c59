"""Rows for tests, built the way the service builds them."""
from __future__ import annotations

import itertools
import os
from datetime import date, time

from app.extensions import db
from app.models import Facilitator, Group, Membership, Operation, Referral, Region, User
from app.scheduling import Slot
from app.services import groups
from app.services.schedule import generate_schedule

_seq = itertools.count(1)


class World:
    def region(self, code: str = "NW", name: str = "North West") -> Region:
        region = Region(code=code, name=name)
        db.session.add(region)
        db.session.commit()
        return region

    def facilitator(self, region: Region, name: str | None = None) -> Facilitator:
        n = next(_seq)
        facilitator = Facilitator(region_id=region.id, name=name or f"Facilitator {n}", staff_code=f"S{n:05d}",
                                  team_code="T01", email=f"f{n}@example.gov.uk")
        db.session.add(facilitator)
        db.session.commit()
        return facilitator

    def user(self, region: Region, role: str, username: str | None = None,
             facilitator: Facilitator | None = None, name: str | None = None) -> User:
        """A member of staff: their row here, their HMPPS Auth account (name, the role's authority) and their
        nDelius team in the region (with the facilitator's staff code), so they sign in as in real life. The name
        is HMPPS Auth's: set it here, not on the row (signing in brings HMPPS Auth's back)."""
        from tests.fakes.staff import register_staff

        n = next(_seq)
        # a facilitator's HMPPS Auth name is their facilitator row's (signing in makes them the same)
        username = username or f"{role}{n}"
        name = name or (facilitator.name if facilitator else f"{role.title()} {n}")
        # the fakes this run started (tests/conftest.py), even when a test points the app elsewhere (every fake
        # nDelius in the run shares one list of staff)
        register_staff(os.environ["HMPPS_AUTH_URL"], os.environ["NDELIUS_URL"],
                       username=username, name=name, role=role, region_code=region.code, region_name=region.name,
                       staff_code=facilitator.staff_code if facilitator else None)
        user = User(username=username, name=name, role=role, region_id=region.id,
                    facilitator_id=facilitator.id if facilitator else None)
        db.session.add(user)
        db.session.commit()
        return user

    def referral(self, region: Region, name: str | None = None, crn: str | None = None, *, sex: str = "male",
                 cohort: str = "general", licence: bool = False) -> Referral:
        n = next(_seq)
        referral = Referral(
            region_id=region.id, crn=crn or f"X{n:06d}", person_name=name or f"Person {n}", sex=sex,
            cohort=cohort, requirement_id=None if licence else 1000 + n,
            licence_condition_id=2000 + n if licence else None,
        )
        db.session.add(referral)
        db.session.commit()
        return referral

    def group(self, manager: User, code: str = "G1", *, start: date = date(2026, 3, 23),
              slots: tuple[Slot, ...] = (Slot(0, time(10)),), lead: Facilitator | None = None,
              members: tuple[Referral, ...] = (), location: str = "Room 1") -> Group:
        lead = lead or self.facilitator(manager.region)
        group = groups.create_group(manager, groups.GroupInput(
            code=code, cohort="general", sex="male", learning_disability=False, delivery_location=location,
            earliest_start_date=start, slots=slots, lead_facilitator_id=lead.id,
        ))
        for referral in members:
            db.session.add(Membership(group=group, referral=referral, added_by_id=manager.id))
            referral.status = "Scheduled"
        db.session.commit()
        return group

    def started(self, group: Group, manager: User) -> Group:
        operation = Operation(kind="generate", user_id=manager.id, region_id=group.region_id, group_id=group.id)
        db.session.add(operation)
        db.session.commit()
        generate_schedule(operation.id)
        db.session.refresh(group)
        return group
