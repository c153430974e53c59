"""The register offline (issue 17): the service worker that keeps copies of the registers on the device, the
copies themselves, and the checks on changes that waited on the device before they were sent.

A copy is asked for with the header X-Offline-Copy: 1 (register.js keeps today's and the next seven days'
registers when My sessions is opened). The page rendered for it says so back in the same header and carries the
"Offline copy from 09:12" banner; only such responses are kept. A copy is rendered like any page, so a person
the user may not see (LAO, app/web/restricted.py) is masked in it as everywhere and their details never reach
the device; their row is marked data-restricted and register.js records nothing on it."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Response, current_app, make_response, request, url_for
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from app import clock
from app.models import Session
from app.web.access import EVERYONE, roles

OFFLINE_DAYS = 7
"""Registers kept on the device for offline use: today's and the next seven days'."""
COPY_HEADER = "X-Offline-Copy"
QUEUED_BY = "X-Queued-By"
"""Sent with every change that waited on the device: the id of the person who made it."""


def copy_requested() -> bool:
    return request.headers.get(COPY_HEADER) == "1"


def as_copy(body: str | Response) -> Response:
    """The page, marked as an offline copy when one was asked for."""
    response = make_response(body)
    if copy_requested():
        response.headers[COPY_HEADER] = "1"
    response.headers["Vary"] = COPY_HEADER
    return response


def copy_context() -> dict:
    return {"offline_copy": copy_requested(), "copied_at": clock.now_local()}


def keep_offline() -> Callable[[Session], bool]:
    """For My sessions: whether a listed session's register is kept on the device."""
    today = datetime.combine(clock.now_local().date(), datetime.min.time())
    until = today + timedelta(days=OFFLINE_DAYS + 1)
    may_record = current_user.role in ("facilitator", "treatment_manager")

    def keep(session: Session) -> bool:
        return may_record and today <= session.starts_at < until

    return keep


def queued_for_someone_else() -> Response | None:
    """A change that waited on the device is never saved as anyone but the person who made it (a shared tablet
    where someone else has signed in since): 403, and register.js keeps it for them."""
    owner = request.headers.get(QUEUED_BY)
    if owner is None or owner == str(current_user.id):
        return None
    response = make_response("", 403)
    response.headers[QUEUED_BY] = "someone else"
    return response


def worker() -> Response:
    """static/register-worker.js, served under /sessions so that its scope may be /sessions (My sessions and
    the registers) and nothing else."""
    response = current_app.send_static_file("register-worker.js")
    response.headers["Service-Worker-Allowed"] = url_for("register.index")
    return response


@roles(*EVERYONE)
def token() -> Response:
    """Who is signed in now, and a CSRF token of their session: asked before sending changes that waited on the
    device (after a sign-out, an expired session, a browser restart)."""
    response = make_response("", 204)
    response.headers["X-CSRF-Token"] = generate_csrf()
    response.headers["X-Signed-In-As"] = str(current_user.id)
    return response
