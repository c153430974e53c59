"""A region with one of everything, so every URL of the service can be filled in with its ids."""
from __future__ import annotations

import re

import pytest

from app.extensions import db
from app.models import Attendee, Operation, Session

ROLES = ("facilitator", "treatment_manager", "lead", "admin")


def build_region(world, code: str, sentinel: str):  # type: ignore[no-untyped-def]
    """Users for every role (usernames `<role>.<code>`), a started group with members, a waiting referral.
    Names, CRNs and codes carry `sentinel` so leaks are easy to find."""
    region = world.region(code, f"Region {sentinel}")
    facilitator = world.facilitator(region, f"Facilitator {sentinel}")
    users = {role: world.user(region, role, f"{role}.{code.lower()}",
                              facilitator=facilitator if role == "facilitator" else None)
             for role in ROLES}
    members = tuple(world.referral(region, f"Person {sentinel} {n}", f"{sentinel[:1]}{n:06d}") for n in range(2))
    waiting = world.referral(region, f"Waiting {sentinel}", f"{sentinel[:1]}999999")
    group = world.started(world.group(users["treatment_manager"], f"G-{sentinel}", lead=facilitator,
                                      members=members), users["treatment_manager"])
    session = db.session.query(Session).filter_by(group_id=group.id).order_by(Session.starts_at).first()
    operation = Operation(kind="generate", region_id=region.id, group_id=group.id, status="succeeded")
    db.session.add(operation)
    db.session.commit()
    attendee = db.session.query(Attendee).filter_by(session_id=session.id).first()
    ids = {"group_id": group.id, "session_id": session.id, "operation_id": operation.id,
           "referral_id": waiting.id, "facilitator_id": facilitator.id, "attendee_id": attendee.id,
           "membership_id": group.memberships[0].id, "user_id": users["facilitator"].id}
    ids.update(_ndelius_problems(region, attendee, sentinel))
    ids.update(_needs(waiting, members[0], users["treatment_manager"]))
    from app.models import InboundEvent  # a dead letter for the admins' domain events page (issue 14)

    dead = InboundEvent(message_id=f"message-{code}-{sentinel}", event_type="unknown", status="dead", body="{}",
                        error="poison")
    db.session.add(dead)
    db.session.commit()
    ids["event_id"] = dead.id
    return users, ids


def _needs(waiting, member, manager) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """What the waiting person cannot do (issue 15.3): a time, a location, a non-association."""
    from datetime import time

    from app.services import needs

    row = needs.add_unavailability(manager, waiting, day_of_week=4, start=time(9), end=time(12), reason="Work")
    place = needs.add_excluded_location(manager, waiting, location="Elsewhere", reason="Too far")
    pair = needs.add_non_association(manager, waiting, crn=member.crn, reason="Co-defendant")
    return {"time_id": row.id, "location_id": place.id, "pair_id": pair.id}


def _ndelius_problems(region, attendee, sentinel: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """An appointment nDelius refused and a disagreement, for the Integration page (issue 5)."""
    from app.models import NDeliusAppointment, NDeliusDisagreement, OutboxItem

    appointment = db.session.query(NDeliusAppointment).filter_by(attendee_id=attendee.id).one()
    appointment.sync_state, appointment.last_error = "needs_attention", f"nDelius refused {sentinel}"
    for row in db.session.query(OutboxItem).filter_by(appointment_id=appointment.id):
        row.status, row.last_error = "needs_attention", appointment.last_error
    disagreement = NDeliusDisagreement(appointment_id=appointment.id, region_id=region.id,
                                       reference=appointment.reference, field="staff", ours=f"{sentinel[:3]}1",
                                       theirs="OTHER1", source="nDelius appointments search")
    db.session.add(disagreement)
    db.session.commit()
    return {"appointment_id": appointment.id, "disagreement_id": disagreement.id}


# Tables allowed to change when a request is refused or a page is only opened: none. audit_event was left out of
# the old row counts, but nothing writes it on a refusal or a read (refusals are logged, app.security, not
# stored), and sign-in (which writes app_user) happens before the first snapshot. A table that must be left out
# goes here with the reason.
CHANGING_TABLES: frozenset[str] = frozenset()


def table_contents() -> dict[str, list[tuple]]:  # type: ignore[type-arg]
    """Every row of every table (but CHANGING_TABLES), in primary-key order: compare two of these to show that
    nothing changed, not just that no row was added or removed."""
    from sqlalchemy import select

    contents = {}
    for table in db.metadata.sorted_tables:
        if table.name in CHANGING_TABLES:
            continue
        order = list(table.primary_key.columns) or list(table.columns)
        contents[table.name] = [tuple(row) for row in db.session.execute(select(table).order_by(*order))]
    db.session.rollback()
    return contents


def changed_tables(before: dict[str, list[tuple]], after: dict[str, list[tuple]]) -> dict[str, object]:  # type: ignore[type-arg]
    """What differs, table by table: a few rows only before and a few only after (for a readable failure)."""
    diff: dict[str, object] = {}
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name, []), after.get(name, [])
        if old != new:
            old_rows, new_rows = [repr(r) for r in old], [repr(r) for r in new]
            diff[name] = {"gone": [r for r in old_rows if r not in new_rows][:3],
                          "new": [r for r in new_rows if r not in old_rows][:3]}
    return diff


def fill(rule, ids):  # type: ignore[no-untyped-def]
    url = rule.rule
    for name in rule.arguments:
        if name not in ids:
            pytest.fail(f"no id for <{name}> in {rule.rule}: add it to tests/web/regions.py")
        url = re.sub(rf"<(?:[a-z]+:)?{name}>", str(ids[name]), url)
    return url
