"""The HMPPS subject access request endpoint (issue 15.7), as every HMPPS service offers it (hmpps-kotlin-lib's
HmppsSubjectAccessRequestController): `GET /subject-access-request?prn=&crn=&fromDate=&toDate=` with an HMPPS
Auth client-credentials token carrying ROLE_SAR_DATA_ACCESS.

200 `{"content": {...}}` with everything held about the person (app.services.subject_access); 204 when nothing
is held (in the date range); 209 when only a prison number is given (this service holds probation cases, found
by CRN); 400 for neither identifier or a date that is not YYYY-MM-DD (or toDate before fromDate); 401 / 403 for a
missing, bad or expired token, or one without the role."""
from __future__ import annotations

import logging
from datetime import date

from flask import Blueprint, Response, g, jsonify, request
from flask.typing import ResponseReturnValue

from app.services import subject_access
from app.web.auth.bearer import bearer_roles

bp = Blueprint("sar", __name__)
log = logging.getLogger("app.sar")
SAR_ROLE = "ROLE_SAR_DATA_ACCESS"


def _bad(message: str) -> ResponseReturnValue:
    return jsonify({"status": 400, "userMessage": message, "developerMessage": message}), 400


def _date(name: str) -> tuple[date | None, str | None]:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None, None
    try:
        return date.fromisoformat(raw), None
    except ValueError:
        return None, f"{name} must be a date in the form YYYY-MM-DD, not {raw[:20]!r}"


@bp.route("/subject-access-request")
@bearer_roles(SAR_ROLE)
def subject_access_request() -> ResponseReturnValue:
    prn = (request.args.get("prn") or "").strip()
    crn = (request.args.get("crn") or "").strip()
    if not prn and not crn:
        return _bad("One of prn or crn must be supplied.")
    from_date, problem = _date("fromDate")
    if problem:
        return _bad(problem)
    to_date, problem = _date("toDate")
    if problem:
        return _bad(problem)
    if from_date and to_date and to_date < from_date:
        return _bad("toDate cannot be before fromDate")
    if not crn:
        return Response(status=209)  # a prison number only: not an identifier this service knows
    content = subject_access.content_for(crn, from_date, to_date)
    log.info("subject access request", extra={"event": "subject_access_request", "client_id":
                                              g.bearer_claims.get("sub"), "found": content is not None})
    if content is None:
        return Response(status=204)
    return jsonify({"content": content})
