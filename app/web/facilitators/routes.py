"""Facilitators: a group's team, a single session's team, and each facilitator's own sessions."""
from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from app import clock
from app.extensions import db
from app.services import facilitators as service
from app.services.errors import ServiceError
from app.services.groups import get_group
from app.web.access import EVERYONE, MANAGERS, roles
from app.web.facilitators.forms import TeamForm
from app.web.region_choice import region_choice

bp = Blueprint("facilitators", __name__)
# A facilitator's own sessions are one click from this list ("My sessions" in the navigation is the register's).
NAV = [(40, "Facilitators", "facilitators.index", EVERYONE)]


@bp.route("/facilitators")
@roles(*EVERYONE)
def index() -> ResponseReturnValue:
    choice = region_choice()  # everyone their own region; an admin every region, or the one they choose
    return render_template("facilitators/index.html",
                           facilitators=service.facilitators_list(current_user, choice.region_id),
                           london=clock.LONDON, choice=choice)


@bp.route("/facilitators/mine")
@roles("facilitator")
def mine() -> ResponseReturnValue:
    if current_user.facilitator_id is None:
        return render_template("facilitators/not_linked.html")
    return redirect(url_for("facilitators.show", facilitator_id=current_user.facilitator_id))


@bp.route("/facilitators/<int:facilitator_id>")
@roles(*EVERYONE)
def show(facilitator_id: int) -> ResponseReturnValue:
    facilitator = service.get_facilitator(current_user, facilitator_id) or abort(404)
    past = request.args.get("past") == "1"
    return render_template("facilitators/show.html", facilitator=facilitator, past=past,
                           weeks=service.sessions_by_week(facilitator, past=past),
                           this_week=service.week_start(clock.today()), now=clock.now_local())


def _team_form(region_id: int) -> TeamForm:
    form = TeamForm()
    people = service.region_facilitators(region_id)
    form.lead_facilitator_id.choices = [(0, "Choose a facilitator")] + [(f.id, f.name) for f in people]
    form.cover_facilitator_ids.choices = [(f.id, f.name) for f in people]
    return form


def _save_team(form: TeamForm, save: Callable[..., service.Changed]
               ) -> tuple[service.Changed | None, service.FacilitatorClash | None]:
    """Validate and save; returns (changed, clash) where clash is the FacilitatorClash to show, if any."""
    if not form.validate():
        return None, None
    try:
        return save(form.lead_facilitator_id.data or None, list(form.cover_facilitator_ids.data or []),
                    accepted=form.accepted.data or None), None
    except service.FacilitatorClash as clash:
        db.session.rollback()
        return None, clash
    except ServiceError as exc:
        db.session.rollback()
        field = getattr(form, exc.field or "lead_facilitator_id", form.lead_facilitator_id)
        field.errors = [*field.errors, exc.message]
        return None, None


@bp.route("/groups/<int:group_id>/facilitators", methods=["GET", "POST"])
@roles(*MANAGERS)
def group_team(group_id: int) -> ResponseReturnValue:
    group = get_group(current_user, group_id) or abort(404)
    form = _team_form(group.region_id)
    clash, status = None, 200
    if form.is_submitted():
        changed, clash = _save_team(form, lambda lead, covers, accepted: service.change_group_facilitators(
            current_user, group, lead, covers, accepted=accepted))
        if changed is not None:
            flash(_changed_message(f"Facilitators of group {group.code} saved.", changed), "success")
            return redirect(url_for("groups.show", group_id=group.id))
        status = 409 if clash else 400
    else:
        form.lead_facilitator_id.data = group.lead_facilitator.id if group.lead_facilitator else 0
        form.cover_facilitator_ids.data = [f.id for f in group.cover_facilitators]
    sessions = service.upcoming_sessions(group)
    return render_template("facilitators/group_team.html", group=group, form=form, clash=clash,
                           sessions=sessions), status


@bp.route("/groups/<int:group_id>/sessions/<int:session_id>/facilitators", methods=["GET", "POST"])
@roles(*MANAGERS)
def session_team(group_id: int, session_id: int) -> ResponseReturnValue:
    group = get_group(current_user, group_id) or abort(404)
    session = service.group_session(group, session_id) or abort(404)
    form = _team_form(group.region_id)
    clash, status = None, 200
    back = request.args.get("back") or request.form.get("back")
    back_url = back if back and back.startswith("/") and not back.startswith(("//", "/\\")) else \
        url_for("facilitators.group_team", group_id=group.id)
    if form.is_submitted():
        changed, clash = _save_team(form, lambda lead, covers, accepted: service.change_session_facilitators(
            current_user, session, lead, covers, accepted=accepted))
        if changed is not None:
            flash(_changed_message(f"Facilitators of {session.session_template.label} "
                                   f"{session.session_template.name} saved.", changed), "success")
            return redirect(back_url)
        status = 409 if clash else 400
    else:
        form.lead_facilitator_id.data = session.lead_facilitator.id if session.lead_facilitator else 0
        form.cover_facilitator_ids.data = [sf.facilitator_id for sf in session.facilitators if sf.role == "cover"]
    return render_template("facilitators/session_team.html", group=group, session=session, form=form,
                           clash=clash, back_url=back_url, back=back), status


def _changed_message(text: str, changed: service.Changed) -> str:
    if not changed.sessions and not changed.clashes:
        return text + " Nothing needed to change in the sessions."
    if changed.sessions:
        text += f" {changed.sessions} session{'s' if changed.sessions != 1 else ''} updated"
        text += f", {changed.appointments} nDelius appointment{'s' if changed.appointments != 1 else ''} to update." \
            if changed.appointments else "."
    if changed.clashes:
        text += f" {len(changed.clashes)} double booking{'s' if len(changed.clashes) != 1 else ''} accepted."
    return text
