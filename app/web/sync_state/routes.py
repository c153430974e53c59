"""Per-session nDelius sync state where people work (issue 15.6): the register's rows, the schedule and the
calendar show each session's or person's state ("In nDelius", "Waiting to send to nDelius", "Needs attention:
record the outcome"), and keep it up to date by themselves while the page is open: a page polls this endpoint
(HTMX, `hx-swap="none"`), which answers only out-of-band swaps of the tags (macros/sync.html `sync_state`), so
nothing else on the page is redrawn, nothing a person is typing is touched and the focus stays where it is.

    GET /sync-states?sessions=1,2,3      the sessions' states (schedule, calendar)
    GET /sync-states?register=SESSION_ID that register's rows' states, and the session's

Region-scoped like every page: ids of another region are left out of the answer."""
from __future__ import annotations

import re

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from app import clock, labels
from app.extensions import db
from app.models import Group, Session
from app.services import ndelius_status
from app.services.groups import region_filter
from app.web.access import EVERYONE, roles

bp = Blueprint("sync_state", __name__)
# The sync-state words and tag looks (app.labels) for app/templates/macros/sync.html: template globals that are
# tables, not functions (add_app_template_global is typed for functions).
bp.record_once(lambda state: state.app.jinja_env.globals.update(
    SYNC_LABELS=labels.SYNC_LABELS, SYNC_LOOKS=labels.SYNC_LOOKS))
MAX_SESSIONS = 200


def _ids(value: str) -> list[int]:
    return [int(part) for part in re.findall(r"[0-9]{1,9}", value)][:MAX_SESSIONS]


@bp.route("/sync-states")
@roles(*EVERYONE)
def states() -> ResponseReturnValue:
    now = clock.now_local()
    register = _ids(request.args.get("register", ""))[:1]
    wanted = _ids(request.args.get("sessions", "")) + register
    visible = set(db.session.scalars(
        select(Session.id).join(Group, Group.id == Session.group_id)
        .where(Session.id.in_(wanted), region_filter(current_user)))) if wanted else set()
    sessions = ndelius_status.page_states(visible, now)
    attendees = ndelius_status.register_states(register[0], now) if register and register[0] in visible else {}
    response = render_template("sync_state/states.html", sessions={i: sessions.get(i) for i in sorted(visible)},
                               attendees=attendees)
    return response, 200, {"Cache-Control": "no-store"}
