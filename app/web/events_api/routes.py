"""The detailUrl endpoints of the domain events we publish (HMPPS.md §5), for nDelius's integration service.
Protected by client-credentials bearer tokens (HMPPS Auth), not by the staff sign-in."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from app.extensions import csrf
from app.services import events_detail
from app.web.auth.bearer import refusal

bp = Blueprint("events_api", __name__, url_prefix="/api")
csrf.exempt(bp)


@bp.before_request
def _client_token() -> ResponseReturnValue | None:
    """An HMPPS Auth client-credentials token (verified against HMPPS Auth's keys) with DETAIL_API_ROLE."""
    return refusal(current_app.config["DETAIL_API_ROLE"])


@bp.route("/referral/<int:referral_id>/status-change-details/<int:change_id>")
def status_change_details(referral_id: int, change_id: int) -> ResponseReturnValue:
    return _found(events_detail.status_change_details(referral_id, change_id))


@bp.route("/referral/<int:referral_id>/completion-data")
def completion_data(referral_id: int) -> ResponseReturnValue:
    return _found(events_detail.completion_data(referral_id))


def _found(details: dict | None) -> ResponseReturnValue:
    if details is None:
        return jsonify(status=404, userMessage="Not found"), 404
    return jsonify(details)
