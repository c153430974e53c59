"""Which region a page shows. Everyone sees their own region; an admin sees every region and may choose one
with `?region_id=` (the pages say which: "All regions" or the chosen region's name, never the admin's home
region over another region's rows)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import request
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db
from app.models import Region
from app.web.input_bounds import db_id


@dataclass(frozen=True)
class RegionChoice:
    """`region_id` is what to filter on (None: every region, admins only); `options` is what an admin may choose
    from (empty for everyone else); `title` is what the page calls its scope."""

    region_id: int | None
    options: list[Region]
    title: str

    @property
    def args(self) -> dict[str, Any]:
        """Query arguments that keep the choice on links (empty when nothing was chosen)."""
        return {"region_id": self.region_id} if self.region_id is not None and self.options else {}


def chosen_region_id() -> int | None:
    """The admin's chosen region (a well-formed id), or None."""
    if current_user.role != "admin":
        return None
    value = request.args.get("region_id", "")
    return db_id(value) if value else None


def region_choice() -> RegionChoice:
    if current_user.role != "admin":
        return RegionChoice(current_user.region_id, [], current_user.region.name)
    options = list(db.session.scalars(select(Region).order_by(Region.name)))
    wanted = chosen_region_id()
    chosen = next((r for r in options if r.id == wanted), None)
    if chosen is None:
        return RegionChoice(None, options, "All regions")
    return RegionChoice(chosen.id, options, chosen.name)
