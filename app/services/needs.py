"""What a person cannot do (issue 15.3): times in the week, delivery locations and people they must not be in a
group with, recorded before they are allocated. `refusal` is the check allocation makes (through
app.services.joining.refusal, whichever page allocates); `load` reads many people's needs in a fixed number of
queries, so lists of groups or of people stay cheap. Every change is audited on the referral."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import (
    AuditEvent,
    ExcludedLocation,
    Group,
    Membership,
    Module,
    NonAssociation,
    Referral,
    SessionTemplate,
    Unavailability,
    User,
)
from app.models.group import DAY_NAMES
from app.scheduling import Busy
from app.scheduling.template import GROUP
from app.services import audit
from app.services.errors import ServiceError

DEFAULT_GROUP_MINUTES = 150
PLURAL_DAYS = tuple(f"{d}s" for d in DAY_NAMES)


def location_key(name: str) -> str:
    return " ".join(name.split()).lower()


def describe_time(row: Unavailability) -> str:
    return f"{PLURAL_DAYS[row.day_of_week]} {row.start_time:%H:%M}–{row.end_time:%H:%M}"


@dataclass
class Needs:
    unavailable: list[Unavailability] = field(default_factory=list)
    locations: dict[str, ExcludedLocation] = field(default_factory=dict)  # by location_key
    avoid: dict[int, str] = field(default_factory=dict)  # referral id -> name of someone to keep apart from
    avoid_in_groups: dict[int, list[str]] = field(default_factory=dict)  # group id -> those of them in it now
    associations: list[tuple[NonAssociation, Referral]] = field(default_factory=list)  # (row, the other person)

    @property
    def any(self) -> bool:
        return bool(self.unavailable or self.locations or self.avoid)


def load(referral_ids: Iterable[int]) -> dict[int, Needs]:
    """Each person's needs (an empty Needs for someone with none), in three queries whatever their number."""
    ids = sorted(set(referral_ids))
    found = {rid: Needs() for rid in ids}
    if not ids:
        return found
    for row in db.session.scalars(select(Unavailability).where(Unavailability.referral_id.in_(ids))
                                  .order_by(Unavailability.day_of_week, Unavailability.start_time,
                                            Unavailability.id)):
        found[row.referral_id].unavailable.append(row)
    for place in db.session.scalars(select(ExcludedLocation).where(ExcludedLocation.referral_id.in_(ids))
                                    .order_by(ExcludedLocation.location, ExcludedLocation.id)):
        found[place.referral_id].locations[place.location_key] = place
    pairs = db.session.execute(
        select(NonAssociation, Referral, Membership.group_id)
        .join(Referral, or_(
            (NonAssociation.referral_id.in_(ids)) & (Referral.id == NonAssociation.other_referral_id),
            (NonAssociation.other_referral_id.in_(ids)) & (Referral.id == NonAssociation.referral_id)))
        .outerjoin(Membership, (Membership.referral_id == Referral.id) & Membership.left_at.is_(None))
        .order_by(Referral.person_name, NonAssociation.id)
    ).all()
    for pair, other, group_id in pairs:
        mine = pair.other_referral_id if other.id == pair.referral_id else pair.referral_id
        needs = found[mine]
        needs.avoid[other.id] = other.person_name
        needs.associations.append((pair, other))
        if group_id is not None:
            needs.avoid_in_groups.setdefault(group_id, []).append(other.person_name)
    return found


def of(referral: Referral) -> Needs:
    return load([referral.id])[referral.id]


def group_minutes(template_ids: Iterable[int]) -> dict[int, int]:
    """How long a group session of each programme template lasts (its longest), in one query."""
    ids = sorted(set(template_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        select(Module.template_id, func.max(SessionTemplate.duration_minutes))
        .join(SessionTemplate, SessionTemplate.module_id == Module.id)
        .where(Module.template_id.in_(ids), SessionTemplate.session_type == GROUP).group_by(Module.template_id)
    ).all()
    minutes = {template_id: int(longest) for template_id, longest in rows if longest}
    return {template_id: minutes.get(template_id, DEFAULT_GROUP_MINUTES) for template_id in ids}


def _end(start: time, minutes: int) -> time:
    return (datetime.combine(date.min, start) + timedelta(minutes=minutes)).time()


def refusal(group: Group, referral: Referral, needs: Needs, minutes: int) -> str | None:
    """Which of the person's needs stops them joining this group (None: none does). `minutes`: how long the
    group's sessions last (group_minutes)."""
    name = referral.person_name
    if group.id in needs.avoid_in_groups:
        others = " and ".join(needs.avoid_in_groups[group.id])
        return f"{name} must not be in a group with {others}, who {'is' if ' and ' not in others else 'are'} " \
               f"in group {group.code} (non-association)"
    place = needs.locations.get(location_key(group.delivery_location or ""))
    if place is not None:
        return (f"Group {group.code} meets at {group.delivery_location}, a location {name} cannot attend "
                f"({place.reason})")
    for slot in group.slots:
        slot_end = _end(slot.start_time, minutes)
        for row in needs.unavailable:
            overlaps = (row.day_of_week == slot.day_of_week and slot.start_time < row.end_time
                        and (slot_end > row.start_time or slot_end < slot.start_time))
            if overlaps:
                return (f"Group {group.code} meets on {DAY_NAMES[slot.day_of_week]} "
                        f"{slot.start_time:%H:%M}–{slot_end:%H:%M}, when {name} cannot attend "
                        f"({describe_time(row)}: {row.reason})")
    return None


def unavailable_busy(referral_ids: Iterable[int], since: datetime, until: datetime) -> list[Busy]:
    """The people's weekly unavailable times between two moments, as busy entries for the scheduling rules
    (owner "person:<referral id>"), so suggested one-to-ones go round them."""
    entries = []
    rows = db.session.scalars(select(Unavailability).where(Unavailability.referral_id.in_(list(referral_ids))))
    for row in rows:
        day = since.date()
        while datetime.combine(day, time.min) < until:
            if day.weekday() == row.day_of_week:
                entries.append(Busy(f"person:{row.referral_id}", datetime.combine(day, row.start_time),
                                    datetime.combine(day, row.end_time)))
            day += timedelta(days=1)
    return entries


# changes ----------------------------------------------------------------------------------------------------------

def _in_region(actor: User, referral: Referral) -> None:
    if actor.role != "admin" and referral.region_id != actor.region_id:
        raise ServiceError("You can only change people in your region")


def _reason(text: str | None, what: str, limit: int) -> str:
    reason = " ".join((text or "").split())
    if not reason:
        raise ServiceError(f"Enter {what}", "reason")
    if len(reason) > limit:
        raise ServiceError(f"The reason must be {limit} characters or fewer", "reason")
    return reason


def add_unavailability(actor: User, referral: Referral, *, day_of_week: int | None, start: time | None,
                       end: time | None, reason: str | None) -> Unavailability:
    _in_region(actor, referral)
    if day_of_week is None or not 0 <= day_of_week <= 6:
        raise ServiceError("Choose the day they cannot attend", "day_of_week")
    if start is None:
        raise ServiceError("Enter the time they cannot attend from, like 09:00", "start_time")
    if end is None:
        raise ServiceError("Enter the time they can attend again, like 17:00", "end_time")
    if end <= start:
        raise ServiceError("The end time must be after the start time", "end_time")
    why = _reason(reason, "why they cannot attend then, for example work", 200)
    row = Unavailability(referral_id=referral.id, day_of_week=day_of_week, start_time=start, end_time=end,
                         reason=why, created_by_id=actor.id)
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "referral.unavailability_added", referral, after={
        "unavailability_id": row.id, "day": DAY_NAMES[day_of_week], "from": f"{start:%H:%M}",
        "until": f"{end:%H:%M}", "reason": why})
    db.session.commit()
    return row


def remove_unavailability(actor: User, referral: Referral, row: Unavailability) -> None:
    _in_region(actor, referral)
    audit.record(actor, "referral.unavailability_removed", referral, before={
        "unavailability_id": row.id, "day": DAY_NAMES[row.day_of_week], "from": f"{row.start_time:%H:%M}",
        "until": f"{row.end_time:%H:%M}", "reason": row.reason})
    db.session.delete(row)
    db.session.commit()


def add_excluded_location(actor: User, referral: Referral, *, location: str | None,
                          reason: str | None) -> ExcludedLocation:
    _in_region(actor, referral)
    name = " ".join((location or "").split())
    if not name:
        raise ServiceError("Enter the delivery location they cannot attend", "location")
    if len(name) > 200:
        raise ServiceError("The location must be 200 characters or fewer", "location")
    why = _reason(reason, "why they cannot attend it", 500)
    if db.session.scalar(select(ExcludedLocation.id).where(ExcludedLocation.referral_id == referral.id,
                                                           ExcludedLocation.location_key == location_key(name))):
        raise ServiceError(f"{name} is already a location {referral.person_name} cannot attend", "location")
    place = ExcludedLocation(referral_id=referral.id, location=name, location_key=location_key(name), reason=why,
                             created_by_id=actor.id)
    db.session.add(place)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise ServiceError(f"{name} is already a location {referral.person_name} cannot attend",
                           "location") from None
    audit.record(actor, "referral.location_excluded", referral, after={
        "excluded_location_id": place.id, "location": name, "reason": why})
    db.session.commit()
    return place


def remove_excluded_location(actor: User, referral: Referral, place: ExcludedLocation) -> None:
    _in_region(actor, referral)
    audit.record(actor, "referral.location_allowed", referral, before={
        "excluded_location_id": place.id, "location": place.location, "reason": place.reason})
    db.session.delete(place)
    db.session.commit()


def add_non_association(actor: User, referral: Referral, *, crn: str | None, reason: str | None) -> NonAssociation:
    """Keep two people of the same region out of each other's groups. Nothing changes for a group they are
    both in already (the caller says so); allocation refuses from now on."""
    _in_region(actor, referral)
    wanted = (crn or "").strip().upper()
    if not wanted:
        raise ServiceError("Enter the CRN of the person they must not be in a group with", "crn")
    if wanted == referral.crn.upper():
        raise ServiceError("Enter someone else's CRN", "crn")
    other = db.session.scalar(select(Referral).where(func.upper(Referral.crn) == wanted,
                                                     Referral.region_id == referral.region_id)
                              .order_by(Referral.id.desc()).limit(1))
    if other is None:
        raise ServiceError(f"Nobody with CRN {wanted} has a referral in this region", "crn")
    why = _reason(reason, "why they must not be in a group together", 1000)
    low, high = sorted((referral.id, other.id))
    if db.session.scalar(select(NonAssociation.id).where(NonAssociation.referral_id == low,
                                                         NonAssociation.other_referral_id == high)):
        raise ServiceError(f"{referral.person_name} and {other.person_name} are already kept apart", "crn")
    pair = NonAssociation(referral_id=low, other_referral_id=high, reason=why, created_by_id=actor.id)
    db.session.add(pair)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise ServiceError(f"{referral.person_name} and {other.person_name} are already kept apart",
                           "crn") from None
    detail = {"non_association_id": pair.id, "referral_id": referral.id, "crn": referral.crn,
              "other_referral_id": other.id, "other_crn": other.crn, "reason": why}
    audit.record(actor, "referral.non_association_added", referral, after=detail)
    audit.record(actor, "referral.non_association_added", other, after=detail)
    db.session.commit()
    return pair


def remove_non_association(actor: User, referral: Referral, pair: NonAssociation) -> None:
    _in_region(actor, referral)
    detail = {"non_association_id": pair.id, "referral_id": pair.referral_id, "crn": pair.referral.crn,
              "other_referral_id": pair.other_referral_id, "other_crn": pair.other.crn, "reason": pair.reason}
    audit.record(actor, "referral.non_association_removed", pair.referral, before=detail)
    audit.record(actor, "referral.non_association_removed", pair.other, before=detail)
    db.session.delete(pair)
    db.session.commit()


def shared_group(referral: Referral, other_id: int) -> Group | None:
    """A group both people are in now (a non-association recorded after they were put together)."""
    mine = select(Membership.group_id).where(Membership.referral_id == referral.id, Membership.left_at.is_(None))
    return db.session.scalar(select(Group).join(Membership, Membership.group_id == Group.id)
                             .where(Membership.referral_id == other_id, Membership.left_at.is_(None),
                                    Group.id.in_(mine)))


def current_group_clash(referral: Referral) -> str | None:
    """What the person cannot do that their current group breaks (recorded after they joined it): allocation no
    longer checks a group they are in, so the page says so."""
    group = db.session.scalar(select(Group).join(Membership, Membership.group_id == Group.id)
                              .where(Membership.referral_id == referral.id, Membership.left_at.is_(None)))
    if group is None:
        return None
    person = of(referral)
    if not person.any:
        return None
    return refusal(group, referral, person, group_minutes([group.template_id])[group.template_id])


# what the person's needs page reads -------------------------------------------------------------------------

# The audit actions of what a person cannot do: the page lists their latest changes.
NEEDS_ACTIONS = ("referral.unavailability_added", "referral.unavailability_removed", "referral.location_excluded",
                 "referral.location_allowed", "referral.non_association_added",
                 "referral.non_association_removed")


def known_locations(region_id: int) -> list[str]:
    """The delivery locations of the region's groups, to choose from."""
    return sorted(set(db.session.scalars(select(Group.delivery_location).where(Group.region_id == region_id))))


def changes(referral: Referral, limit: int = 50) -> list[AuditEvent]:
    """The latest changes to what the person cannot do, newest first."""
    return list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "referral", AuditEvent.object_id == referral.id,
                                 AuditEvent.action.in_(NEEDS_ACTIONS))
        .options(joinedload(AuditEvent.user)).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)))


def unavailability_of(referral: Referral, row_id: int) -> Unavailability | None:
    return db.session.scalar(select(Unavailability).where(Unavailability.id == row_id,
                                                          Unavailability.referral_id == referral.id))


def excluded_location_of(referral: Referral, row_id: int) -> ExcludedLocation | None:
    return db.session.scalar(select(ExcludedLocation).where(ExcludedLocation.id == row_id,
                                                            ExcludedLocation.referral_id == referral.id))


def non_association_of(referral: Referral, pair_id: int) -> NonAssociation | None:
    """A non-association the person is in, whichever side of the pair they were recorded on."""
    return db.session.scalar(select(NonAssociation).where(
        NonAssociation.id == pair_id,
        (NonAssociation.referral_id == referral.id) | (NonAssociation.other_referral_id == referral.id)))
