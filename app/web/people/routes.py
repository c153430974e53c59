"""One page per person (referral): both sources of their details, status history, groups, every session they
were expected at, completion by module. Restricted people (LAO) answer 403 with a plain explanation."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import CaseDisagreement
from app.services import case_data, lao
from app.services import person as person_service
from app.services import waiting_list as waiting
from app.services.errors import ServiceError
from app.web.access import EVERYONE, MANAGERS, roles

bp = Blueprint("people", __name__, url_prefix="/people")


def _visible(referral_id: int):  # type: ignore[no-untyped-def]
    """(referral, None), or (None, nDelius's refusal) for a person this user may not see."""
    referral = waiting.get_referral(current_user, referral_id) or abort(404)
    if current_app.config.get("LAO_CHECKS", True):
        access = lao.may_see(current_user.username, referral.crn)
        if not access.allowed:
            return None, access
    return referral, None


def _restricted_page(access) -> ResponseReturnValue:  # type: ignore[no-untyped-def]
    return render_template("people/restricted.html", message=access.message), 403


def local_datetime(moment: datetime | None) -> str:
    return moment.astimezone(clock.LONDON).strftime("%-d %b %Y %H:%M") if moment else ""


def _page(referral, errors: dict | None = None) -> str:  # type: ignore[no-untyped-def]
    return render_template("people/show.html", record=person_service.record(referral), errors=errors or {},
                           local_datetime=local_datetime)


@bp.route("/<int:referral_id>")
@roles(*EVERYONE)
def show(referral_id: int) -> ResponseReturnValue:
    referral, refused = _visible(referral_id)
    if refused is not None:
        return _restricted_page(refused)
    return _page(referral)


@bp.route("/<int:referral_id>/disagreements/<int:disagreement_id>/resolve", methods=["POST"])
@roles(*MANAGERS)
def resolve(referral_id: int, disagreement_id: int) -> ResponseReturnValue:
    referral, refused = _visible(referral_id)
    if refused is not None:
        return _restricted_page(refused)
    disagreement = db.session.scalar(select(CaseDisagreement).where(
        CaseDisagreement.id == disagreement_id, CaseDisagreement.referral_id == referral.id)) or abort(404)
    try:
        case_data.resolve(current_user, disagreement, request.form.get("note", ""))
    except ServiceError as exc:
        db.session.rollback()
        return _page(referral, {disagreement_id: exc.message}), 400
    flash(f"{case_data.Field.of(disagreement.field).label}: difference resolved", "success")
    return redirect(url_for("people.show", referral_id=referral.id) + "#details")
