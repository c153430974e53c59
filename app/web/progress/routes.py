"""Progress for leads: a group's people × sessions grid, the regional dashboard and its CSV export."""
from __future__ import annotations

import csv
import io
import re

from flask import Blueprint, Response, abort, current_app, render_template, request, stream_with_context
from flask_login import current_user
from jinja2_fragments.flask import render_block
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Region
from app.services import progress_grid, progress_report
from app.services.groups import get_group
from app.web import region_cache, restricted
from app.web.access import roles

bp = Blueprint("progress", __name__, url_prefix="/progress")
READERS = ("lead", "treatment_manager", "admin")  # app.web.permissions.LEADS
NAV = [(30, "Progress", "progress.index", READERS)]



def _region_choice() -> int | None:
    """Admins may look at one region (?region_id=); everyone else sees their own."""
    if current_user.role != "admin":
        return None
    value = request.args.get("region_id", "")
    return int(value) if re.fullmatch(r"[0-9]{1,9}", value) else None


@bp.route("")
@roles(*READERS)
def index():  # type: ignore[no-untyped-def]
    region_id = _region_choice()
    regions = list(db.session.scalars(select(Region).order_by(Region.name))) if current_user.role == "admin" else []
    scope = region_id if current_user.role == "admin" else current_user.region_id
    board = region_cache.fragment("dashboard", scope, (), lambda as_of: render_block(
        "progress/index.html", "board", board=progress_report.dashboard(current_user, region_id),
        region_id=region_id, as_of=as_of))
    return render_template("progress/index.html", board_html=board, regions=regions, region_id=region_id)


@bp.route("/groups/<int:group_id>")
@roles(*READERS)
def group(group_id: int):  # type: ignore[no-untyped-def]
    found = progress_grid.grid_group(current_user, group_id) or abort(404)
    report = progress_grid.group_progress(found)
    restricted.mask_people(row.referral for row in report.rows)  # LAO: one batched check for the grid
    return render_template("progress/group.html", report=report,
                           o=current_app.jinja_env.get_template("register/_outcomes.html").module)


def _safe(value: str) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas: make them text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@bp.route("/export.csv")
@roles(*READERS)
def export():  # type: ignore[no-untyped-def]
    group_id = request.args.get("group_id", "")
    chosen = None
    if group_id:
        if not re.fullmatch(r"[0-9]{1,9}", group_id):
            abort(404)
        chosen = get_group(current_user, int(group_id)) or abort(404)
    rows = restricted.masked_rows(progress_report.export_rows(current_user, _region_choice(),
                                                              chosen.id if chosen else None),
                                  crn_at=progress_report.CSV_HEADER.index("CRN"),
                                  name_at=progress_report.CSV_HEADER.index("Name"))

    def generate():  # type: ignore[no-untyped-def]
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(progress_report.CSV_HEADER)
        for row in rows:
            writer.writerow([_safe(value) for value in row])
            if buffer.tell() > 16384:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    name = re.sub(r"[^A-Za-z0-9_-]", "-", f"progress-{chosen.code if chosen else 'region'}-{clock.today():%Y-%m-%d}")
    return Response(stream_with_context(generate()), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
