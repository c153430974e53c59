"""Domain events for admins: what came in (dead letters to retry or dismiss) and what waits to go out."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from app import clock
from app.integrations.domain_events import Broker, BrokerError
from app.services import case_data, events_in, events_publish
from app.web.access import roles

bp = Blueprint("events_admin", __name__, url_prefix="/integration/events")


@bp.app_context_processor
def _labels() -> dict:
    return {"case_field_label": lambda key: case_data.Field.of(key).label}


def _when(moment: datetime | None) -> str:
    return moment.astimezone(clock.LONDON).strftime("%-d %b %Y %H:%M") if moment else "never"


@bp.route("")
@roles("admin")
def index() -> ResponseReturnValue:
    try:
        depths, broker_error = Broker.from_config(current_app.config).queue_depths(), None
    except BrokerError as exc:
        depths, broker_error = None, str(exc)
    return render_template("events_admin/index.html", dead=events_in.dead_letters(),
                           outbox=events_publish.backlog(), depths=depths, broker_error=broker_error, when=_when)


@bp.route("/<int:event_id>/retry", methods=["POST"])
@roles("admin")
def retry(event_id: int) -> ResponseReturnValue:
    row = events_in.inbound_event(event_id) or abort(404)
    try:
        events_in.send_again(row, Broker.from_config(current_app.config))
    except events_in.NotDeadLetter as exc:
        flash(exc.message, "info")
        return redirect(url_for("events_admin.index"))
    except BrokerError as exc:
        flash(f"Not sent again: {exc}", "error")
        return redirect(url_for("events_admin.index"))
    flash("Put back on the queue: the listener will process it again.", "success")
    return redirect(url_for("events_admin.index"))


@bp.route("/<int:event_id>/dismiss", methods=["POST"])
@roles("admin")
def dismiss(event_id: int) -> ResponseReturnValue:
    row = events_in.inbound_event(event_id) or abort(404)
    events_in.dismiss(current_user, row)
    flash("Dismissed.", "success")
    return redirect(url_for("events_admin.index"))


@bp.route("/outbox/retry", methods=["POST"])
@roles("admin")
def retry_outbox() -> ResponseReturnValue:
    count = events_publish.retry()
    from jobs.events import queue_publish

    queue_publish()
    flash(f"{count} event{'s' if count != 1 else ''} will be published again.", "success")
    return redirect(url_for("events_admin.index"))
