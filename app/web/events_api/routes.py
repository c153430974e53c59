"""The detailUrl endpoints of the domain events we publish (HMPPS.md §5), for nDelius's integration service.
Protected by client-credentials bearer tokens (HMPPS Auth), not by the staff sign-in."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from app.extensions import csrf
from app.services import events_detail
from app.web.events_api.tokens import bearer_roles

bp = Blueprint("events_api", __name__, url_prefix="/api")
csrf.exempt(bp)


@bp.before_request
def _client_token() -> ResponseReturnValue | None:
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.startswith("Bearer ") else ""
    roles = bearer_roles(token) if token else None
    if roles is None:
        response = jsonify(status=401, userMessage="A valid bearer token is required")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    if current_app.config["DETAIL_API_ROLE"] not in roles:
        response = jsonify(status=403, userMessage="The token does not carry the role this needs")
        response.status_code = 403
        return response
    return None


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
