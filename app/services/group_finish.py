"""A group's end (issue 15.4). A started group is **finished** once its last session is past and every session
that has happened has an outcome for everyone expected at it; it shows as Finished (not Started) from then on.
A lead (or a treatment manager, or an admin) then **closes** it: the group's memberships end, and each member's
status follows the completion rules (SPEC §4):

- someone who completed every module is Programme complete (attendance already moved them there);
- someone who did not keeps their place in the programme: they go back to Awaiting allocation, so "Find a group"
  can offer them a group at the point they reached (bus stopping, within 12 weeks) or a restart later;
- any other status (deferred, withdrawn…) was a person's decision and stays.

Closing is refused, saying why, while the group is not finished. It is one transaction with its audit event;
the referral status changes announce themselves (app/services/events_out.py)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import Attendance, Attendee, Group, Membership, ReferralProgress, Session, User
from app.services import audit
from app.services.errors import ServiceError
from app.services.membership import now_utc
from app.services.schedule_guard import refuse_while_busy

LABELS = {"not_started": "Not started", "started": "Started", "finished": "Finished", "closed": "Closed"}
TAGS = {"not_started": "grey", "started": "green", "finished": "blue", "closed": "grey"}
CLOSE_REASON = "The group finished and was closed"
CONTINUING = ("Scheduled", "On programme")


@dataclass(frozen=True)
class Finish:
    state: str  # not_started | started | finished | closed
    last_ends_at: datetime | None = None  # the end of the group's last live session
    missing: int = 0  # outcomes still to record at sessions that have happened, counted once the last is past

    @property
    def label(self) -> str:
        return LABELS[self.state]

    @property
    def tag(self) -> str:
        return TAGS[self.state]

    @property
    def last_is_past(self) -> bool:
        return self.last_ends_at is not None and self.last_ends_at <= clock.now_local()


def states(groups: Iterable[tuple[int, datetime | None, datetime | None]]) -> dict[int, Finish]:
    """The state of each (group id, started_at, closed_at), in two queries whatever their number.

    The outcomes still to record are counted only for groups whose last session is past: until then the group
    is Started whatever they are, and nothing shows the count (counting them for a region's ~400 running groups
    reads every attendance of their past sessions: 300 ms on the national dataset)."""
    groups = list(groups)
    started = [gid for gid, started_at, closed_at in groups if started_at is not None and closed_at is None]
    last: dict[int, datetime] = {}
    missing: dict[int, int] = {}
    now = clock.now_local()
    if started:
        last = dict(db.session.execute(
            select(Session.group_id, func.max(Session.ends_at))
            .where(Session.group_id.in_(started), Session.status == "scheduled").group_by(Session.group_id)).all())
    if ended := [gid for gid in started if gid in last and last[gid] <= now]:
        missing = dict(db.session.execute(
            select(Session.group_id, func.count(Attendee.id))
            .join(Attendee, Attendee.session_id == Session.id)
            .outerjoin(Attendance, Attendance.attendee_id == Attendee.id)
            .where(Session.group_id.in_(ended), Session.status == "scheduled", Session.starts_at <= now,
                   Attendee.removed_at.is_(None), Attendance.outcome.is_(None))
            .group_by(Session.group_id)).all())
    found: dict[int, Finish] = {}
    for gid, started_at, closed_at in groups:
        if closed_at is not None:
            found[gid] = Finish("closed")
        elif started_at is None:
            found[gid] = Finish("not_started")
        else:
            ends, gaps = last.get(gid), missing.get(gid, 0)
            finished = ends is not None and ends <= now and gaps == 0
            found[gid] = Finish("finished" if finished else "started", ends, gaps)
    return found


def state_of(group: Group) -> Finish:
    return states([(group.id, group.started_at, group.closed_at)])[group.id]


def refusal(group: Group) -> str | None:
    """Why the group cannot be closed now, or None."""
    finish = state_of(group)
    if finish.state == "closed":
        return f"Group {group.code} is already closed"
    if finish.state == "not_started":
        return f"Group {group.code} has not started"
    if not finish.last_is_past:
        when = finish.last_ends_at
        return (f"Group {group.code} cannot be closed yet: its last session is on {when:%-d %B %Y}"
                if when else f"Group {group.code} has no sessions")
    if finish.missing:
        return (f"Group {group.code} cannot be closed yet: {finish.missing} outcome{'s' if finish.missing != 1 else ''}"
                f" still to record at its sessions")
    return None


@dataclass(frozen=True)
class Closed:
    completed: int  # Programme complete
    waiting: int  # back on the waiting list (Awaiting allocation), to finish in another group
    kept: int  # another status a person chose, left as it was


def close(actor: User, group: Group) -> Closed:
    if actor.role != "admin" and group.region_id != actor.region_id:
        raise ServiceError("You can only close groups in your region")
    refuse_while_busy(group.id)
    reason = refusal(group)
    if reason:
        raise ServiceError(reason)
    now = now_utc()
    members = list(db.session.scalars(select(Membership).where(Membership.group_id == group.id,
                                                               Membership.left_at.is_(None))))
    complete = set(db.session.scalars(select(ReferralProgress.referral_id).where(
        ReferralProgress.referral_id.in_([m.referral_id for m in members]), ReferralProgress.complete.is_(True))))
    completed = waiting = kept = 0
    people = []
    for membership in members:
        referral = membership.referral
        if membership.referral_id in complete and referral.status in (*CONTINUING, "Programme complete"):
            referral.status = "Programme complete"
            completed += 1
        elif referral.status in CONTINUING:
            referral.status = "Awaiting allocation"
            waiting += 1
        else:
            kept += 1
        membership.left_at = max(now, membership.joined_at)
        membership.left_reason = CLOSE_REASON
        membership.left_status = referral.status
        membership.removed_by_id = actor.id
        people.append({"crn": referral.crn, "status": referral.status})
    group.closed_at, group.closed_by_id = now, actor.id
    audit.record(actor, "group.closed", group, group_id=group.id, after={
        "programme_complete": completed, "awaiting_allocation": waiting, "status_kept": kept, "members": people})
    db.session.commit()
    return Closed(completed, waiting, kept)
