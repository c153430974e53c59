"""What the register and "My sessions" pages show. A fixed number of queries whatever the group size (no N+1):
the attendees with their records, sync states and completions, then the history and other attempts of all of
them at once. The register is read far more often than written: it reads plain columns (Core rows), not ORM
object graphs, and the programme template from the per-process catalogue (app.services.programme)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Executable, Select, bindparam, func, select
from sqlalchemy.orm import aliased, joinedload, selectinload

from app import clock
from app.extensions import db
from app.models import (
    Attendance,
    AttendanceHistory,
    Attendee,
    Facilitator,
    Group,
    NDeliusAppointment,
    Referral,
    Session,
    SessionFacilitator,
    SessionTemplate,
    TemplateCompletion,
    User,
)
from app.services import catch_ups, reads
from app.services.groups import region_filter
from app.services.ndelius_status import shown_state
from app.services.programme import SessionTemplateInfo, session_template_info


@dataclass(slots=True, eq=False)
class Named:
    name: str


@dataclass(slots=True, eq=False)
class Person:
    """What a row shows of the referral; `restricted` is set for one request when the signed-in user may not
    see them (app.web.restricted.mask_people, LAO)."""

    id: int
    person_name: str
    crn: str
    restricted: Any = None


@dataclass(slots=True, eq=False)
class Record:
    """The stored attendance of a row, or one version of its history (plain values: read with Core, not the
    ORM, since a register is read far more often than written)."""

    outcome: str | None
    did_not_engage: bool
    arrived_at: time | None
    departed_at: time | None
    notes: str | None
    recorded_at: datetime | None
    version: int
    recorded_by: Named | None


@dataclass(slots=True, eq=False)
class RowAttendee:
    id: int
    referral_id: int
    referral: Person
    attendance: Record | None


@dataclass(slots=True, eq=False)
class GroupRef:
    id: int
    code: str
    region_id: int
    delivery_location: str | None = None


@dataclass(slots=True, eq=False)
class OtherSession:
    """Another session of the same template (what a row's "other sessions" list and the kind tag need)."""

    id: int
    kind: str
    starts_at: datetime
    group_id: int
    group: GroupRef
    session_template: SessionTemplateInfo


@dataclass(slots=True, eq=False)
class Attempt:
    """Another session of the same template for this person: the original, a catch-up or a one-to-one."""

    session: OtherSession
    outcome: str | None


@dataclass
class Row:
    attendee: RowAttendee
    sync_state: str | None = None
    history: list[Record] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    completed_elsewhere: bool = False

    @property
    def referral(self) -> Person:
        return self.attendee.referral

    @property
    def attendance(self) -> Record | None:
        return self.attendee.attendance

    @property
    def outcome(self) -> str | None:
        return self.attendance.outcome if self.attendance else None

    @property
    def version(self) -> int | None:
        return self.attendance.version if self.attendance else None

    @property
    def may_have_catch_up(self) -> bool:
        return catch_ups.may_have_catch_up(self.outcome, self.completed_elsewhere)

    @property
    def notes_history(self) -> list[Record]:
        """The versions whose notes differ from the version before (newest first)."""
        kept, previous = [], None
        for entry in sorted(self.history, key=lambda h: h.version):
            if (entry.notes or None) != previous:
                kept.append(entry)
            previous = entry.notes or None
        return list(reversed(kept))


@dataclass(slots=True, eq=False)
class Facilitating:
    facilitator_id: int
    role: str
    facilitator: Named


@dataclass(slots=True, eq=False)
class Parent:
    id: int
    starts_at: datetime


@dataclass(slots=True, eq=False)
class Header:
    """What the register page shows of its session, with the attributes the permission checks read
    (`group.region_id`, `facilitators`), in two queries."""

    id: int
    group_id: int
    group: GroupRef
    session_template: SessionTemplateInfo
    kind: str
    status: str
    starts_at: datetime
    ends_at: datetime
    location: str | None
    notes: str | None
    parent: Parent | None
    facilitators: list[Facilitating]
    cancel_reason: str | None = None  # issue 15.2


def get_session(user: User, session_id: int) -> Session | None:
    """The session if it is in the user's region (admins: any), with what the register header shows."""
    return db.session.scalar(
        select(Session).join(Group, Group.id == Session.group_id)
        .where(Session.id == session_id, region_filter(user), Session.deleted_at.is_(None))
        .options(joinedload(Session.group), joinedload(Session.parent),
                 joinedload(Session.session_template).joinedload(SessionTemplate.module),
                 selectinload(Session.facilitators).joinedload(SessionFacilitator.facilitator))
    )


@cache
def _header_query(any_region: bool) -> Executable:
    """Built once per process (building a statement costs more than running it; SQLAlchemy then caches its SQL):
    the values come as bound parameters."""
    parent = aliased(Session)
    query = (
        select(Session.id, Session.group_id, Session.session_template_id, Session.kind, Session.status,
               Session.starts_at, Session.ends_at, Session.location, Session.notes, Session.parent_id,
               parent.starts_at.label("parent_starts_at"), Group.code, Group.region_id, Group.delivery_location,
               Session.cancel_reason)
        .join(Group, Group.id == Session.group_id).outerjoin(parent, parent.id == Session.parent_id)
        .where(Session.id == bindparam("session_id"), Session.deleted_at.is_(None))
    )
    return query if any_region else query.where(Group.region_id == bindparam("region_id"))


@cache
def _facilitators_query() -> Executable:
    return (select(SessionFacilitator.facilitator_id, SessionFacilitator.role, Facilitator.name)
            .join(Facilitator, Facilitator.id == SessionFacilitator.facilitator_id)
            .where(SessionFacilitator.session_id == bindparam("session_id")).order_by(SessionFacilitator.id))


def header(user: User, session_id: int) -> Header | None:
    """The register page's session (read only), if it is in the user's region (admins: any)."""
    found = reads.run(_header_query(user.role == "admin"),
                      {"session_id": session_id, "region_id": user.region_id}).first()
    if found is None:
        return None
    facilitators = [Facilitating(f.facilitator_id, f.role, Named(f.name))
                    for f in reads.run(_facilitators_query(), {"session_id": session_id})]
    return Header(
        id=found.id, group_id=found.group_id,
        group=GroupRef(found.group_id, found.code, found.region_id, found.delivery_location),
        session_template=session_template_info(found.session_template_id), kind=found.kind, status=found.status,
        starts_at=found.starts_at, ends_at=found.ends_at, location=found.location, notes=found.notes,
        parent=Parent(found.parent_id, found.parent_starts_at) if found.parent_id else None,
        facilitators=facilitators, cancel_reason=found.cancel_reason,
    )


def attendee(session: Session | Header, attendee_id: int) -> Attendee | None:
    """One expected person of the session, with what recording their attendance reads (for a save): their
    session and its group, their referral, membership and record, in one statement."""
    return db.session.scalar(_attendee_query(), {"attendee_id": attendee_id, "session_id": session.id})


@cache
def _attendee_query() -> Executable:
    return (select(Attendee).where(Attendee.id == bindparam("attendee_id"),
                                   Attendee.session_id == bindparam("session_id"), Attendee.removed_at.is_(None))
            .options(joinedload(Attendee.referral), joinedload(Attendee.membership), joinedload(Attendee.attendance),
                     joinedload(Attendee.session).joinedload(Session.group)))


@cache
def _rows_queries(one: bool) -> tuple[Executable, Executable, Executable]:
    """The three statements of `rows`, built once per process with bound parameters (session_id, template_id,
    attendee_id, and the expanding ids and referral_ids)."""
    completing = aliased(Attendee)
    elsewhere = (
        select(TemplateCompletion.id).join(completing, completing.id == TemplateCompletion.attendee_id)
        .where(TemplateCompletion.referral_id == Attendee.referral_id,
               TemplateCompletion.session_template_id == bindparam("template_id"),
               completing.session_id != bindparam("session_id"))
        .exists()
    )
    people = (
        select(Attendee.id, Attendee.referral_id, Referral.person_name, Referral.crn, Attendance.id.label("record"),
               Attendance.outcome, Attendance.did_not_engage, Attendance.arrived_at, Attendance.departed_at,
               Attendance.notes, Attendance.recorded_at, Attendance.version, User.name.label("recorded_by"),
               NDeliusAppointment.sync_state, NDeliusAppointment.last_error.label("sync_error"),
               elsewhere.label("completed_elsewhere"))
        .join(Referral, Referral.id == Attendee.referral_id)
        .outerjoin(Attendance, Attendance.attendee_id == Attendee.id)
        .outerjoin(User, User.id == Attendance.recorded_by_id)
        .outerjoin(NDeliusAppointment, NDeliusAppointment.attendee_id == Attendee.id)
        .where(Attendee.session_id == bindparam("session_id"), Attendee.removed_at.is_(None))
        .order_by(Referral.person_name, Attendee.id)
    )
    if one:  # with the session's count for the register's header ("3 of 5 recorded"), in the same statement
        other, record = aliased(Attendee), aliased(Attendance)
        counted = [other.session_id == bindparam("session_id"), other.removed_at.is_(None)]
        people = people.where(Attendee.id == bindparam("attendee_id")).add_columns(
            select(func.count(record.id)).select_from(other).join(record, record.attendee_id == other.id)
            .where(*counted, record.outcome.is_not(None)).scalar_subquery().label("recorded_in_session"),
            select(func.count(other.id)).where(*counted).scalar_subquery().label("expected_in_session"))
    history = (
        select(AttendanceHistory.attendee_id, AttendanceHistory.outcome, AttendanceHistory.did_not_engage,
               AttendanceHistory.arrived_at, AttendanceHistory.departed_at, AttendanceHistory.notes,
               AttendanceHistory.recorded_at, AttendanceHistory.version, User.name)
        .outerjoin(User, User.id == AttendanceHistory.recorded_by_id)
        .where(AttendanceHistory.attendee_id.in_(bindparam("ids", expanding=True)))
        .order_by(AttendanceHistory.version)
    )
    attempts = (
        select(Attendee.referral_id, Session.id, Session.kind, Session.starts_at, Session.group_id,
               Session.session_template_id, Group.code, Group.region_id, Attendance.outcome)
        .join(Session, Session.id == Attendee.session_id).join(Group, Group.id == Session.group_id)
        .outerjoin(Attendance, Attendance.attendee_id == Attendee.id)
        .where(Attendee.referral_id.in_(bindparam("referral_ids", expanding=True)), Attendee.removed_at.is_(None),
               Session.session_template_id == bindparam("template_id"), Session.id != bindparam("session_id"),
               Session.status == "scheduled")
        .order_by(Session.starts_at)
    )
    return people, history, attempts


def rows(session: Session | Header) -> list[Row]:
    """One row per expected person (people who left the group before the session are not expected), in three
    queries whatever the group size: the people with their records, sync states and completions elsewhere;
    the history of their records; their other sessions of the same template."""
    return _read_rows(session, None)[0]


def one_row(session: Session | Header, attendee_id: int) -> tuple[Row | None, int, int]:
    """One expected person's row as `rows` makes it (None if they are not expected), and the session's
    (recorded, expected) count, read with it."""
    found, count = _read_rows(session, attendee_id)
    return (found[0], *count) if found else (None, 0, 0)


def _read_rows(session: Session | Header, only: int | None) -> tuple[list[Row], tuple[int, int]]:
    people, history, attempts = _rows_queries(only is not None)
    params: dict[str, Any] = {"session_id": session.id, "template_id": session.session_template.id,
                              "attendee_id": only}
    result: dict[int, Row] = {}
    past = session.ends_at <= clock.now_local()  # over: an outcome not recorded now needs someone to act
    count = (0, 0)
    for r in reads.run(people, params):
        if only is not None:
            count = (r.recorded_in_session, r.expected_in_session)
        record = None if r.record is None else Record(
            r.outcome, bool(r.did_not_engage), r.arrived_at, r.departed_at, r.notes, r.recorded_at, r.version,
            Named(r.recorded_by) if r.recorded_by is not None else None)
        result[r.id] = Row(attendee=RowAttendee(r.id, r.referral_id, Person(r.referral_id, r.person_name, r.crn),
                                                record),
                           sync_state=shown_state(r.sync_state, r.sync_error, past=past,
                                                  recorded=r.outcome is not None),
                           completed_elsewhere=bool(r.completed_elsewhere))
    if not result:
        return [], count
    for h in reads.run(history, {"ids": list(result)}):
        result[h.attendee_id].history.append(Record(
            h.outcome, bool(h.did_not_engage), h.arrived_at, h.departed_at, h.notes, h.recorded_at, h.version,
            Named(h.name) if h.name is not None else None))
    by_referral = {row.attendee.referral_id: row for row in result.values()}
    for a in reads.run(attempts, dict(params, referral_ids=list(by_referral))):
        other = OtherSession(a.id, a.kind, a.starts_at, a.group_id, GroupRef(a.group_id, a.code, a.region_id),
                             session_template_info(a.session_template_id))
        by_referral[a.referral_id].attempts.append(Attempt(session=other, outcome=a.outcome))
    return list(result.values()), count


# ------------------------------------------------------------------------------------------------ My sessions

@dataclass
class Listed:
    session: Session
    recorded: int
    expected: int


@dataclass
class MySessions:
    today: list[Listed]
    upcoming: list[Listed]
    to_finish: list[Listed]


def my_sessions(user: User, *, days_ahead: int = 28, days_back: int = 28, limit: int = 100) -> MySessions:
    """Today's sessions first, then upcoming ones; and earlier sessions whose register is not finished.
    Facilitators see the sessions they facilitate (lead or cover); treatment managers (and admins) their
    region's."""
    now = clock.now_local()
    midnight = datetime.combine(now.date(), datetime.min.time())
    expected = (
        select(func.count(Attendee.id)).where(Attendee.session_id == Session.id, Attendee.removed_at.is_(None))
        .correlate(Session).scalar_subquery()
    )
    recorded = (
        select(func.count(Attendance.id)).join(Attendee, Attendee.id == Attendance.attendee_id)
        .where(Attendee.session_id == Session.id, Attendee.removed_at.is_(None), Attendance.outcome.is_not(None))
        .correlate(Session).scalar_subquery()
    )
    base = (
        select(Session, recorded, expected).join(Group, Group.id == Session.group_id)
        .where(Session.status == "scheduled", region_filter(user))
        .options(joinedload(Session.group),
                 joinedload(Session.session_template).joinedload(SessionTemplate.module))
        .order_by(Session.starts_at, Session.id)
    )
    if user.role == "facilitator":
        mine = select(SessionFacilitator.id).where(SessionFacilitator.session_id == Session.id,
                                                   SessionFacilitator.facilitator_id == (user.facilitator_id or 0))
        base = base.where(mine.exists())

    def listed(query: Select[Session, Referral, Any]) -> list[Listed]:
        return [Listed(s, r, e) for s, r, e in db.session.execute(query.limit(limit))]

    soon = listed(base.where(Session.starts_at >= midnight,
                             Session.starts_at < midnight + timedelta(days=days_ahead + 1)))
    tomorrow = midnight + timedelta(days=1)
    to_finish = listed(base.where(Session.starts_at >= midnight - timedelta(days=days_back),
                                  Session.starts_at < midnight, recorded < expected))
    return MySessions(today=[x for x in soon if x.session.starts_at < tomorrow],
                      upcoming=[x for x in soon if x.session.starts_at >= tomorrow], to_finish=to_finish)
