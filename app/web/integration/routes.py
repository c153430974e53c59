"""The Integration page: how far behind nDelius is, what it refused (with a retry), and where it disagrees
with us (reconciliation). Treatment managers and admins; region-scoped."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from jinja2_fragments.flask import render_block
from redis.exceptions import RedisError

from app.clock import LONDON
from app.integrations.circuit_breaker import CLOSED, RedisCircuitBreaker
from app.services import case_data, ndelius_status, periodic_runs
from app.services.errors import ServiceError
from app.services.ndelius_reconcile import FIELDS
from app.web.access import MANAGERS, is_htmx, roles
from app.web.region_choice import region_choice
from jobs import ndelius as ndelius_jobs
from jobs.enqueue import redis_connection

bp = Blueprint("integration", __name__, url_prefix="/integration")
NAV = [(80, "Integration", "integration.index", MANAGERS)]


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    return moment.astimezone(LONDON).strftime("%-d %b %Y %H:%M")


def _circuit() -> tuple[str, int]:
    """("closed" | "open" | "half_open" | "unknown", seconds until the next trial call)."""
    try:
        breaker = RedisCircuitBreaker(redis_connection(), "ndelius")
        return breaker.state, int(breaker.retry_in())
    except RedisError:
        return "unknown", 0


# What each periodic job of jobs/scheduler.py does, as the integration page names it.
PERIODIC_JOBS = {
    "recovery": "Carry on work whose worker stopped",
    "relay": "Send changes to nDelius",
    "sweep": "Free work of relays that stopped, send what is left",
    "domain events": "Publish domain events",
    "reconcile": "Check our appointments against nDelius",
    "forget idempotency keys": "Forget week-old repeat-protection keys",
    "progress verify": "Check stored progress against attendance",
    "staff": "Read each region's staff (the facilitators) from nDelius",
    "bank holidays": "Fetch bank holidays from GOV.UK",
}


def _every(seconds: float) -> str:
    if seconds < 60:
        return f"Every {seconds:g} seconds"
    if seconds == 60:
        return "Every minute"
    if seconds < 3600:
        return f"Every {seconds / 60:g} minutes"
    if seconds == 86400:
        return "Every day"
    return f"Every {seconds / 3600:g} hours"


def _periodic() -> list[dict[str, Any]]:
    """Each periodic job (the scheduler's timetable) with its last run: for admins."""
    from jobs.scheduler import timetable

    runs = periodic_runs.latest()
    return [{"name": job.name, "what": PERIODIC_JOBS.get(job.name, job.name.capitalize()),
             "every": _every(job.every), "run": runs.get(job.name),
             "overdue": periodic_runs.is_overdue(runs.get(job.name), job.every)}
            for job in timetable(current_app.config, 0.0)]


@bp.route("")
@roles(*MANAGERS)
def index() -> ResponseReturnValue:
    circuit, circuit_retry_in = _circuit()
    choice = region_choice()  # an admin: every region, or the one chosen (kept on every link and form)
    region_id = choice.region_id
    context = {
        "backlog": ndelius_status.backlog(current_user, region_id=region_id), "circuit": circuit,
        "circuit_retry_in": circuit_retry_in, "circuit_closed": CLOSED, "choice": choice,
        "last_run": ndelius_status.last_reconciliation(current_user, region_id), "when": _when, "fields": FIELDS,
    }
    if is_htmx():
        return render_block("integration/index.html", "summary", **context)
    context.update(
        failures=ndelius_status.failures(current_user, region_id=region_id),
        retrying=ndelius_status.retrying(current_user, region_id=region_id),
        disagreements=ndelius_status.disagreements(current_user, region_id=region_id),
        case_disagreements=case_data.open_disagreements(region_id=region_id),  # issue 14.3
        periodic=_periodic() if current_user.role == "admin" else [],
    )
    return render_template("integration/index.html", **context)


@bp.route("/appointments/<int:appointment_id>/retry", methods=["POST"])
@roles(*MANAGERS)
def retry(appointment_id: int) -> ResponseReturnValue:
    ndelius_status.retry(current_user, appointment_id) or abort(404)
    ndelius_jobs.queue_relay()
    flash("Sending it to nDelius again. It leaves this list once nDelius accepts it.", "success")
    return _back("failures")


@bp.route("/retry-all", methods=["POST"])
@roles(*MANAGERS)
def retry_all() -> ResponseReturnValue:
    count = ndelius_status.retry_all(current_user, region_choice().region_id)
    ndelius_jobs.queue_relay()
    flash(f"Sending {count} appointment{'s' if count != 1 else ''} to nDelius again.", "success")
    return _back("failures")


@bp.route("/disagreements/<int:disagreement_id>/send-ours", methods=["POST"])
@roles(*MANAGERS)
def send_ours(disagreement_id: int) -> ResponseReturnValue:
    try:
        ndelius_status.send_ours(current_user, disagreement_id) or abort(404)
    except ServiceError as exc:
        flash(exc.message, "error")
    else:
        ndelius_jobs.queue_relay()
        flash("Our version will be sent to nDelius. The next check shows whether they now agree.", "success")
    return _back("disagreements")


@bp.route("/disagreements/<int:disagreement_id>/dismiss", methods=["POST"])
@roles(*MANAGERS)
def dismiss(disagreement_id: int) -> ResponseReturnValue:
    ndelius_status.dismiss(current_user, disagreement_id) or abort(404)
    flash("Disagreement dismissed.", "success")
    return _back("disagreements")


@bp.route("/reconcile", methods=["POST"])
@roles(*MANAGERS)
def reconcile() -> ResponseReturnValue:
    try:
        ndelius_jobs.queue_reconcile(region_choice().region_id)
    except RedisError:
        flash("Background jobs are not available just now. Try again in a minute.", "error")
    else:
        flash("Checking nDelius now. Disagreements appear here when the check has finished.", "success")
    return _back("disagreements")


def _back(section: str) -> ResponseReturnValue:
    """Back to the page (the region an admin chose kept) at the section acted on."""
    return redirect(url_for("integration.index", **region_choice().args) + f"#{section}")
