from __future__ import annotations

from flask import Blueprint, abort, make_response
from flask.typing import ResponseReturnValue
from flask_login import current_user
from jinja2_fragments.flask import render_block

from app.services import operations
from app.web.access import EVERYONE, roles

bp = Blueprint("operations", __name__, url_prefix="/operations")


@bp.route("/<int:operation_id>")
@roles(*EVERYONE)
def show(operation_id: int) -> ResponseReturnValue:
    """The progress bar partial. It keeps polling itself until the operation has finished or failed; on
    finishing it tells the page (HX-Trigger) so the page can redraw what changed."""
    operation = operations.get_operation(current_user, operation_id) or abort(404)
    response = make_response(render_block("operations/progress.html", "progress", **operations.progress(operation)))
    if operation.finished:
        response.headers["HX-Trigger"] = "operation-finished"
    return response
