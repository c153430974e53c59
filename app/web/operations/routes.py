from __future__ import annotations

from flask import Blueprint, abort, make_response
from flask_login import current_user
from jinja2_fragments.flask import render_block

from app.extensions import db
from app.models import Operation
from app.services.operations import live_progress
from app.web.access import EVERYONE, roles
from jobs.enqueue import redis_connection

bp = Blueprint("operations", __name__, url_prefix="/operations")


@bp.route("/<int:operation_id>")
@roles(*EVERYONE)
def show(operation_id: int):  # type: ignore[no-untyped-def]
    """The progress bar partial. It keeps polling itself until the operation has finished or failed; on
    finishing it tells the page (HX-Trigger) so the page can redraw what changed."""
    operation = db.session.get(Operation, operation_id)
    if operation is None or (current_user.role != "admin" and operation.region_id != current_user.region_id):
        abort(404)
    done, total, message = live_progress(redis_connection(), operation)
    percent = 100 if operation.status == "succeeded" else (int(100 * done / total) if total else 0)
    response = make_response(render_block(
        "operations/progress.html", "progress", operation=operation, done=done, total=total,
        message=message, percent=percent,
    ))
    if operation.finished:
        response.headers["HX-Trigger"] = "operation-finished"
    return response
