"""The waiting list and "Find a group" (bus stopping) for a person on it."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from jinja2_fragments.flask import render_block

from app.extensions import db
from app.services import bus_stop
from app.services import membership as membership_service
from app.services import needs as needs_service
from app.services import waiting_list as waiting
from app.services.errors import ServiceError
from app.services.groups import get_group
from app.web.access import MANAGERS, is_htmx, roles
from app.web.input_bounds import parse_id, parse_page
from app.web.people.routes import visible_person
from app.web.permissions import LEADS
from app.web.referrals.forms import WaitingListFilters

bp = Blueprint("referrals", __name__, url_prefix="/referrals")
NAV = [(20, "Waiting list", "referrals.index", LEADS)]


@bp.route("")
@roles(*LEADS)
def index() -> ResponseReturnValue:
    form = WaitingListFilters(request.args)
    if not form.validate():
        form = WaitingListFilters()
    filters = waiting.Filters(sex=form.sex.data or "", cohort=form.cohort.data or "", ldc=form.ldc.data or "",
                              q=form.q.data or "", page=request.args.get("page", 1, type=parse_page))
    context = {"form": form, "filters": filters, "page": waiting.waiting_list(current_user, filters),
               "args": {k: v for k, v in request.args.items() if k != "page" and v}}
    if is_htmx():
        return render_block("referrals/index.html", "results", oob=True, **context)
    return render_template("referrals/index.html", **context)


def _find_page(referral_id: int, errors: list[tuple[str, str | None]] | None = None, status: int = 200) -> ResponseReturnValue:
    referral = visible_person(referral_id)  # what they cannot do is theirs: a restricted person answers 403
    position, fitting, others = bus_stop.find_groups(referral)
    current = membership_service.active_membership(referral)
    return render_template("referrals/find.html", referral=referral, position=position, fitting=fitting,
                           others=others, current=current, errors=errors or [],
                           needs=needs_service.of(referral), describe_time=needs_service.describe_time), status


@bp.route("/<int:referral_id>/groups")
@roles(*LEADS)
def find_group(referral_id: int) -> ResponseReturnValue:
    return _find_page(referral_id)


@bp.route("/<int:referral_id>/allocate", methods=["POST"])
@roles(*MANAGERS)
def allocate(referral_id: int) -> ResponseReturnValue:
    referral = visible_person(referral_id)
    group_id = request.form.get("group_id", type=parse_id)
    group = get_group(current_user, group_id) if group_id else None
    if group is None:
        return _find_page(referral_id, [("Choose a group", None)], 400)
    try:
        result = membership_service.allocate(current_user, group, referral)
    except ServiceError as exc:
        db.session.rollback()
        return _find_page(referral_id, [(exc.message, None)], 400)
    flash(_allocated_message(referral.person_name, group.code, result.sessions, group.started_at is not None),
          "success")
    return redirect(url_for("groups.show", group_id=group.id))


def _allocated_message(name: str, code: str, sessions: int, started: bool) -> str:
    if not started:
        return f"{name} allocated to group {code}. They will be given every session when the group starts."
    return f"{name} allocated to group {code}. They will attend its next {sessions} sessions."
