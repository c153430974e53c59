"""One page per person (referral): both sources of their details, status history, groups, every session they
were expected at, completion by module. Restricted people (LAO) answer 403 with a plain explanation."""
from __future__ import annotations

from datetime import datetime

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm

from app import clock
from app.extensions import db
from app.models import (
    Referral,
)
from app.services import case_data, lao
from app.services import needs as needs_service
from app.services import person as person_service
from app.services import waiting_list as waiting
from app.services.errors import ServiceError
from app.web.access import EVERYONE, MANAGERS, roles
from app.web.people.forms import LocationForm, NonAssociationForm, UnavailabilityForm

bp = Blueprint("people", __name__, url_prefix="/people")


def visible_person(referral_id: int) -> Referral:
    """The person; for a person this user may not see, the answer is 403 with nDelius's explanation (every page
    that shows one person's own details answers as the person's page does)."""
    referral = waiting.get_referral(current_user, referral_id) or abort(404)
    if current_app.config.get("LAO_CHECKS", True):
        access = lao.may_see(current_user.username, referral.crn)
        if not access.allowed:
            abort(make_response(render_template("people/restricted.html", message=access.message), 403))
    return referral


def local_datetime(moment: datetime | None) -> str:
    return moment.astimezone(clock.LONDON).strftime("%-d %b %Y %H:%M") if moment else ""


def _page(referral: Referral, errors: dict[int, str] | None = None) -> str:
    return render_template("people/show.html", record=person_service.record(referral), errors=errors or {},
                           local_datetime=local_datetime, needs=needs_service.of(referral),
                           describe_time=needs_service.describe_time)


@bp.route("/<int:referral_id>")
@roles(*EVERYONE)
def show(referral_id: int) -> ResponseReturnValue:
    referral = visible_person(referral_id)
    return _page(referral)


@bp.route("/<int:referral_id>/disagreements/<int:disagreement_id>/resolve", methods=["POST"])
@roles(*MANAGERS)
def resolve(referral_id: int, disagreement_id: int) -> ResponseReturnValue:
    referral = visible_person(referral_id)
    disagreement = case_data.disagreement_of(referral, disagreement_id) or abort(404)
    try:
        case_data.resolve(current_user, disagreement, request.form.get("note", ""))
    except ServiceError as exc:
        db.session.rollback()
        return _page(referral, {disagreement_id: exc.message}), 400
    flash(f"{case_data.Field.of(disagreement.field).label}: difference resolved", "success")
    return redirect(url_for("people.show", referral_id=referral.id) + "#details")


# what the person cannot do (issue 15.3) ---------------------------------------------------------------------------

def _needs_page(referral: Referral, forms: dict[str, FlaskForm] | None = None, status: int = 200,
                ) -> ResponseReturnValue:
    forms = forms or {}
    locations = needs_service.known_locations(referral.region_id)
    changes = needs_service.changes(referral)
    person_needs = needs_service.of(referral)
    together = {other.id: needs_service.shared_group(referral, other.id) for _, other in person_needs.associations}
    return render_template(
        "people/needs.html", referral=referral, needs=person_needs, together=together,
        time_form=forms.get("time") or UnavailabilityForm(formdata=None, prefix="time"),
        location_form=forms.get("location") or LocationForm(formdata=None, prefix="location"),
        association_form=forms.get("association") or NonAssociationForm(formdata=None, prefix="association"),
        known_locations=locations, changes=changes, local_datetime=local_datetime,
        describe_time=needs_service.describe_time), status


def _needs_url(referral_id: int, anchor: str) -> str:
    return url_for("people.needs", referral_id=referral_id) + anchor


def _fail(referral: Referral, key: str, form: FlaskForm, exc: ServiceError) -> ResponseReturnValue:
    db.session.rollback()
    field = getattr(form, exc.field or "reason", None) or form.reason
    field.errors = [*field.errors, exc.message]
    return _needs_page(referral, {key: form}, 400)


@bp.route("/<int:referral_id>/needs")
@roles(*MANAGERS)
def needs(referral_id: int) -> ResponseReturnValue:
    referral = visible_person(referral_id)
    return _needs_page(referral)


@bp.route("/<int:referral_id>/needs/times", methods=["POST"])
@roles(*MANAGERS)
def add_time(referral_id: int) -> ResponseReturnValue:
    referral = visible_person(referral_id)
    form = UnavailabilityForm(prefix="time")
    if not form.validate():
        return _needs_page(referral, {"time": form}, 400)
    try:
        row = needs_service.add_unavailability(
            current_user, referral, day_of_week=form.day_of_week.data if form.day_of_week.data != -1 else None,
            start=form.start_time.data, end=form.end_time.data, reason=form.reason.data)
    except ServiceError as exc:
        return _fail(referral, "time", form, exc)
    flash(f"{referral.person_name} cannot attend on {needs_service.describe_time(row)} ({row.reason}): groups "
          "meeting then will not take them", "success")
    _warn_about_current_group(referral)
    return redirect(_needs_url(referral.id, "#times"))


def _warn_about_current_group(referral: Referral) -> None:
    clash = needs_service.current_group_clash(referral)
    if clash:
        flash(f"They are in a group that does not fit any more: {clash}. Talk to them, or remove them from the "
              "group and find another.", "info")


@bp.route("/<int:referral_id>/needs/times/<int:time_id>/remove", methods=["POST"])
@roles(*MANAGERS)
def remove_time(referral_id: int, time_id: int) -> ResponseReturnValue:
    referral = visible_person(referral_id)
    row = needs_service.unavailability_of(referral, time_id) or abort(404)
    when = needs_service.describe_time(row)
    needs_service.remove_unavailability(current_user, referral, row)
    flash(f"Removed: {referral.person_name} cannot attend on {when}", "success")
    return redirect(_needs_url(referral.id, "#times"))


@bp.route("/<int:referral_id>/needs/locations", methods=["POST"])
@roles(*MANAGERS)
def add_location(referral_id: int) -> ResponseReturnValue:
    referral = visible_person(referral_id)
    form = LocationForm(prefix="location")
    if not form.validate():
        return _needs_page(referral, {"location": form}, 400)
    try:
        place = needs_service.add_excluded_location(current_user, referral, location=form.location.data,
                                                    reason=form.reason.data)
    except ServiceError as exc:
        return _fail(referral, "location", form, exc)
    flash(f"{referral.person_name} cannot attend {place.location}: groups meeting there will not take them",
          "success")
    _warn_about_current_group(referral)
    return redirect(_needs_url(referral.id, "#locations"))


@bp.route("/<int:referral_id>/needs/locations/<int:location_id>/remove", methods=["POST"])
@roles(*MANAGERS)
def remove_location(referral_id: int, location_id: int) -> ResponseReturnValue:
    referral = visible_person(referral_id)
    place = needs_service.excluded_location_of(referral, location_id) or abort(404)
    name = place.location
    needs_service.remove_excluded_location(current_user, referral, place)
    flash(f"Removed: {referral.person_name} can attend {name} again", "success")
    return redirect(_needs_url(referral.id, "#locations"))


@bp.route("/<int:referral_id>/needs/non-associations", methods=["POST"])
@roles(*MANAGERS)
def add_non_association(referral_id: int) -> ResponseReturnValue:
    referral = visible_person(referral_id)
    form = NonAssociationForm(prefix="association")
    if not form.validate():
        return _needs_page(referral, {"association": form}, 400)
    try:
        pair = needs_service.add_non_association(current_user, referral, crn=form.crn.data, reason=form.reason.data)
    except ServiceError as exc:
        return _fail(referral, "association", form, exc)
    other = pair.other if pair.referral_id == referral.id else pair.referral
    message = f"{referral.person_name} and {other.person_name} will not be put in a group together"
    both_in = needs_service.shared_group(referral, other.id)
    if both_in is not None:
        message += f". They are both in group {both_in.code} now: remove one of them from it"
    flash(message, "success")
    return redirect(_needs_url(referral.id, "#non-associations"))


@bp.route("/<int:referral_id>/needs/non-associations/<int:pair_id>/remove", methods=["POST"])
@roles(*MANAGERS)
def remove_non_association(referral_id: int, pair_id: int) -> ResponseReturnValue:
    referral = visible_person(referral_id)
    pair = needs_service.non_association_of(referral, pair_id) or abort(404)
    other = pair.other if pair.referral_id == referral.id else pair.referral
    name = other.person_name
    needs_service.remove_non_association(current_user, referral, pair)
    flash(f"Removed: {referral.person_name} and {name} may be in a group together", "success")
    return redirect(_needs_url(referral.id, "#non-associations"))
