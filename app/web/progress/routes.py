"""Progress for leads: a group's people × sessions grid, the regional dashboard and its CSV export."""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from jinja2_fragments.flask import render_block
from markupsafe import Markup

from app import clock
from app.services import progress_grid, progress_report
from app.services.groups import get_group
from app.web import region_cache, restricted, whole_pages
from app.web.access import roles
from app.web.csv_download import csv_response
from app.web.input_bounds import db_id
from app.web.region_choice import chosen_region_id, region_choice

bp = Blueprint("progress", __name__, url_prefix="/progress")
READERS = ("lead", "treatment_manager", "admin")  # app.web.permissions.LEADS
NAV = [(30, "Progress", "progress.index", READERS)]



@bp.route("")
@roles(*READERS)
def index() -> ResponseReturnValue:
    region_id = chosen_region_id()
    scope = region_id if current_user.role == "admin" else current_user.region_id

    def page(marks: Mapping[str, Any]) -> str:
        regions = region_choice().options  # what an admin may choose from (empty for everyone else)
        board = region_cache.fragment("dashboard", scope, (), lambda as_of: render_block(
            "progress/index.html", "board", board=progress_report.dashboard(current_user, region_id),
            region_id=region_id, as_of=as_of))
        return render_template("progress/index.html", board_html=board, regions=regions, region_id=region_id,
                               **marks)

    return whole_pages.kept("dashboard", scope, (), page)


@bp.route("/groups/<int:group_id>")
@roles(*READERS)
def group(group_id: int) -> ResponseReturnValue:
    """A group's grid, kept with its region's figures (app.web.region_cache: any change in the region is on the
    next load). What is kept is rendered for the people the viewer may not see (LAO): the people's CRNs are kept
    too, checked with nDelius on every load (one batched call, mostly answered from its cache), and the grid is
    kept per set of people withheld, so nobody is shown a grid rendered for someone who may see more."""
    found = _grid_group(group_id) or abort(404)
    report = functools.cache(lambda: progress_grid.group_progress(found))  # worked out once, only if not kept

    crns: list[str] = region_cache.kept("grid-people", found.region_id, (group_id,),
                                        lambda _as_of: sorted({row.referral.crn for row in report().rows}))
    withheld = restricted.withheld(crns)

    def render(_as_of: datetime) -> str:
        shown = report()
        restricted.mask_people(row.referral for row in shown.rows)  # LAO: one batched check for the grid
        return render_block("progress/group.html", "content", report=shown, grid_cell=grid_cells(),
                            o=current_app.jinja_env.get_template("register/_outcomes.html").module)

    def page(marks: Mapping[str, Any]) -> str:
        content = region_cache.fragment("grid", found.region_id, (group_id, withheld), render)
        return render_template("progress/group.html", group=found, content_html=content, **marks)

    return whole_pages.kept("grid", found.region_id, (group_id, withheld), page)


def _grid_group(group_id: int) -> progress_grid.GridGroup | None:
    """The group, if it is in the viewer's region (admins: any), kept as the register's header is: under the
    viewer's region's generation (every region's for an admin), so a kept grid sends no SQL."""
    found = region_cache.kept("grid-group", region_cache.viewer_region(), (group_id,),
                              lambda _as_of: progress_grid.grid_group_row(current_user, group_id))
    return progress_grid.GridGroup.of_row(found) if found is not None else None


def grid_cells() -> Callable[[progress_grid.Column, progress_grid.Cell], Markup]:
    """A grid cell's HTML (progress/_cell.html), rendered once per distinct cell of a column and reused for the
    request: a grid repeats a handful of cells a column (complete, upcoming, ...), so most of its cells cost a
    dictionary lookup instead of a template render."""
    macro = current_app.jinja_env.get_template("progress/_cell.html").module.cell_html  # type: ignore[attr-defined]
    rendered: dict[tuple[int, str, str | None, int, int], Markup] = {}

    def cell(column: progress_grid.Column, cell: progress_grid.Cell) -> Markup:
        key = (id(column), cell.state, cell.outcome, cell.catch_ups, cell.one_to_ones)
        found = rendered.get(key)
        if found is None:
            found = rendered[key] = macro(column, cell)
        return found
    return cell


@bp.route("/export.csv")
@roles(*READERS)
def export() -> ResponseReturnValue:
    group_id = request.args.get("group_id", "")
    chosen = None
    if group_id:
        wanted = db_id(group_id)
        if wanted is None:
            abort(404)
        chosen = get_group(current_user, wanted) or abort(404)
    rows = restricted.masked_rows(progress_report.export_rows(current_user, chosen_region_id(),
                                                              chosen.id if chosen else None),
                                  crn_at=progress_report.CSV_HEADER.index("CRN"),
                                  name_at=progress_report.CSV_HEADER.index("Name"))

    return csv_response(progress_report.CSV_HEADER, rows,
                        f"progress-{chosen.code if chosen else 'region'}-{clock.today():%Y-%m-%d}")
