"""Facilitators of groups and sessions (SPEC §3, issue 6).

A group's lead and cover facilitators can change at any time; the change reaches the group's future
generated sessions as a *difference* (the old lead is replaced where they still lead, removed covers go,
added covers join), so a session whose team was changed on its own keeps that change. nDelius records the
lead as the appointment's staff member, so a new lead means an update for every appointment of that session.
Nobody is silently double-booked: an overlapping booking is reported, naming where (app/services/clashes.py),
and saving anyway needs a second, deliberate confirmation."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app import clock
from app.extensions import db
from app.models import (
    Attendee,
    Facilitator,
    Group,
    GroupFacilitator,
    NDeliusAppointment,
    Session,
    SessionFacilitator,
    SessionTemplate,
    User,
)
from app.services import audit, outbox
from app.services.clashes import Clash, already_booked, clash_key, facilitator_clashes
from app.services.errors import ServiceError
from app.services.schedule_guard import refuse_while_busy


class FacilitatorClash(ServiceError):
    """A facilitator would be double-booked; nothing was saved. Saving again with accepted=clash_key(clashes)
    accepts them."""

    def __init__(self, clashes: list[Clash]) -> None:
        super().__init__(already_booked(clashes), "lead_facilitator_id")
        self.clashes = clashes
        self.key = clash_key(clashes)


@dataclass
class Changed:
    sessions: int = 0  # sessions whose facilitators changed
    appointments: int = 0  # nDelius appointments updated (new staff member)
    clashes: list[Clash] = field(default_factory=list)  # accepted double bookings


def get_facilitator(user: User, facilitator_id: int) -> Facilitator | None:
    query = select(Facilitator).where(Facilitator.id == facilitator_id)
    if user.role != "admin":
        query = query.where(Facilitator.region_id == user.region_id)
    return db.session.scalar(query)


def region_facilitators(region_id: int) -> list[Facilitator]:
    """The region's staff as nDelius lists them now (app/services/staff.py)."""
    return list(db.session.scalars(select(Facilitator).where(Facilitator.region_id == region_id,
                                                             Facilitator.in_ndelius.is_(True))
                                   .order_by(Facilitator.name)))


def _check_team(group: Group, lead_id: int | None, cover_ids: list[int]) -> None:
    if not lead_id:
        raise ServiceError("Choose a lead facilitator", "lead_facilitator_id")
    if lead_id in cover_ids:
        raise ServiceError("The lead facilitator cannot also be a cover facilitator", "cover_facilitator_ids")
    wanted = {lead_id, *cover_ids}
    found = set(db.session.scalars(select(Facilitator.id).where(Facilitator.id.in_(wanted),
                                                                 Facilitator.region_id == group.region_id)))
    if found != wanted:
        raise ServiceError("Choose facilitators from the group's region", "lead_facilitator_id")


def _team(rows: list[GroupFacilitator] | list[SessionFacilitator]) -> tuple[int | None, list[int]]:
    lead = next((r.facilitator_id for r in rows if r.role == "lead"), None)
    return lead, sorted(r.facilitator_id for r in rows if r.role == "cover")


def _names(ids: Sequence[int | None]) -> list[str]:
    found = {f.id: f.name for f in db.session.scalars(select(Facilitator).where(Facilitator.id.in_(
        [i for i in ids if i])))}
    return [found.get(i, "") for i in ids if i]


def _set_team(rows: list, model: type, lead_id: int, cover_ids: list[int]) -> None:
    """Make a team collection say lead_id + cover_ids. Demotions and removals are flushed before promotions,
    so the one-lead unique index holds at every step."""
    wanted = {lead_id: "lead", **{c: "cover" for c in cover_ids}}
    for row in list(rows):
        if row.facilitator_id not in wanted:
            rows.remove(row)  # delete-orphan: the row is deleted
        elif wanted[row.facilitator_id] == "cover" and row.role == "lead":
            row.role = "cover"
    db.session.flush()
    present = {r.facilitator_id: r for r in rows}
    for facilitator_id, role in wanted.items():
        row = present.get(facilitator_id)
        if row is None:
            rows.append(model(facilitator_id=facilitator_id, role=role))
        elif row.role != role:
            row.role = role
    db.session.flush()


def _appointments_of(session_ids: list[int]) -> list[NDeliusAppointment]:
    if not session_ids:
        return []
    return list(db.session.scalars(
        select(NDeliusAppointment).join(Attendee, Attendee.id == NDeliusAppointment.attendee_id)
        .where(Attendee.session_id.in_(session_ids), Attendee.removed_at.is_(None),
               NDeliusAppointment.sync_state != "deleted")
    ))


def change_group_facilitators(actor: User, group: Group, lead_id: int | None, cover_ids: list[int], *,
                              accepted: str | None = None) -> Changed:
    if actor.role != "admin" and group.region_id != actor.region_id:
        raise ServiceError("You can only change groups in your region")
    _check_team(group, lead_id, cover_ids)
    assert lead_id is not None
    refuse_while_busy(group.id)  # also holds the group's row
    old_lead, old_covers = _team(group.facilitators)
    if (old_lead, old_covers) == (lead_id, sorted(cover_ids)):
        return Changed()

    sessions = list(db.session.scalars(
        select(Session).where(Session.group_id == group.id, Session.kind == "scheduled",
                              Session.status == "scheduled", Session.starts_at > clock.now_local())
        .options(selectinload(Session.facilitators)).order_by(Session.starts_at)
    ))
    removed_covers = set(old_covers) - set(cover_ids) - {lead_id}
    added_covers = set(cover_ids) - set(old_covers)
    plans: list[tuple[Session, int, list[int]]] = []
    new_pairs: list[tuple[int, Session]] = []
    for session in sessions:
        s_lead, s_covers = _team(session.facilitators)
        if s_lead == old_lead or s_lead is None:
            s_lead = lead_id
        covers = [c for c in s_covers if c not in removed_covers and c != s_lead]
        covers += [c for c in added_covers if c not in covers and c != s_lead]
        if (s_lead, sorted(covers)) == _team(session.facilitators):
            continue
        before = {r.facilitator_id for r in session.facilitators}
        new_pairs += [(f, session) for f in {s_lead, *covers} - before]
        plans.append((session, s_lead, sorted(covers)))

    found = facilitator_clashes(new_pairs)
    if found and clash_key(found) != accepted:
        raise FacilitatorClash(found)

    _set_team(group.facilitators, GroupFacilitator, lead_id, cover_ids)
    lead_changed: list[int] = []
    for session, s_lead, covers in plans:
        if _team(session.facilitators)[0] != s_lead:
            lead_changed.append(session.id)
        _set_team(session.facilitators, SessionFacilitator, s_lead, covers)
    appointments = _appointments_of(lead_changed)
    for appointment in appointments:
        outbox.appointment_changed(appointment, "update")
    audit.record(actor, "group.facilitators_changed", group, group_id=group.id,
                 before={"lead": _names([old_lead])[0] if old_lead else None, "cover": _names(old_covers)},
                 after={"lead": _names([lead_id])[0], "cover": _names(cover_ids), "future_sessions": len(plans),
                        "appointments_updated": len(appointments),
                        "clashes_accepted": [c.text for c in found]})
    db.session.commit()
    return Changed(len(plans), len(appointments), found)


def change_session_facilitators(actor: User, session: Session, lead_id: int | None, cover_ids: list[int], *,
                                accepted: str | None = None) -> Changed:
    group = session.group
    if actor.role != "admin" and group.region_id != actor.region_id:
        raise ServiceError("You can only change sessions in your region")
    if session.status == "cancelled":
        raise ServiceError("This session has been cancelled", "lead_facilitator_id")
    refuse_while_busy(group.id)
    _check_team(group, lead_id, cover_ids)
    assert lead_id is not None
    old_lead, old_covers = _team(session.facilitators)
    if (old_lead, old_covers) == (lead_id, sorted(cover_ids)):
        return Changed()
    before_ids = {r.facilitator_id for r in session.facilitators}
    found = facilitator_clashes([(f, session) for f in {lead_id, *cover_ids} - before_ids])
    if found and clash_key(found) != accepted:
        raise FacilitatorClash(found)
    _set_team(session.facilitators, SessionFacilitator, lead_id, cover_ids)
    appointments = _appointments_of([session.id]) if old_lead != lead_id else []
    for appointment in appointments:
        outbox.appointment_changed(appointment, "update")
    audit.record(actor, "session.facilitators_changed", session, group_id=group.id,
                 before={"lead": _names([old_lead])[0] if old_lead else None, "cover": _names(old_covers)},
                 after={"lead": _names([lead_id])[0], "cover": _names(cover_ids),
                        "appointments_updated": len(appointments), "clashes_accepted": [c.text for c in found]})
    db.session.commit()
    return Changed(1, len(appointments), found)


@dataclass(frozen=True)
class Week:
    starts_on: date
    sessions: list[tuple[Session, str]]  # (session, role)


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def sessions_by_week(facilitator: Facilitator, *, past: bool = False) -> list[Week]:
    """The facilitator's live sessions (lead or cover), from the start of this week on — or before it when
    `past` — grouped by the week (Monday) they fall in."""
    monday = datetime.combine(week_start(clock.today()), datetime.min.time())
    query = (
        select(Session, SessionFacilitator.role)
        .join(SessionFacilitator, SessionFacilitator.session_id == Session.id)
        .where(SessionFacilitator.facilitator_id == facilitator.id, Session.status == "scheduled")
        .options(selectinload(Session.group), selectinload(Session.attendees),
                 selectinload(Session.session_template).selectinload(SessionTemplate.module))
    )
    if past:
        query = query.where(Session.starts_at < monday).order_by(Session.starts_at.desc(), Session.id)
    else:
        query = query.where(Session.starts_at >= monday).order_by(Session.starts_at, Session.id)
    weeks: dict[date, list[tuple[Session, str]]] = {}
    for session, role in db.session.execute(query):
        weeks.setdefault(week_start(session.starts_at.date()), []).append((session, role))
    return [Week(day, rows) for day, rows in weeks.items()]


def facilitators_list(user: User, region_id: int | None = None) -> list[Facilitator]:
    """The facilitators a user sees listed: their region's (admins: every region's, or the one they chose), by
    name."""
    query = select(Facilitator).order_by(Facilitator.name)
    region = user.region_id if user.role != "admin" else region_id
    if region is not None:
        query = query.where(Facilitator.region_id == region)
    return list(db.session.scalars(query))


def upcoming_sessions(group: Group) -> list[Session]:
    """The group's sessions still to come, with their facilitators and templates (the team page lists them)."""
    return list(db.session.scalars(
        select(Session).where(Session.group_id == group.id, Session.status == "scheduled",
                              Session.starts_at > clock.now_local())
        .options(selectinload(Session.facilitators).selectinload(SessionFacilitator.facilitator),
                 selectinload(Session.session_template).selectinload(SessionTemplate.module))
        .order_by(Session.starts_at, Session.id)
    ))


def group_session(group: Group, session_id: int) -> Session | None:
    """One session of this group (None for another group's, or none)."""
    session = db.session.get(Session, session_id)
    return session if session is not None and session.group_id == group.id else None
