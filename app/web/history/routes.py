from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user

from app.services import history
from app.web.access import EVERYONE, roles

bp = Blueprint("history", __name__)


@bp.route("/groups/<int:group_id>/history")
@roles(*EVERYONE)
def group(group_id: int) -> ResponseReturnValue:
    found = history.group_history(current_user, group_id) or abort(404)
    group, events = found
    return render_template("history/events.html", title=f"History of group {group.code}", events=events,
                           back=("Back to the group", f"/groups/{group.id}"))


@bp.route("/sessions/<int:session_id>/history")
@roles(*EVERYONE)
def session(session_id: int) -> ResponseReturnValue:
    found = history.session_history(current_user, session_id) or abort(404)
    session, events = found
    title = f"History of {session.session_template.name}, {session.starts_at:%a %-d %b %Y}"
    return render_template("history/events.html", title=title, events=events,
                           back=("Back to the group", f"/groups/{session.group_id}"))
