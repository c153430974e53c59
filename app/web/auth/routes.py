from __future__ import annotations

import functools
import time
from typing import TypeVar, cast

from flask import (
    Blueprint,
    Flask,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from app.extensions import db, login_manager
from app.models import Region, User
from app.services.reads import run
from app.services.sign_in import SignInRefused, complete_sign_in, sign_out
from app.web.auth import hmpps, kept_users

bp = Blueprint("auth", __name__)
bp.record_once(lambda state: hmpps.init_app(cast(Flask, state.app)))
bp.record_once(lambda state: kept_users.init_app(cast(Flask, state.app)))
IDLE_TIMEOUT_SECONDS = 30 * 60
ABSOLUTE_TIMEOUT_SECONDS = 10 * 60 * 60
# The idle clock moves in steps of a minute: a request within a minute of the last one leaves the session cookie
# as it is (no new signature, no Set-Cookie), and idle time is still measured to the minute.
LAST_SEEN_STEP_SECONDS = 60
T = TypeVar("T")


@bp.before_app_request
def enforce_session_timeouts() -> ResponseReturnValue | None:
    """Signed-in sessions end after 30 minutes idle or 10 hours in all, checked on the server."""
    if request.endpoint == "static" or not current_user.is_authenticated:
        return None
    now = time.time()
    signed_in_at = session.get("signed_in_at", 0)
    last_seen = session.get("last_seen", 0)
    if now - last_seen > IDLE_TIMEOUT_SECONDS or now - signed_in_at > ABSOLUTE_TIMEOUT_SECONDS:
        logout_user()
        session.clear()
        flash("You were signed out because the session timed out. Sign in again to continue.", "info")
        return _to_sign_in()
    if now - last_seen >= LAST_SEEN_STEP_SECONDS:  # not every request: an unchanged session is not re-signed
        session["last_seen"] = int(now)
    return None


@login_manager.unauthorized_handler
def _to_sign_in() -> ResponseReturnValue:
    """Not signed in (never, timed out, signed out elsewhere or disabled): pages go to the sign-in page; an HTMX
    request gets 401 with HX-Redirect, so a page that saves in the background (the register) can tell it has
    been signed out and keep what it has not sent yet."""
    target = url_for("auth.login")
    if request.headers.get("HX-Request") == "true":
        response = make_response("", 401)
        response.headers["HX-Redirect"] = target
        return response
    if request.method == "GET" and request.endpoint not in (None, "auth.index"):
        if not session.get("_flashes"):
            flash(login_manager.login_message, login_manager.login_message_category)
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return redirect(target)


@functools.cache
def _user_with_region() -> Select:
    """The signed-in user's row and their region's, as plain columns (built once per process)."""
    return (select(*User.__table__.c, *(column.label(f"region__{column.name}") for column in Region.__table__.c))
            .join(Region, Region.id == User.region_id).where(User.id == bindparam("user_id")))


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The cookie carries `id:session_version`; signing out bumps the version, so an old cookie is dead.

    Every request runs this, so the row is read as plain columns (`reads.run`) and made into a User (and its
    Region) attached to the request's session as if the ORM had loaded them: no SQL for either afterwards, and
    they behave as loaded objects do (changes to them are flushed). The ORM's loading path for this one row cost
    about 1.2 ms of CPU on every page; this, about 0.2 ms (`scripts/profile_page.py /no-such-page`). The row is
    kept in the process between requests (`kept_users`: checked against Redis on every request, read again
    after any change to it), so a page that reads nothing else sends no SQL."""
    try:
        uid, version = (int(part) for part in user_id.split(":"))
    except ValueError:
        return None
    row = kept_users.row(uid, lambda: _read_user(uid))
    if row is None or row["session_version"] != version or not row["active"]:
        return None
    g.signed_in_username = (uid, row["username"])  # for what asks once a commit has expired them (app.web.restricted)
    g.signed_in_row = row  # restored after a commit that leaves them unchanged (kept_users.restore_signed_in)
    session = db.session()
    region = session.identity_map.get(identity_key(Region, row["region_id"]))
    if region is None:
        region = _as_loaded(Region, {c.name: row[f"region__{c.name}"] for c in Region.__table__.c})
    user = session.identity_map.get(identity_key(User, uid))
    if user is None:
        user = _as_loaded(User, {c.name: row[c.name] for c in User.__table__.c})
        set_committed_value(user, "region", region)
    return user


def _read_user(user_id: int) -> dict[str, object] | None:
    found = run(_user_with_region(), {"user_id": user_id}).mappings().first()
    return dict(found) if found is not None else None


def _as_loaded(model: type[T], values: dict[str, object]) -> T:
    """An instance with these column values, persistent in the request's session with no change pending."""
    instance = model(**values)
    make_transient_to_detached(instance)
    db.session.add(instance)
    return instance


@bp.route("/")
def index() -> ResponseReturnValue:
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if current_user.role == "facilitator":  # a facilitator's day starts with their sessions
        return redirect(url_for("register.index"))
    return redirect(url_for("groups.index"))


@bp.route("/login")
def login() -> ResponseReturnValue:
    """The sign-in page: why you are here (signed out, timed out, refused) and the way to HMPPS Auth."""
    return render_template("auth/login.html", next=_safe_next(request.args.get("next")))


@bp.route("/login/hmpps-auth")
def start() -> ResponseReturnValue:
    """Off to HMPPS Auth's sign-in (authorisation code flow with PKCE; the state is kept in the session)."""
    session["sign_in_next"] = _safe_next(request.args.get("next"))
    return hmpps.authorize_redirect(url_for("auth.callback", _external=True))


@bp.route("/login/callback")
def callback() -> ResponseReturnValue:
    """Back from HMPPS Auth with a code: exchange it, verify the token, find the person, start a new session."""
    try:
        claims, name = hmpps.finish()
        user = complete_sign_in(claims, name)
    except SignInRefused as refused:
        db.session.rollback()
        return render_template("auth/login.html", problem=refused.message, next=None), refused.status
    target = session.get("sign_in_next") or url_for("auth.index")
    session.clear()  # a new session at sign-in
    login_user(user)
    session["signed_in_at"] = session["last_seen"] = int(time.time())
    return redirect(target)


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (no scheme, no host, no "//"), else nothing."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


@bp.route("/keep-alive", methods=["POST"])
@login_required
def keep_alive() -> ResponseReturnValue:
    """Pinged by long-lived pages (the register) while open and visible: the idle clock restarts (in
    enforce_session_timeouts); the 10-hour absolute limit still applies."""
    return "", 204


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> ResponseReturnValue:
    sign_out(current_user)
    logout_user()
    session.clear()
    flash("You have signed out.", "success")
    # HMPPS Auth ends its own session too, then sends the browser back to our sign-in page.
    response = redirect(hmpps.sign_out_url(url_for("auth.login", _external=True)))
    # Everything the site stored on the device goes, unless register changes are still waiting on it to be sent
    # (the person chose to keep theirs, or someone else's are there): offline.js has then deleted this person's
    # copies of registers itself, and keeps the waiting changes (issue 17).
    keep = request.form.get("keep_waiting_changes") == "y"
    response.headers["Clear-Site-Data"] = '"cache"' if keep else '"storage"'
    return response
