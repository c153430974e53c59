"""Rows of its own and a valid form for each cell of the authorisation matrix that uses rows up, and what each
allowed cell answers (tests/web/test_authorisation.py); region isolation replays the same valid forms from another
region (tests/web/test_region_isolation.py)."""
from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta

from app import clock
from app.extensions import db
from app.models import Attendee, Membership, NDeliusAppointment, NDeliusDisagreement, Referral, Session

# The regions' groups (from 23 March 2026, tests/web/regions.py) in their fourth week: sessions behind and ahead.
DURING = datetime(2026, 4, 14, 9, 0)

# What each allowed cell answers: a status, or (302, where to) with the place as an endpoint of the service built
# from the cell's ids (a function of them), plus the part after `#` the page scrolls to.
EXPECTED: dict[str, object] = {
    "calendar.confirm_postpone": (302, lambda ids: ("calendar.index", {
        "view": "week", "date": ids["new_date"], "scope": f"group-{ids['group_id']}"})),
    "calendar.create_feed": 200,
    "calendar.resume": (302, lambda ids: ("calendar.index", {"scope": f"group-{ids['group_id']}"})),
    "calendar.revoke_feed": (302, lambda ids: ("calendar.feed_settings", {})),
    "events_admin.dismiss": (302, lambda ids: ("events_admin.index", {})),
    "events_admin.retry": (302, lambda ids: ("events_admin.index", {})),
    "events_admin.retry_outbox": (302, lambda ids: ("events_admin.index", {})),
    "facilitators.mine": (302, lambda ids: ("facilitators.show", {"facilitator_id": ids["facilitator_id"]})),
    "groups.close": (302, lambda ids: ("groups.show", {"group_id": ids["group_id"]})),
    "groups.start": (302, lambda ids: ("groups.show", {"group_id": ids["group_id"]})),
    "integration.dismiss": (302, lambda ids: ("integration.index", {}, "disagreements")),
    "integration.reconcile": (302, lambda ids: ("integration.index", {}, "disagreements")),
    "integration.retry": (302, lambda ids: ("integration.index", {}, "failures")),
    "integration.retry_all": (302, lambda ids: ("integration.index", {}, "failures")),
    "integration.send_ours": (302, lambda ids: ("integration.index", {}, "disagreements")),
    "people.add_location": (302, lambda ids: ("people.needs", {"referral_id": ids["referral_id"]}, "locations")),
    "people.add_non_association": (302, lambda ids: ("people.needs", {"referral_id": ids["referral_id"]},
                                                     "non-associations")),
    "people.add_time": (302, lambda ids: ("people.needs", {"referral_id": ids["referral_id"]}, "times")),
    "people.remove_location": (302, lambda ids: ("people.needs", {"referral_id": ids["referral_id"]},
                                                 "locations")),
    "people.remove_non_association": (302, lambda ids: ("people.needs", {"referral_id": ids["referral_id"]},
                                                        "non-associations")),
    "people.remove_time": (302, lambda ids: ("people.needs", {"referral_id": ids["referral_id"]}, "times")),
    "people.resolve": (302, lambda ids: ("people.show", {"referral_id": ids["referral_id"]}, "details")),
    "referrals.allocate": (302, lambda ids: ("groups.show", {"group_id": ids["group_id"]})),
    "register.offline_token": 204,
    "register.row": (302, lambda ids: ("register.show", {"session_id": ids["session_id"]},
                                       f"attendee-{ids['attendee_id']}")),
    "register.save_notes": (302, lambda ids: ("register.show", {"session_id": ids["session_id"]})),
    "register.save_row": (302, lambda ids: ("register.show", {"session_id": ids["session_id"]},
                                            f"attendee-{ids['attendee_id']}")),
    "session_changes.add_attendee": (302, lambda ids: ("session_changes.change", {"session_id": ids["session_id"]})),
    "session_changes.cancel": (302, lambda ids: ("register.show", {"session_id": ids["session_id"]})),
    "session_changes.delete": (302, lambda ids: ("groups.show", {"group_id": ids["group_id"]})),
    "session_changes.remove_attendee": (302, lambda ids: ("session_changes.change",
                                                          {"session_id": ids["session_id"]})),
}  # every other cell: 200


# The POST of a page that is also opened with GET, sent with the form that page renders (and what a person fills
# in, Cells.post__*): what it answers. register.catch_up and register.one_to_ones are left to their GET cells here
# (their forms are parts of the register, sent through HTMX; tests/web/test_catch_ups.py and test_one_to_ones.py).
POSTED: dict[str, object] = {
    "calendar.days_and_times": 200,  # the preview of what moves, to confirm
    "facilitators.group_team": (302, lambda ids: ("groups.show", {"group_id": ids["group_id"]})),
    "facilitators.session_team": (302, lambda ids: ("facilitators.group_team", {"group_id": ids["group_id"]})),
    "groups.edit": (302, lambda ids: ("groups.show", {"group_id": ids["group_id"]})),
    "groups.new": (302, lambda ids: ("groups.show", {"group_id": _group_id(ids["new_code"])})),
    "membership.allocate": (302, lambda ids: ("groups.show", {"group_id": ids["group_id"]})),
    "membership.remove": (302, lambda ids: ("groups.show", {"group_id": ids["group_id"]})),
}
NOT_POSTED = frozenset({"register.catch_up", "register.one_to_ones"})


def _group_id(code: str) -> int:
    from app.models import Group

    return db.session.query(Group.id).filter_by(code=code).scalar() or 0  # 0: not made


class Cells:
    """Rows of its own for a cell that uses them up, and the form its page would send."""

    def __init__(self, world, users, ids) -> None:  # type: ignore[no-untyped-def]
        self.world, self.users, self.ids = world, users, ids
        self.region = users["treatment_manager"].region
        self.manager = users["treatment_manager"]
        self.n = itertools.count(1)
        group_id = ids["group_id"]
        self.sessions = iter(db.session.query(Session).filter_by(group_id=group_id, kind="scheduled")
                             .order_by(Session.starts_at.desc()).all())  # the last ones: nothing recorded there
        self.members = iter(m.referral_id for m in db.session.query(Membership).filter_by(group_id=group_id)
                            .order_by(Membership.id).all())

    def referral(self) -> Referral:
        return self.world.referral(self.region, f"Cell person {next(self.n)}")

    def group(self, *, start: date = date(2026, 3, 23), started: bool = True,  # type: ignore[no-untyped-def]
              members: int = 1):
        member = self.referral()
        group = self.world.group(self.manager, f"C{next(self.n)}", start=start, members=(member,)[:members])
        return (self.world.started(group, self.manager) if started else group), member

    def has(self, endpoint: str) -> bool:
        return hasattr(self, endpoint.replace(".", "__"))

    def rows(self, endpoint: str) -> tuple[dict, dict]:  # type: ignore[type-arg]
        """(ids for the URL and the expected answer, the form) of one cell."""
        build = getattr(self, endpoint.replace(".", "__"), None)
        return build() if build else ({}, {})

    def posted(self, endpoint: str) -> tuple[dict, dict]:  # type: ignore[type-arg]
        """(ids, what a person fills in on the form its page renders) of the POST of a GET and POST cell."""
        build = getattr(self, "post__" + endpoint.replace(".", "__"), None)
        return build() if build else ({}, {})

    def post__groups__new(self):  # type: ignore[no-untyped-def]
        code = f"N{next(self.n)}"
        return {"new_code": code}, {"code": code, "cohort": "general", "sex": "male", "delivery_location": "Room 2",
                                    "earliest_start_date": "2026-05-04",
                                    "slots-0-day": "0", "slots-0-start_time": "10:00",
                                    "lead_facilitator_id": str(self.ids["facilitator_id"])}

    def post__membership__allocate(self):  # type: ignore[no-untyped-def]
        group, _ = self.group(started=False)
        return {"group_id": group.id}, {"referral_id": str(self.referral().id)}

    def post__membership__remove(self):  # type: ignore[no-untyped-def]
        referral_id = self.referral_in_group()
        membership = db.session.query(Membership).filter_by(referral_id=referral_id).one()
        return {"membership_id": membership.id}, {"new_status": "Awaiting allocation", "reason": "Moved away"}

    # the cells ---------------------------------------------------------------------------------------------------
    def calendar__confirm_postpone(self):  # type: ignore[no-untyped-def]
        group, _ = self.group()  # a postpone holds its group until it has finished
        session = db.session.query(Session).filter_by(group_id=group.id).order_by(Session.starts_at.desc()).first()
        new = session.starts_at + timedelta(days=7)
        return ({"group_id": group.id, "session_id": session.id, "new_date": new.date().isoformat()},
                {"date": new.date().isoformat(), "start": new.strftime("%H:%M"), "cascade": "yes", "confirm": "y"})

    def calendar__resume(self):  # type: ignore[no-untyped-def]
        from app.models import Operation

        group, _ = self.group(started=False)  # one reschedule of a group at a time: a group of its own
        failed = Operation(kind="cascade", user_id=self.manager.id, region_id=self.region.id, group_id=group.id,
                           status="failed", error="The worker stopped")
        db.session.add(failed)
        db.session.commit()
        return {"operation_id": failed.id, "group_id": group.id}, {}

    def groups__start(self):  # type: ignore[no-untyped-def]
        group, _ = self.group(started=False)
        return {"group_id": group.id}, {}

    def groups__close(self):  # type: ignore[no-untyped-def]
        group, _ = self.group(start=date(2025, 1, 6), members=0)  # all its sessions over, no outcome to record
        return {"group_id": group.id}, {}

    def events_admin__retry(self):  # type: ignore[no-untyped-def]
        from app.models import InboundEvent

        dead = InboundEvent(message_id=f"cell-{next(self.n)}-{self.region.code}", event_type="unknown",
                            status="dead", body="{}", error="poison")
        db.session.add(dead)
        db.session.commit()
        return {"event_id": dead.id}, {}

    events_admin__dismiss = events_admin__retry

    def _appointment(self) -> NDeliusAppointment:
        session = next(self.sessions)
        attendee = db.session.query(Attendee).filter_by(session_id=session.id).order_by(Attendee.id).first()
        return db.session.query(NDeliusAppointment).filter_by(attendee_id=attendee.id).one()

    def _disagreement(self):  # type: ignore[no-untyped-def]
        appointment = self._appointment()
        disagreement = NDeliusDisagreement(appointment_id=appointment.id, region_id=self.region.id,
                                           reference=appointment.reference, field="staff",
                                           ours=f"OURS{next(self.n)}", theirs="OTHER1",
                                           source="nDelius appointments search")
        db.session.add(disagreement)
        db.session.commit()
        return {"disagreement_id": disagreement.id}, {}

    integration__send_ours = integration__dismiss = _disagreement

    def integration__retry(self):  # type: ignore[no-untyped-def]
        appointment = self._appointment()
        appointment.sync_state, appointment.last_error = "needs_attention", "nDelius refused it"
        db.session.commit()
        return {"appointment_id": appointment.id}, {}

    def people__resolve(self):  # type: ignore[no-untyped-def]
        from app.models import CaseDisagreement

        referral = self.referral()
        disagreement = CaseDisagreement(referral_id=referral.id, region_id=self.region.id, field="name",
                                        referral_value=referral.person_name, ndelius_value="Someone Else")
        db.session.add(disagreement)
        db.session.commit()
        return {"referral_id": referral.id, "disagreement_id": disagreement.id}, {"note": "Checked with them"}

    def people__add_time(self):  # type: ignore[no-untyped-def]
        return ({"referral_id": self.referral().id},
                {"time-day_of_week": "1", "time-start_time": "09:00", "time-end_time": "12:00", "time-reason": "Work"})

    def people__add_location(self):  # type: ignore[no-untyped-def]
        return {"referral_id": self.referral().id}, {"location-location": "Far away", "location-reason": "Too far"}

    def people__add_non_association(self):  # type: ignore[no-untyped-def]
        other = self.referral()
        return ({"referral_id": self.referral().id},
                {"association-crn": other.crn, "association-reason": "Co-defendant"})

    def _needs(self) -> dict[str, int]:
        from tests.web.regions import _needs

        waiting = self.referral()
        return {"referral_id": waiting.id, **_needs(waiting, self.referral(), self.manager)}

    def people__remove_time(self):  # type: ignore[no-untyped-def]
        return self._needs(), {}

    people__remove_location = people__remove_non_association = people__remove_time

    def referrals__allocate(self):  # type: ignore[no-untyped-def]
        group, _ = self.group(started=False)
        return {"referral_id": self.referral().id, "group_id": group.id}, {"group_id": str(group.id)}

    def _session(self) -> dict[str, int]:
        session = next(self.sessions)
        attendee = db.session.query(Attendee).filter_by(session_id=session.id).order_by(Attendee.id).first()
        return {"session_id": session.id, "attendee_id": attendee.id, "referral_id": attendee.referral_id}

    def register__save_notes(self):  # type: ignore[no-untyped-def]
        return self._session(), {"session_notes": "Went well", "seen_notes": ""}

    def register__save_row(self):  # type: ignore[no-untyped-def]
        return self._session(), {}

    def session_changes__cancel(self):  # type: ignore[no-untyped-def]
        return self._session(), {"cancel-reason": "The room flooded"}

    def session_changes__remove_attendee(self):  # type: ignore[no-untyped-def]
        ids = self._session()
        return ids, {"remove-referral_id": str(ids["referral_id"])}

    def session_changes__add_attendee(self):  # type: ignore[no-untyped-def]
        ids = self._session()  # someone in the group, not yet expected at the session
        return ids, {"add-referral_id": str(self.referral_in_group())}

    def session_changes__delete(self):  # type: ignore[no-untyped-def]
        from app.services import one_to_ones

        placeholder = next(s for s in db.session.query(Session).filter_by(group_id=self.ids["group_id"])
                           .order_by(Session.starts_at) if one_to_ones.is_placeholder(s))
        booking = one_to_ones.book(self.manager, placeholder, referral_id=next(self.members),
                                   on=clock.today() + timedelta(days=1), at=time(8 + next(self.n) % 8),
                                   facilitator_id=self.ids["facilitator_id"])
        return {"session_id": booking.id, "group_id": self.ids["group_id"]}, {}

    def referral_in_group(self) -> int:
        newcomer = self.referral()
        db.session.add(Membership(group_id=self.ids["group_id"], referral_id=newcomer.id,
                                  added_by_id=self.manager.id))
        db.session.commit()
        return newcomer.id
