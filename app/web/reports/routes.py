"""The four standard reports as CSV downloads for leads (issue 15.5), region-scoped; an admin chooses the region."""
from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, abort, render_template
from flask.typing import ResponseReturnValue

from app import clock
from app.services import reports
from app.web import restricted
from app.web.access import roles
from app.web.csv_download import csv_response
from app.web.region_choice import region_choice

bp = Blueprint("reports", __name__, url_prefix="/reports")
READERS = ("lead", "treatment_manager", "admin")  # app.web.permissions.LEADS
NAV = [(35, "Reports", "reports.index", READERS)]


@bp.route("")
@roles(*READERS)
def index() -> ResponseReturnValue:
    return render_template("reports/index.html", reports=reports.catalogue(), choice=region_choice(),
                           today=clock.today())


@bp.route("/group-size.csv")
@roles(*READERS)
def group_size() -> ResponseReturnValue:
    return _download("group-size")


@bp.route("/facilitator-continuity.csv")
@roles(*READERS)
def facilitator_continuity() -> ResponseReturnValue:
    return _download("facilitator-continuity")


@bp.route("/session-rate.csv")
@roles(*READERS)
def session_rate() -> ResponseReturnValue:
    return _download("session-rate")


@bp.route("/dosage.csv")
@roles(*READERS)
def dosage() -> ResponseReturnValue:
    return _download("dosage")


def _download(slug: str) -> ResponseReturnValue:
    report = reports.find(slug) or abort(404)
    choice = region_choice()
    header = report.header(choice.region_id)
    rows: Iterator[list[str]] = report.rows(choice.region_id)
    if report.person_columns is not None:
        crn_at, name_at = report.person_columns
        rows = restricted.masked_rows(rows, crn_at=crn_at, name_at=name_at)

    return csv_response(header, rows, f"{slug}-{choice.title}-{clock.today():%Y-%m-%d}".lower())
