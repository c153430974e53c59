"""Allocating people to a group and removing them from it."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from wtforms import Field

from app import clock
from app.extensions import db
from app.models import Group, Membership
from app.models.group import GROUP_SIZE_LIMIT
from app.scheduling.bus_stop import last_day_to_rejoin
from app.services import bus_stop, joining
from app.services import membership as membership_service
from app.services.errors import ServiceError
from app.services.groups import get_group
from app.services.membership import REMOVAL_STATUS_HINTS
from app.web.access import MANAGERS, roles
from app.web.membership.forms import AllocateForm, RemoveForm

bp = Blueprint("membership", __name__, url_prefix="/groups/<int:group_id>/members")
SHOWN = 50  # people offered on the allocate page at once; a search narrows the rest


@bp.app_context_processor
def group_size() -> dict[str, object]:
    """The group size rule for every page that shows places (app.services.joining), never a number of its own."""
    return {"group_size_limit": GROUP_SIZE_LIMIT, "places_free": joining.places_free}


def _field_error(field: Field, message: str) -> None:
    field.errors = [*field.errors, message]


@bp.route("/allocate", methods=["GET", "POST"])
@roles(*MANAGERS)
def allocate(group_id: int) -> ResponseReturnValue:
    group = get_group(current_user, group_id) or abort(404)
    fitting, others = bus_stop.candidates_for(group)
    form = AllocateForm()
    form.referral_id.choices = [(c.referral.id, c.referral.person_name) for c in fitting]
    status = 200
    if form.is_submitted():
        status = 400
        if form.validate():
            candidate = next(c for c in fitting if c.referral.id == form.referral_id.data)
            try:
                result = membership_service.allocate(current_user, group, candidate.referral)
            except ServiceError as exc:
                db.session.rollback()
                _field_error(form.referral_id, exc.message)
            else:
                name = candidate.referral.person_name
                flash(f"{name} allocated to group {group.code}. " + (
                    f"They will attend its next {result.sessions} sessions." if group.started_at
                    else "They will be given every session when the group starts."), "success")
                return redirect(url_for("groups.show", group_id=group.id))
        elif not fitting:
            form.referral_id.errors = ["Nobody on the waiting list can join this group at the moment"]
    query = (request.args.get("q") or "").strip()
    shown = [c for c in fitting if not query or query.lower() in c.referral.person_name.lower()
             or query.lower() in c.referral.crn.lower()]
    return render_template("membership/allocate.html", group=group, form=form, fitting=fitting, others=others,
                           shown=shown[:SHOWN], more=max(0, len(shown) - SHOWN), query=query,
                           members=membership_service.member_count(group)), status


def _membership(group: Group, membership_id: int) -> Membership:
    return membership_service.group_membership(group, membership_id) or abort(404)


@bp.route("/<int:membership_id>/remove", methods=["GET", "POST"])
@roles(*MANAGERS)
def remove(group_id: int, membership_id: int) -> ResponseReturnValue:
    group = get_group(current_user, group_id) or abort(404)
    membership = _membership(group, membership_id)
    if membership.left_at is not None:
        flash(f"{membership.referral.person_name} has already left group {group.code}.", "info")
        return redirect(url_for("groups.show", group_id=group.id))
    form = RemoveForm()
    status = 200
    if form.is_submitted():
        status = 400
        if form.validate():
            name = membership.referral.person_name
            try:
                result = membership_service.remove(current_user, membership, reason=form.reason.data,
                                                   new_status=form.new_status.data)
            except ServiceError as exc:
                db.session.rollback()
                _field_error(getattr(form, exc.field or "reason", form.reason), exc.message)
            else:
                flash(_removed_message(name, group.code, form.new_status.data, result), "success")
                return redirect(url_for("groups.show", group_id=group.id))
    return render_template("membership/remove.html", group=group, membership=membership, form=form,
                           hints=REMOVAL_STATUS_HINTS, **membership_service.sessions_summary(membership)), status


def _removed_message(name: str, code: str, status: str, result: membership_service.Removed) -> str:
    text = f"{name} removed from group {code} ({status})."
    if result.sessions:
        text += f" Their {result.sessions} future appointment{'s are' if result.sessions != 1 else ' is'} " \
                "being deleted in nDelius."
    if status == "Awaiting allocation":
        until = last_day_to_rejoin(clock.today())
        text += f" They are back on the waiting list and can join another group at the same point until " \
                f"{until:%-d %B %Y}."
    return text


