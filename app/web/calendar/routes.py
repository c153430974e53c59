"""The calendar (week or month, per group, facilitator or region), postponing a session with a preview, changing a
group's days and times, and each person's iCalendar link."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from jinja2_fragments.flask import render_block
from markupsafe import Markup
from redis.exceptions import RedisError
from werkzeug.datastructures import MultiDict

from app import clock
from app.extensions import db
from app.models import Operation, Session
from app.models.base import utcnow
from app.models.group import DAY_NAMES
from app.services import calendar as calendar_service
from app.services import calendar_feed, operations
from app.services import reschedule as reschedule_service
from app.services.errors import ServiceError
from app.services.operations import fail
from app.web import region_cache, whole_pages
from app.web.access import EVERYONE, MANAGERS, is_htmx, roles
from app.web.calendar.forms import DaysAndTimesForm, PostponeForm
from app.web.groups.forms import slots_from
from app.web.input_bounds import FIRST_DAY, LAST_DAY, db_id, in_range
from app.web.region_choice import RegionChoice, region_choice
from jobs.reschedule import enqueue_reschedule

bp = Blueprint("calendar", __name__, url_prefix="/calendar")
NAV = [(20, "Calendar", "calendar.index", EVERYONE)]

NO_WORKER = "Background jobs are not available just now, so nothing has moved yet. Try again in a few minutes."


def _can_reschedule() -> bool:
    return current_user.role in MANAGERS


# --- the calendar -------------------------------------------------------------------------------------------

def _scope_from(args: MultiDict, choice: RegionChoice) -> tuple[calendar_service.Scope, str]:
    """`scope` is "region", "group-<id>" or "facilitator-<id>"; another region's ids are a 404. A facilitator
    sees their own sessions first. "region" is the user's region, or for an admin the one chosen (or all)."""
    value = args.get("scope", "")
    if not value:
        value = f"facilitator-{current_user.facilitator_id}" if current_user.facilitator_id else "region"
    kind, _, number = value.partition("-")
    if kind == "region":
        return calendar_service.Scope(region_name=choice.title if choice.options else None), "region"
    scope_id = db_id(number)
    if scope_id is None or kind not in ("group", "facilitator"):
        abort(404)
    if kind == "group":
        group = calendar_service.group_for(current_user, scope_id) or abort(404)
        return calendar_service.Scope(group=group), value
    facilitator = calendar_service.facilitator_for(current_user, scope_id) or abort(404)
    return calendar_service.Scope(facilitator=facilitator), value


def _anchor(value: str | None) -> date:
    """The day the calendar shows: an unreadable date shows today; a date outside the service's calendar
    (0001-01-01, 9999-12-31) is a 400 page, as the weeks around it cannot be shown."""
    try:
        day = date.fromisoformat(value) if value else clock.today()
    except ValueError:
        return clock.today()
    if not in_range(day):
        abort(400, description=f"The calendar shows dates from {FIRST_DAY:%-d %B %Y} to {LAST_DAY:%-d %B %Y}.")
    return day


def _calendar_context(args: MultiDict[str, str]) -> dict[str, Any]:
    wanted = args.get("view")
    view = wanted if wanted is not None and wanted in calendar_service.VIEWS else "week"
    choice = region_choice()  # an admin: every region, or the one chosen (kept on every link)
    scope, scope_value = _scope_from(args, choice)
    anchor = _anchor(args.get("date"))
    region = choice.region_id
    groups, facilitators = region_cache.kept(
        "calendar-choices", region, (), lambda _as_of: calendar_service.scope_choices(current_user, region))
    can_reschedule, today = _can_reschedule(), clock.today()

    def link(**changes: object) -> str:
        params: dict[str, Any] = {"view": view, "date": anchor.isoformat(), "scope": scope_value, **choice.args}
        params.update({k: (v.isoformat() if isinstance(v, date) else v) for k, v in changes.items()})
        return url_for("calendar.index", **params)

    def grid(as_of: datetime) -> tuple[Markup, list[int], list[int]]:
        """The weeks shown, kept for a few seconds per region (app.web.region_cache)."""
        page = calendar_service.calendar_page(current_user, view, anchor, scope, region)
        html = render_block("calendar/index.html", "calendar_grid", page=page, view=view, scope=scope, link=link,
                            can_reschedule=can_reschedule, now=clock.now_local(), today=today, as_of=as_of,
                            session_kind=calendar_service.session_kind, day_names=DAY_NAMES)
        # render_block autoescapes every value, so the HTML is the template's own and safe to keep as Markup.
        grid_groups = sorted({s.group_id for week in page.weeks for day in week for s in day.sessions})
        shown = [s.id for week in page.weeks for day in week for s in day.sessions]
        return Markup(html), grid_groups, shown  # nosec B704

    grid_html, visible_groups, sync_session_ids = region_cache.kept(
        "calendar", region, (view, anchor, scope_value, can_reschedule, scope.label), grid)
    if scope.group is not None:
        visible_groups = sorted({*visible_groups, scope.group.id})
    operations = reschedule_service.latest_reschedules(visible_groups, since=utcnow() - timedelta(hours=1))
    return {
        "page": calendar_service.heading(view, anchor), "grid_html": grid_html, "view": view, "scope": scope,
        "scope_value": scope_value, "groups": groups, "facilitators": facilitators, "link": link,
        "can_reschedule": can_reschedule, "now": clock.now_local(), "today": today, "operations": operations,
        "resumable": reschedule_service.resumable, "choice": choice, "sync_session_ids": sync_session_ids,
    }


@bp.route("")
@roles(*EVERYONE)
def index() -> ResponseReturnValue:
    context = _calendar_context(request.args)
    if is_htmx():
        return render_block("calendar/index.html", "calendar", **context)
    region, scope_value = context["choice"].region_id, context["scope_value"]

    def page(marks: Mapping[str, Any]) -> str:
        scope_options = region_cache.fragment(
            "calendar-scope", region, (scope_value, current_user.facilitator_id),
            lambda _as_of: render_block("calendar/index.html", "scope_options", groups=context["groups"],
                                        facilitators=context["facilitators"], scope_value=scope_value))
        return render_template("calendar/index.html", **context, scope_options=scope_options, **marks)

    if context["operations"]:  # a reschedule's progress (its operation, which no generation follows): made afresh
        return page({})
    return whole_pages.kept("calendar", region, (), page)


# --- postpone -----------------------------------------------------------------------------------------------

def _postpone_form(session: Session, data: MultiDict[str, str]) -> PostponeForm:
    """The form as sent; a drop on a day sends only the date, so the start defaults to the session's time."""
    data = MultiDict(data)
    if not data.get("start"):
        data["start"] = f"{session.starts_at:%H:%M}"
    return PostponeForm(formdata=data)


def _requested(form: PostponeForm) -> tuple[datetime, datetime | None, bool | None]:
    """The new times, and whether later sessions follow (None: not chosen, the service decides by direction)."""
    start = datetime.combine(form.date.data, form.start.data)
    end = datetime.combine(form.date.data, form.end.data) if form.end.data else None
    return start, end, {"yes": True, "no": False}.get(form.cascade.data or "")


def _show_plan(form: PostponeForm, plan: reschedule_service.Plan) -> None:
    """The form carries what the preview computed: its fingerprint and the cascade choice it resolved."""
    form.fingerprint.data = plan.fingerprint
    form.cascade.data = "yes" if plan.cascade else "no"


def _field_error(form: PostponeForm, exc: ServiceError) -> None:
    field = getattr(form, exc.field or "date", None) or form.date
    field.errors = [*field.errors, exc.message]


def _render_postpone(session: Session, form: PostponeForm, *, plan: reschedule_service.Plan | None = None,
                     error: str | None = None, status: int = 200, block: str = "preview") -> ResponseReturnValue:
    context = {
        "session": session, "form": form, "plan": plan, "error": error,
        "kind": calendar_service.session_kind(session), "partial": is_htmx(),
        "in_dialog": bool(request.values.get("dialog")),
        "back": url_for("calendar.index", view="week", date=session.starts_at.date().isoformat(),
                        scope=f"group-{session.group_id}"),
    }
    if is_htmx():
        return render_block("calendar/postpone.html", block, **context), status
    return render_template("calendar/postpone.html", **context), status


@bp.route("/sessions/<int:session_id>/postpone")
@roles(*MANAGERS)
def postpone(session_id: int) -> ResponseReturnValue:
    """The postpone form, and the preview of what would move (the drop of a drag asks for the same preview)."""
    session = calendar_service.session_for(current_user, session_id) or abort(404)
    if not request.args.get("date"):
        form = PostponeForm(data={"date": session.starts_at.date(), "start": session.starts_at.time()})
        return _render_postpone(session, form)
    form = _postpone_form(session, request.args)
    if not form.validate():
        return _render_postpone(session, form, status=422)
    try:
        plan = reschedule_service.preview_postpone(current_user, session, *_requested(form))
    except reschedule_service.RescheduleInProgress as exc:
        return _render_postpone(session, form, error=exc.message, status=409)
    except ServiceError as exc:
        _field_error(form, exc)
        return _render_postpone(session, form, status=422)
    _show_plan(form, plan)
    return _render_postpone(session, form, plan=plan)


@bp.route("/sessions/<int:session_id>/postpone", methods=["POST"])
@roles(*MANAGERS)
def confirm_postpone(session_id: int) -> ResponseReturnValue:
    session = calendar_service.session_for(current_user, session_id) or abort(404)
    form = _postpone_form(session, request.form)
    if not form.validate():
        return _render_postpone(session, form, status=422)
    try:
        operation = reschedule_service.request_postpone(current_user, session, *_requested(form),
                                                        seen_fingerprint=form.fingerprint.data or None,
                                                        confirmed=bool(form.confirm.data))
    except reschedule_service.RescheduleInProgress as exc:
        return _render_postpone(session, form, error=exc.message, status=409)
    except reschedule_service.PlanChanged as exc:
        db.session.rollback()
        plan = reschedule_service.preview_postpone(current_user, session, *_requested(form))
        _show_plan(form, plan)
        return _render_postpone(session, form, plan=plan, error=exc.message, status=409)
    except reschedule_service.ConfirmationNeeded as exc:
        db.session.rollback()
        plan = reschedule_service.preview_postpone(current_user, session, *_requested(form))
        _show_plan(form, plan)
        form.confirm.errors = [exc.message]
        return _render_postpone(session, form, plan=plan, status=422)
    except ServiceError as exc:
        _field_error(form, exc)
        return _render_postpone(session, form, status=422)
    operation_id, new_day = operation.id, datetime.combine(form.date.data, form.start.data).date()
    _enqueue(operation_id)
    if is_htmx():
        operation = operations.get_operation(current_user, operation_id) or abort(404)
        return render_block("calendar/postpone.html", "confirmed", session=session, **operations.progress(operation))
    flash("The sessions are being moved. The calendar updates when it has finished.", "success")
    return redirect(url_for("calendar.index", view="week", date=new_day.isoformat(),
                            scope=f"group-{session.group_id}"))


def _enqueue(operation_id: int) -> None:
    try:
        enqueue_reschedule(operation_id)
    except RedisError:
        fail(operation_id, NO_WORKER)


@bp.route("/operations/<int:operation_id>/resume", methods=["POST"])
@roles(*MANAGERS)
def resume(operation_id: int) -> ResponseReturnValue:
    """Carry on with a reschedule whose worker was lost or that failed part-way (applied steps stay applied)."""
    operation = operations.get_operation(current_user, operation_id) or abort(404)
    try:
        reschedule_service.resume(current_user, operation)
    except ServiceError as exc:
        flash(exc.message, "error")
    else:
        _enqueue(operation_id)  # the same job id: a job still running on a live worker is not run twice
        flash("The reschedule is carrying on from where it stopped.", "success")
    return redirect(url_for("calendar.index", scope=f"group-{operation.group_id}"))


# --- days and times -----------------------------------------------------------------------------------------

@bp.route("/groups/<int:group_id>/days-and-times", methods=["GET", "POST"])
@roles(*MANAGERS)
def days_and_times(group_id: int) -> ResponseReturnValue:
    """Change a group's days and times or start date: preview what moves, then a background job moves it."""
    group = calendar_service.group_for(current_user, group_id) or abort(404)
    form = DaysAndTimesForm()
    if not form.is_submitted():
        form = DaysAndTimesForm(data={
            "earliest_start_date": group.earliest_start_date, "version": group.version,
            "slots": [{"day": str(s.day_of_week), "start_time": s.start_time} for s in group.slots],
        })
    plan, status, error = None, 200, None
    if form.is_submitted():
        status = 400
        valid = form.validate()
        slots = slots_from(form.slots)
        if valid and slots is not None:
            action = request.form.get("action", "preview")
            try:
                if action == "confirm":
                    operation = reschedule_service.request_reslot(
                        current_user, group, slots, form.earliest_start_date.data, form.version.data,
                        form.fingerprint.data or None)
                    return _after_reslot(group_id, operation)
                plan = reschedule_service.preview_reslot(current_user, group, slots,
                                                         form.earliest_start_date.data)
                form.fingerprint.data = plan.fingerprint
                status = 200
            except reschedule_service.RescheduleInProgress as exc:
                error, status = exc.message, 409
            except reschedule_service.PlanChanged as exc:
                db.session.rollback()
                group = calendar_service.group_for(current_user, group_id) or abort(404)
                plan = reschedule_service.preview_reslot(current_user, group, slots,
                                                         form.earliest_start_date.data)
                form.fingerprint.data = plan.fingerprint
                form.version.data = group.version
                error, status = exc.message, 409
            except ServiceError as exc:
                target = form.slots if exc.field == "slots" else form.earliest_start_date
                target.errors = [*(target.errors or []), exc.message] if isinstance(target.errors, list) \
                    else [exc.message]
    return render_template("calendar/days_and_times.html", group=group, form=form, plan=plan,
                           error=error), status


def _after_reslot(group_id: int, operation: Operation | None) -> ResponseReturnValue:
    if operation is None:
        flash("The days and times have been changed. No sessions needed to move.", "success")
        return redirect(url_for("groups.show", group_id=group_id))
    operation_id = operation.id
    first = operation.steps[0].payload["new_starts_at"][:10] if operation.steps else None
    _enqueue(operation_id)
    flash("The days and times have been changed. The sessions are being moved; the calendar updates when it "
          "has finished.", "success")
    return redirect(url_for("calendar.index", view="week", date=first, scope=f"group-{group_id}"))


# --- iCalendar link -----------------------------------------------------------------------------------------

@bp.route("/feed", methods=["GET"])
@roles(*EVERYONE)
def feed_settings() -> ResponseReturnValue:
    return render_template("calendar/feed.html", feed=calendar_feed.current(current_user), link=None)


@bp.route("/feed", methods=["POST"])
@roles(*EVERYONE)
def create_feed() -> ResponseReturnValue:
    """A new secret link (the old one stops working). The link is shown on this response only."""
    token = calendar_feed.create_link(current_user)
    link = url_for("calendar.ics", token=token, _external=True)
    return render_template("calendar/feed.html", feed=calendar_feed.current(current_user), link=link)


@bp.route("/feed/revoke", methods=["POST"])
@roles(*EVERYONE)
def revoke_feed() -> ResponseReturnValue:
    if calendar_feed.revoke(current_user):
        flash("Your calendar link has been turned off. Calendars subscribed to it will stop updating.", "success")
    return redirect(url_for("calendar.feed_settings"))


@bp.route("/feed/<token>.ics")
def ics(token: str) -> ResponseReturnValue:
    """The feed itself: no sign-in (calendar clients cannot), the secret link is the key. Unknown or revoked
    links are a 404."""
    if len(token) > 100:
        abort(404)
    user = calendar_feed.user_for_token(token)
    if user is None:
        abort(404)
    response = make_response(calendar_feed.feed(user))
    response.mimetype = "text/calendar"
    response.headers["Content-Disposition"] = 'inline; filename="programme-delivery.ics"'
    return response

