"""Changing one session (issue 15.2): cancel it with a reason, delete a catch-up or one-to-one booked in error,
and change who is expected at it. Treatment managers and admins; the rules are in
app/services/session_changes.py."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from app import clock
from app.extensions import db
from app.models import Session
from app.services import session_changes as service
from app.services.errors import ServiceError
from app.services.register import get_session
from app.services.schedule_guard import ScheduleBusy
from app.web.access import MANAGERS, roles
from app.web.input_bounds import parse_id

bp = Blueprint("session_changes", __name__, url_prefix="/sessions")


class CancelForm(FlaskForm):
    reason = TextAreaField("Why is the session cancelled?", validators=[
        DataRequired("Enter why the session is cancelled"),
        Length(max=service.REASON_LIMIT, message=f"The reason must be {service.REASON_LIMIT} characters or fewer"),
    ])


class PersonForm(FlaskForm):
    referral_id = SelectField("Person", coerce=parse_id, validate_choice=False,
                              validators=[InputRequired("Choose a person")])


class DeleteForm(FlaskForm):
    pass


def _session(session_id: int) -> Session:
    session = get_session(current_user, session_id)
    if session is None or session.deleted_at is not None:
        abort(404)
    return session


def _page(session: Session, *, status: int = 200, cancel: CancelForm | None = None,
          add: PersonForm | None = None, remove: PersonForm | None = None, error: str | None = None) -> ResponseReturnValue:
    add = add or PersonForm(prefix="add")
    addable = service.addable(session) if session.status == "scheduled" else []
    add.referral_id.choices = [(0, "Choose a person")] + [(m.referral_id, m.referral.person_name) for m in addable]
    attendees = sorted(session.attendees, key=lambda a: a.referral.person_name)
    return render_template(
        "session_changes/change.html", session=session, cancel=cancel or CancelForm(prefix="cancel"),
        add=add, remove=remove or PersonForm(prefix="remove"), delete=DeleteForm(prefix="delete"),
        attendees=attendees, addable=addable, started=session.starts_at <= clock.now_local(),
        describe=service.describe(session), error=error,
    ), status


def _status(exc: ServiceError) -> int:
    return 409 if isinstance(exc, ScheduleBusy) else 400


@bp.route("/<int:session_id>/change")
@roles(*MANAGERS)
def change(session_id: int) -> ResponseReturnValue:
    return _page(_session(session_id))


@bp.route("/<int:session_id>/cancel", methods=["POST"])
@roles(*MANAGERS)
def cancel(session_id: int) -> ResponseReturnValue:
    session = _session(session_id)
    form = CancelForm(prefix="cancel")
    if not form.validate():
        return _page(session, status=400, cancel=form)
    try:
        done = service.cancel(current_user, session, reason=form.reason.data)
    except ServiceError as exc:
        db.session.rollback()
        form.reason.errors = [exc.message]
        return _page(_session(session_id), status=_status(exc), cancel=form)
    told = (f" {done.appointments} nDelius appointment{'s' if done.appointments != 1 else ''} to mark "
            f"“Rescheduled – service request”." if done.appointments else "")
    flash(f"Session cancelled.{told} It stays on the schedule; book a catch-up from its register, or postpone the "
          f"group's sessions, so people still do it.", "success")
    return redirect(url_for("register.show", session_id=session_id))


@bp.route("/<int:session_id>/delete", methods=["POST"])
@roles(*MANAGERS)
def delete(session_id: int) -> ResponseReturnValue:
    session = _session(session_id)
    group_id, what = session.group_id, service.describe(session)
    if not DeleteForm(prefix="delete").validate():
        abort(400)
    try:
        deleted = service.delete(current_user, session)
    except ServiceError as exc:
        db.session.rollback()
        return _page(_session(session_id), status=_status(exc), error=exc.message)
    told = f" {deleted} nDelius appointment{'s' if deleted != 1 else ''} to delete." if deleted else ""
    flash(f"Deleted {what}.{told}", "success")
    return redirect(url_for("groups.show", group_id=group_id))


@bp.route("/<int:session_id>/expected/add", methods=["POST"])
@roles(*MANAGERS)
def add_attendee(session_id: int) -> ResponseReturnValue:
    session = _session(session_id)
    form = PersonForm(prefix="add")
    if not form.validate() or not form.referral_id.data:
        form.referral_id.errors = ["Choose a person to add"]
        return _page(session, status=400, add=form)
    try:
        attendee = service.add_attendee(current_user, session, form.referral_id.data)
    except ServiceError as exc:
        db.session.rollback()
        form.referral_id.errors = [exc.message]
        return _page(_session(session_id), status=_status(exc), add=form)
    flash(f"{attendee.referral.person_name} is now expected at this session; nDelius gets their appointment.",
          "success")
    return redirect(url_for("session_changes.change", session_id=session_id))


@bp.route("/<int:session_id>/expected/remove", methods=["POST"])
@roles(*MANAGERS)
def remove_attendee(session_id: int) -> ResponseReturnValue:
    session = _session(session_id)
    form = PersonForm(prefix="remove")
    names = {a.referral_id: a.referral.person_name for a in session.attendees}
    if not form.validate() or not form.referral_id.data:
        return _page(session, status=400, error="Choose someone who is expected at this session")
    try:
        service.remove_attendee(current_user, session, form.referral_id.data)
    except ServiceError as exc:
        db.session.rollback()
        return _page(_session(session_id), status=_status(exc), error=exc.message)
    flash(f"{names.get(form.referral_id.data, 'They')} is no longer expected at this session; their nDelius "
          f"appointment is deleted.", "success")
    return redirect(url_for("session_changes.change", session_id=session_id))
