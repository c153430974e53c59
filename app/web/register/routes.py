"""My sessions, the attendance register (tablet first: each tap saves its own row), catch-ups and one-to-one
booking."""
from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
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
from flask_wtf.csrf import CSRFError, generate_csrf
from jinja2_fragments.flask import render_block, render_blocks
from markupsafe import Markup

from app import clock, labels
from app.extensions import db
from app.models import Attendance, Session
from app.models.session import OUTCOMES
from app.services import attendance as attendance_service
from app.services import catch_ups as catch_up_service
from app.services import generations
from app.services import one_to_ones as one_to_one_service
from app.services import register as register_service
from app.services.errors import ServiceError
from app.services.groups import facilitators_for
from app.web import region_cache, restricted, whole_pages
from app.web.access import EVERYONE, MANAGERS, is_htmx, roles
from app.web.register import offline
from app.web.register.forms import (
    BookingForm,
    CatchUpForm,
    RowForm,
    clean_text,
    new_key,
    request_key,
    small_int,
)

bp = Blueprint("register", __name__, url_prefix="/sessions")
# Every template (and the macros it imports) reads its wording from app.labels.
bp.record_once(lambda state: state.app.jinja_env.globals.update(labels=labels))
NAV = [(15, "My sessions", "register.index", ("facilitator", "treatment_manager"))]
TEMPLATE = "register/show.html"
MAIN_OUTCOMES = ("ATTC", "AFTC", "UAAB")
ABSENCE_OUTCOMES = tuple(code for code in OUTCOMES if code.startswith("AA"))


@bp.route("")
@roles(*EVERYONE)
def index() -> ResponseReturnValue:
    return offline.as_copy(render_template(
        "register/index.html", sessions=register_service.my_sessions(current_user),
        now_local_label=clock.now_local().strftime("%A %-d %B"), keep_offline=offline.keep_offline(),
        **offline.copy_context()))


@bp.app_template_global("may_view_register")
def may_view_register(session: Session) -> bool:
    """For links to a register from other pages: the register's own view permission, not a copy of it."""
    return attendance_service.can_view(current_user, session)


bp.add_url_rule("/offline-worker.js", "offline_worker", offline.worker)
bp.add_url_rule("/offline-token", "offline_token", offline.token)


def _session_for(session_id: int, *, write: bool = False) -> Session:
    """The session, or 404 outside the user's region; 403 for someone who may not see (or record) it."""
    session = register_service.get_session(current_user, session_id) or abort(404)
    allowed = attendance_service.can_record if write else attendance_service.can_view
    if not allowed(current_user, session):
        abort(403)
    return session


def _header_for(session_id: int, *, kept: bool = False) -> register_service.Header:
    """The session as the register page shows it (read only), with the same 404 and 403 as _session_for. Kept
    (app.web.region_cache) per viewer's region (admins: every region's) under the generation of the tables it
    is read from: a tap leaves it kept, a change of the session, its group or its facilitators does not. Who may
    see it is still checked on every request."""
    if kept:
        found = region_cache.kept("register-header", region_cache.viewer_region(), (session_id,),
                                  lambda _as_of: register_service.header(current_user, session_id),
                                  tables="sessions")
    else:
        found = register_service.header(current_user, session_id)
    session = found or abort(404)
    if not attendance_service.can_view(current_user, session):
        abort(403)
    return session


def _rows(session: Session | register_service.Header) -> list[register_service.Row]:
    """The register's rows, with the people the signed-in user may not see masked (LAO): one batched check."""
    rows = register_service.rows(session)
    restricted.mask_people(row.referral for row in rows)
    return rows


def local_time(moment: datetime | None, with_date: bool = False) -> str:
    """A stored UTC instant as London wall-clock time."""
    if moment is None:
        return ""
    local = moment.astimezone(clock.LONDON)
    return local.strftime("%H:%M, %-d %b %Y") if with_date else local.strftime("%H:%M")


def outcome_macros() -> Any:
    """The outcome wording macros, for fragments (a block rendered alone does not run the page's imports)."""
    return current_app.jinja_env.get_template("register/_outcomes.html").module


def _flags(session: Session | register_service.Header) -> tuple[bool, bool, bool]:
    """What the viewer may do on this register: record, record outcomes (a cancelled session's rows show what is
    stored, with no outcome buttons: the save refuses them anyway), manage."""
    editable = attendance_service.can_record(current_user, session)
    return editable, editable and session.status != "cancelled", current_user.role in MANAGERS


def _context(session: Session | register_service.Header, **extra: Any) -> dict[str, Any]:
    editable, records_outcomes, is_manager = _flags(session)
    return dict(session=session, editable=editable, records_outcomes=records_outcomes,
                is_manager=is_manager, outcomes=OUTCOMES, main_outcomes=MAIN_OUTCOMES,
                absence_outcomes=ABSENCE_OUTCOMES, new_key=new_key,
                shown_values=lambda row: RowForm.shown(attendance_service.RowInput.of(row.attendance)),
                local_time=local_time, now_local=clock.now_local(), o=outcome_macros(),
                is_placeholder=one_to_one_service.is_placeholder(session), **extra)


@bp.route("/<int:session_id>")
@roles(*EVERYONE)
def show(session_id: int) -> ResponseReturnValue:
    """The register. Its rows are kept with the region's figures (app.web.region_cache: any change in the region
    is on the next load; nDelius's answers, which write only tables the region's figures leave out, by the
    "ndelius" generation), per set of people the viewer may not see (LAO: their CRNs are kept too and checked
    with nDelius on every load) and per what the viewer may do; the whole page around them is kept too, per
    viewer (the layout shows their name). The CSRF token, the CSP nonce and each form's idempotency key are
    this response's own: they are kept as marks and filled in for each page."""
    session = _header_for(session_id, kept=True)
    offline_copy = offline.copy_context()
    context = functools.cache(lambda: _context(session, **offline_copy))  # only for what is not kept
    rows = functools.cache(lambda: register_service.rows(session))  # read once, and only if not kept

    region = session.group.region_id
    crns: list[str] = region_cache.kept("register-people", region, (session_id,),
                                        lambda _as_of: sorted({row.referral.crn for row in rows()}))
    withheld = restricted.withheld(crns)

    def render(_as_of: datetime) -> tuple[Markup, int, int, bool]:
        shown = rows()
        restricted.mask_people(row.referral for row in shown)
        html = render_block(TEMPLATE, "rows", **{**context(), "rows": shown, **whole_pages.MARKED})
        # render_block autoescapes every value: the HTML is the template's own, safe to keep as Markup.
        return (Markup(html), sum(1 for r in shown if r.outcome), len(shown),  # nosec B704
                session.status == "cancelled" or any(r.may_have_catch_up for r in shown))

    rows_key = (session_id, withheld, _flags(session), generations.current("ndelius"))

    def page(marks: Mapping[str, Any]) -> str:
        """The whole page (kept per viewer as its rows are, app.web.whole_pages)."""
        html, recorded, expected, can_catch_up = region_cache.kept("register", region, rows_key, render)
        return render_template(TEMPLATE, **{**context(), **marks}, rows_html=html, recorded=recorded,
                               expected=expected, can_catch_up=can_catch_up)

    return offline.as_copy(whole_pages.kept("register", region, rows_key, page,
                                            afresh=offline_copy["offline_copy"], admins=True))


@bp.route("/<int:session_id>/print")
@roles(*EVERYONE)
def print_view(session_id: int) -> ResponseReturnValue:
    session = _session_for(session_id)
    return render_template("register/print.html", session=session, rows=_rows(session),
                           outcomes=OUTCOMES)


def _row_response(session: Session | register_service.Header, attendee_id: int, *, status: int = 200,
                  **extra: Any) -> Response:
    found, recorded, expected = register_service.one_row(session, attendee_id)
    if found is None:
        abort(404)
    restricted.mask_people([found.referral])
    if request.method == "POST" and "outcome" in request.form:
        focus: str | None = "outcome"
    elif request.method == "POST" and "save" in request.form:
        focus = "save"
    else:
        focus = request.headers.get("HX-Trigger-Name")
    context = _context(session, row=found, recorded=recorded, expected=expected, oob=True, focus=focus, **extra)
    return make_response(render_blocks(TEMPLATE, ["row", "count"], **context), status)


@bp.route("/<int:session_id>/attendees/<int:attendee_id>")
@roles(*EVERYONE)
def row(session_id: int, attendee_id: int) -> ResponseReturnValue:
    """One row as stored now (the "keep their version" choice of a conflict, and a refresh after an error)."""
    session = _header_for(session_id)
    if not is_htmx():
        return redirect(url_for("register.show", session_id=session_id, _anchor=f"attendee-{attendee_id}"))
    return _row_response(session, attendee_id)


@bp.route("/<int:session_id>/attendees/<int:attendee_id>", methods=["POST"])
@roles("facilitator", *MANAGERS)
def save_row(session_id: int, attendee_id: int) -> ResponseReturnValue:
    if (not_yours := offline.queued_for_someone_else()) is not None:
        return not_yours
    # What the answer shows, as the register page shows it (kept: checked against the region's generation, so
    # a change of facilitators or a cancellation is seen at once); the rules are checked against the session
    # the save reads, in its own transaction.
    shown = _header_for(session_id, kept=True)
    if not attendance_service.can_record(current_user, shown):
        abort(403)
    attendee = register_service.attendee(shown, attendee_id) or abort(404)
    posted = RowForm.parse(request.form)
    if posted.bad_request:
        abort(400)
    back = url_for("register.show", session_id=session_id, _anchor=f"attendee-{attendee_id}")
    if posted.errors:
        return _refused(shown, attendee_id, posted, posted.errors, back)
    try:
        result = attendance_service.save_row(current_user, attendee, posted.data,  # type: ignore[arg-type]
                                             seen_version=posted.seen_version,
                                             key=request_key(request.form, request.headers))
    except attendance_service.StaleAttendance as stale:
        return _conflict(shown, attendee_id, posted, stale.current, back)
    except ServiceError as refused:
        return _refused(shown, attendee_id, posted, {refused.field or "outcome": refused.message}, back)
    if not is_htmx():
        if result == "saved":
            flash(f"Saved for {attendee.referral.person_name}", "success")
        return redirect(back)
    return _row_response(shown, attendee_id, saved=result)


def _refused(session: register_service.Header, attendee_id: int, posted: RowForm, errors: dict[str, str],
             back: str) -> ResponseReturnValue:
    if not is_htmx():
        flash(f"Not saved: {next(iter(errors.values()))}", "error")
        return redirect(back)
    return _row_response(session, attendee_id, status=422, errors=errors, entered=posted.raw,
                         entered_version=posted.raw["version"])


def _conflict(session: register_service.Header, attendee_id: int, posted: RowForm, current: Attendance | None,
              back: str) -> ResponseReturnValue:
    if not is_htmx():
        flash("Not saved: someone else changed this record after you opened the register. "
              "Check what they recorded and make your change again.", "error")
        return redirect(back)
    return _row_response(session, attendee_id, status=409, conflict=posted.raw,
                         theirs=RowForm.shown(attendance_service.RowInput.of(current)), their_record=current)


@bp.route("/<int:session_id>/notes", methods=["POST"])
@roles("facilitator", *MANAGERS)
def save_notes(session_id: int) -> ResponseReturnValue:
    if (not_yours := offline.queued_for_someone_else()) is not None:
        return not_yours
    session = _session_for(session_id, write=True)
    notes = clean_text(request.form.get("session_notes"))
    seen = clean_text(request.form.get("seen_notes"))
    status, extra = 200, dict[str, Any]()
    try:
        changed = attendance_service.save_session_notes(current_user, session, notes, seen_notes=seen)
        extra["notes_saved"] = changed
    except attendance_service.StaleSessionNotes as stale:
        status, extra = 409, {"notes_conflict": notes, "notes_theirs": stale.current,
                              "notes_changed_by": stale.changed_by}
    except ServiceError as refused:
        status, extra = 422, {"notes_error": refused.message, "notes_entered": notes}
    if not is_htmx():
        if status == 200:
            flash("Session notes saved", "success")
        else:
            flash("Session notes not saved: " + ("someone else changed them after you opened the register"
                                                 if status == 409 else extra["notes_error"]), "error")
        return redirect(url_for("register.show", session_id=session_id))
    db.session.refresh(session)
    return make_response(render_block(TEMPLATE, "session_notes", **_context(session, **extra)), status)


@bp.errorhandler(CSRFError)
def csrf_failed(error: CSRFError) -> ResponseReturnValue:
    """A register tap with a stale token (the person signed in again elsewhere): keep what they entered, say it
    was not saved, and give the page a fresh token so the next tap works. Nothing is written."""
    args = request.view_args or {}
    if is_htmx() and not current_user.is_authenticated:
        return make_response("", 401)  # signed out (here or in another tab): register.js says so on the row
    if not (is_htmx() and request.endpoint == "register.save_row"):
        return render_template("errors/csrf.html", reason=error.description), 400  # the service-wide page
    session = register_service.get_session(current_user, args.get("session_id", 0))
    if session is None or not attendance_service.can_record(current_user, session):
        abort(404)
    posted = RowForm.parse(request.form)
    response = _row_response(session, args["attendee_id"], status=400, entered=posted.raw,
                             entered_version=posted.raw["version"], errors={
                                 "outcome": "The page had expired. Tap again to save it."})
    response.headers["X-CSRF-Token"] = generate_csrf()
    return response


# ----------------------------------------------------------------------------------------------- catch-ups

@bp.route("/<int:session_id>/catch-up", methods=["GET", "POST"])
@roles(*MANAGERS)
def catch_up(session_id: int) -> ResponseReturnValue:
    missed = _session_for(session_id, write=True)
    candidates = catch_up_service.candidates(missed)
    form = CatchUpForm()
    form.people.choices = [(c.attendee.referral_id, c.attendee.referral.person_name) for c in candidates]
    form.facilitator_id.choices = [(0, "Choose a facilitator")] + [
        (f.id, f.name) for f in facilitators_for(current_user) if f.region_id == missed.group.region_id]
    if request.method == "GET":
        form.people.data = [n for n in map(small_int, request.args.getlist("person")) if n is not None]
        form.facilitator_id.data = next((sf.facilitator_id for sf in missed.facilitators if sf.role == "lead"), 0)
    status = 200
    if form.is_submitted():
        status = 400
        form.validate()
        readable = form.dates_readable()
        form.people.errors = []
        form.facilitator_id.errors = []
        if readable:
            on, at = form.when
            try:
                created = catch_up_service.schedule(
                    current_user, missed, referral_ids=list(form.people.data or []), on=on, at=at,
                    facilitator_id=form.facilitator_id.data, key=request_key(request.form, request.headers))
            except ServiceError as refused:
                getattr(form, refused.field or "date", form.date).errors = [refused.message]
            else:
                if created is None:
                    flash("That catch-up was already booked.", "success")
                    return redirect(url_for("register.show", session_id=missed.id))
                flash(f"Catch-up booked for {created.starts_at:%A %-d %B at %H:%M}", "success")
                return redirect(url_for("register.show", session_id=created.id))
    return render_template("register/catch_up.html", missed=missed, form=form, candidates=candidates,
                           key=request.form.get("idempotency_key") or new_key()), status


# ----------------------------------------------------------------------------------------------- one-to-ones

@bp.route("/<int:session_id>/one-to-ones", methods=["GET", "POST"])
@roles(*MANAGERS)
def one_to_ones(session_id: int) -> ResponseReturnValue:
    placeholder = _session_for(session_id, write=True)
    if not one_to_one_service.is_placeholder(placeholder):
        abort(404)
    facilitators = [(f.id, f.name) for f in facilitators_for(current_user) if f.region_id == placeholder.group.region_id]
    status, failed, failed_for = 200, None, None
    if request.method == "POST":
        target = small_int(request.form.get("referral_id"))
        booking_id = small_int(request.form.get("booking_id"))
        if target is None:
            abort(400)
        form = _booking_form(facilitators, prefix=f"p{target}")
        form.validate()
        if form.dates_readable():
            on, at = form.when
            try:
                if booking_id is not None:
                    booking = db.session.get(Session, booking_id)
                    if booking is None or booking.parent_id != placeholder.id:
                        abort(404)
                    one_to_one_service.change(current_user, booking, on=on, at=at,
                                              facilitator_id=form.facilitator_id.data,
                                              seen_version=small_int(request.form.get("version")))
                    flash(f"One-to-one moved to {booking.starts_at:%A %-d %B at %H:%M}", "success")
                else:
                    new_booking = one_to_one_service.book(current_user, placeholder, referral_id=target, on=on,
                                                          at=at, facilitator_id=form.facilitator_id.data,
                                                          key=request_key(request.form, request.headers))
                    if new_booking is not None:
                        flash(f"One-to-one booked for {new_booking.starts_at:%A %-d %B at %H:%M}", "success")
                return redirect(url_for("register.one_to_ones", session_id=session_id,
                                        _anchor=f"person-{target}"))
            except ServiceError as refused:
                field = refused.field if refused.field in ("date", "start_time", "facilitator_id") else "date"
                getattr(form, field).errors = [refused.message]
        status, failed, failed_for = 400, form, target
    rows = one_to_one_service.booking_rows(placeholder)
    forms = {}
    for booking_row in rows:
        referral_id = booking_row.attendee.referral_id
        if referral_id == failed_for and failed is not None:
            forms[referral_id] = failed
            continue
        form = _booking_form(facilitators, formdata=None, prefix=f"p{referral_id}")
        when = booking_row.booking.starts_at if booking_row.booking else (
            booking_row.suggestion[0] if booking_row.suggestion else None)
        if when is not None:
            form.date.data, form.start_time.data = when.date(), when.time()
        lead = booking_row.booking or placeholder
        form.facilitator_id.data = next((sf.facilitator_id for sf in lead.facilitators if sf.role == "lead"), 0)
        forms[referral_id] = form
    booked = sum(1 for r in rows if r.booking)
    return render_template("register/one_to_ones.html", placeholder=placeholder, rows=rows, forms=forms,
                           booked=booked, new_key=new_key), status


def _booking_form(facilitators: list[tuple[int, str]], **kwargs: Any) -> BookingForm:
    form = BookingForm(**kwargs)
    form.facilitator_id.choices = [(0, "Choose a facilitator")] + facilitators
    return form
