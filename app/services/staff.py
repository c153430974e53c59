"""Facilitators are the region's staff in nDelius (issue 15.10): `refresh` reads each region's members
(``GET /regions/{code}/members``, app.integrations.ndelius_users.region_members) and brings the facilitator rows
in step: new staff are added, names and teams follow nDelius, and someone nDelius no longer lists in the region
is kept (their past sessions name them) but no longer offered when choosing facilitators. The scheduler runs it
every STAFF_REFRESH_INTERVAL seconds (jobs/staff.py); `flask staff refresh` runs it now."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select

from app.extensions import db
from app.integrations.ndelius_users import Member, NDeliusUnavailable, region_members
from app.models import Facilitator, Region
from app.models.base import utcnow

log = logging.getLogger(__name__)


@dataclass
class Refreshed:
    region: str
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    back: list[str] = field(default_factory=list)
    error: str | None = None

    def summary(self) -> str:
        if self.error:
            return f"{self.region}: not refreshed ({self.error})"
        return (f"{self.region}: {len(self.added)} added, {len(self.changed)} changed, {len(self.gone)} no longer "
                f"in the region, {len(self.back)} back")


def refresh_region(region: Region) -> Refreshed:
    """One region, in one transaction. nDelius unreachable: nothing changes and the result says why."""
    result = Refreshed(region.code)
    try:
        members = region_members(region.code)
    except NDeliusUnavailable as exc:
        result.error = str(exc)
        log.warning("staff not refreshed", extra={"event": "staff_refresh_failed", "region": region.code,
                                                  "error": str(exc)})
        return result
    if members is None:
        result.error = "nDelius does not know the region"
        return result
    listed: dict[str, Member] = {}
    for member in members:  # someone in several teams: their first team is the one kept
        listed.setdefault(member.staff_code, member)
    now = utcnow()
    known = {f.staff_code: f for f in db.session.scalars(select(Facilitator).where(
        Facilitator.staff_code.in_(list(listed)) | (Facilitator.region_id == region.id)))}
    for code, member in listed.items():
        facilitator = known.get(code)
        if facilitator is None:
            facilitator = Facilitator(region_id=region.id, name=member.name, staff_code=code,
                                      team_code=member.team_code, email="")
            db.session.add(facilitator)
            result.added.append(member.name)
        else:
            if (facilitator.name, facilitator.team_code, facilitator.region_id) != (
                    member.name, member.team_code, region.id):
                result.changed.append(member.name)
            if not facilitator.in_ndelius:
                result.back.append(member.name)
            facilitator.name, facilitator.team_code, facilitator.region_id = member.name, member.team_code, region.id
            facilitator.in_ndelius = True
        facilitator.refreshed_at = now
    for code, facilitator in known.items():
        if code not in listed and facilitator.region_id == region.id and facilitator.in_ndelius:
            facilitator.in_ndelius = False
            facilitator.refreshed_at = now
            result.gone.append(facilitator.name)
    db.session.commit()
    log.info("staff refreshed", extra={"event": "staff_refreshed", "region": region.code,
                                       "added": len(result.added), "changed": len(result.changed),
                                       "gone": len(result.gone)})
    return result


def refresh() -> list[Refreshed]:
    """Every region this service knows."""
    regions = list(db.session.scalars(select(Region).order_by(Region.code)))
    return [refresh_region(region) for region in regions]
