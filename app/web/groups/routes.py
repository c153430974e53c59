from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from jinja2_fragments.flask import render_block
from redis.exceptions import RedisError

from app import clock
from app.extensions import db
from app.models import Group, User
from app.models.group import DAY_NAMES
from app.services import group_edit, group_finish, ndelius_status
from app.services import groups as group_service
from app.services import reschedule as reschedule_service
from app.services import schedule as schedule_service
from app.services.errors import ServiceError
from app.services.schedule_guard import ScheduleBusy
from app.web import region_cache, whole_pages
from app.web.access import EVERYONE, MANAGERS, is_htmx, roles
from app.web.groups.forms import EditGroupForm, GroupForm, slots_from
from app.web.permissions import LEADS
from app.web.region_choice import region_choice
from jobs.schedule import enqueue_generation

bp = Blueprint("groups", __name__, url_prefix="/groups")
NAV = [(10, "Groups", "groups.index", EVERYONE)]


@bp.route("")
@roles(*EVERYONE)
def index() -> ResponseReturnValue:
    def page(marks: Mapping[str, Any]) -> str:
        choice = region_choice()  # an admin sees every region's groups, or a chosen region's, and the page says which
        table = region_cache.fragment("groups", choice.region_id, (choice.title,), lambda as_of: render_block(
            "groups/index.html", "groups_table", rows=group_service.groups_for(current_user, choice.region_id),
            as_of=as_of, region_name=choice.title))
        return render_template("groups/index.html", table_html=table, choice=choice, **marks)

    # Kept whole for everyone but admins (app.web.whole_pages), whose region is always their own.
    return whole_pages.kept("groups", current_user.region_id, (), page)


@bp.route("/new", methods=["GET", "POST"])
@roles(*MANAGERS)
def new() -> ResponseReturnValue:
    form = GroupForm()
    facilitators = group_service.facilitators_for(current_user)
    form.lead_facilitator_id.choices = [(0, "Choose a facilitator")] + [(f.id, f.name) for f in facilitators]
    form.cover_facilitator_ids.choices = [(f.id, f.name) for f in facilitators]
    status = 200
    if form.is_submitted():
        status = 400
        valid = form.validate()
        slots = slots_from(form.slots)
        if valid and slots is not None:
            try:
                group = group_service.create_group(current_user, group_service.GroupInput(
                    code=form.code.data.strip(), cohort=form.cohort.data, sex=form.sex.data,
                    learning_disability=form.learning_disability.data,
                    delivery_location=form.delivery_location.data.strip(),
                    earliest_start_date=form.earliest_start_date.data, slots=tuple(slots),
                    lead_facilitator_id=form.lead_facilitator_id.data,
                    cover_facilitator_ids=tuple(form.cover_facilitator_ids.data or ()),
                ))
            except ServiceError as exc:
                _field_error(form, exc)
            else:
                flash(f"Group {group.code} created. Start it when you are ready.", "success")
                return redirect(url_for("groups.show", group_id=group.id))
    return render_template("groups/new.html", form=form), status


def _field_error(form: GroupForm | EditGroupForm, exc: ServiceError) -> None:
    field = getattr(form, exc.field, None) if exc.field else None
    if field is None:
        field = form.code
    if isinstance(field.errors, tuple):
        field.errors = list(field.errors)
    field.errors.append(exc.message)


@bp.route("/<int:group_id>")
@roles(*EVERYONE)
def show(group_id: int) -> ResponseReturnValue:
    return _show_page(group_id)


def _show_page(group_id: int) -> str:
    group = group_service.get_group(current_user, group_id) or abort(404)
    sessions = schedule_service.schedule_rows(group)
    operation = schedule_service.latest_operation(group.id, ("generate",))
    context = {
        "group": group, "sessions": sessions,
        "sync_states": ndelius_status.page_states({s.id for s in sessions}, clock.now_local()),
        "operation": operation, "day_names": DAY_NAMES,
        "start_clashes": schedule_service.start_clashes(operation),
        "reschedule_outcome": reschedule_service.latest_outcome(group),
        "finish": group_finish.state_of(group),
    }
    if is_htmx():
        return render_block("groups/show.html", "schedule", **context)
    return render_template("groups/show.html", **context)


@bp.route("/<int:group_id>/edit", methods=["GET", "POST"])
@roles(*MANAGERS)
def edit(group_id: int) -> ResponseReturnValue:
    group = group_service.get_group(current_user, group_id) or abort(404)
    form = EditGroupForm(obj=group)
    managers = group_edit.treatment_managers(group.region_id)
    form.treatment_manager_id.choices = [(0, "No treatment manager")] + [(u.id, u.name) for u in managers]
    status = 200
    if form.is_submitted():
        status = 400
        if form.validate():
            try:
                edited = group_edit.edit_group(current_user, group, group_edit.GroupChanges(
                    code=form.code.data, cohort=form.cohort.data, sex=form.sex.data,
                    learning_disability=bool(form.learning_disability.data),
                    delivery_location=form.delivery_location.data, location_code=form.location_code.data,
                    treatment_manager_id=form.treatment_manager_id.data or None,
                ), seen_version=int(form.version.data) if (form.version.data or "").isdigit() else None)
            except ServiceError as exc:
                db.session.rollback()
                status = 409 if exc.message == group_edit.STALE or isinstance(exc, ScheduleBusy) else 400
                if status == 409:  # show what the group is now, with the message
                    db.session.refresh(group)
                    form = _edit_form_from(group, managers)
                _field_error(form, exc)
            else:
                flash(_edited_message(group.code, edited), "success")
                return redirect(url_for("groups.show", group_id=group.id))
    else:
        form.treatment_manager_id.data = group.treatment_manager_id or 0
        form.version.data = str(group.version)
    return render_template("groups/edit.html", group=group, form=form), status


def _edit_form_from(group: Group, managers: list[User]) -> EditGroupForm:
    form = EditGroupForm(formdata=None, obj=group)
    form.treatment_manager_id.choices = [(0, "No treatment manager")] + [(u.id, u.name) for u in managers]
    form.treatment_manager_id.data = group.treatment_manager_id or 0
    form.version.data = str(group.version)
    return form


def _edited_message(code: str, edited: group_edit.Edited) -> str:
    if not edited.changed:
        return f"Nothing changed in group {code}."
    text = f"Group {code} saved: {group_edit.names_in_words(edited.changed)} changed."
    if edited.sessions_moved:
        text += (f" {edited.sessions_moved} future session{'s' if edited.sessions_moved != 1 else ''} now at the new "
                 f"location")
        text += (f", {edited.appointments_updated} nDelius appointment{'s' if edited.appointments_updated != 1 else ''}"
                 f" to update." if edited.appointments_updated else ".")
    return text


@bp.route("/<int:group_id>/close", methods=["POST"])
@roles(*LEADS)
def close(group_id: int) -> ResponseReturnValue:
    group = group_service.get_group(current_user, group_id) or abort(404)
    try:
        closed = group_finish.close(current_user, group)
    except ServiceError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _show_page(group_id), 409
    waiting = f"{closed.waiting} back on the waiting list to finish in another group"
    parts = [f"{closed.completed} programme complete", waiting]
    if closed.kept:
        parts.append(f"{closed.kept} kept their status")
    flash(f"Group {group.code} closed: {', '.join(parts)}.", "success")
    return redirect(url_for("groups.show", group_id=group_id))


@bp.route("/<int:group_id>/start", methods=["POST"])
@roles(*MANAGERS)
def start(group_id: int) -> ResponseReturnValue:
    group = group_service.get_group(current_user, group_id) or abort(404)
    try:
        operation = schedule_service.request_start(current_user, group)
    except ServiceError as exc:
        flash(exc.message, "error")
        return redirect(url_for("groups.show", group_id=group_id))
    operation_id = operation.id
    try:
        enqueue_generation(operation_id, group_id)
    except RedisError:
        from app.services.operations import fail

        fail(operation_id, "Background jobs are not available just now. Try starting the group again.")
    return redirect(url_for("groups.show", group_id=group_id))
