from __future__ import annotations

import time

from flask import Blueprint, flash, make_response, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select
from werkzeug.security import check_password_hash

from app.extensions import db, login_manager
from app.models import User
from app.web.auth.forms import SignInForm

bp = Blueprint("auth", __name__)
IDLE_TIMEOUT_SECONDS = 30 * 60
ABSOLUTE_TIMEOUT_SECONDS = 10 * 60 * 60


@bp.before_app_request
def enforce_session_timeouts():  # type: ignore[no-untyped-def]
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
        target = url_for("auth.login")
        if request.headers.get("HX-Request") == "true":
            response = make_response("", 401)
            response.headers["HX-Redirect"] = target
            return response
        return redirect(target)
    session["last_seen"] = int(now)
    return None


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The cookie carries `id:session_version`; signing out bumps the version, so an old cookie is dead."""
    try:
        uid, version = (int(part) for part in user_id.split(":"))
    except ValueError:
        return None
    user = db.session.get(User, uid)
    if user is None or user.session_version != version or not user.active:
        return None
    return user


@bp.route("/")
def index():  # type: ignore[no-untyped-def]
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(url_for("groups.index"))


@bp.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    form = SignInForm()
    if form.validate_on_submit():
        user = db.session.scalar(select(User).filter_by(username=form.username.data.strip().lower()))
        if user and user.active and check_password_hash(user.password_hash, form.password.data):
            session.clear()  # a new session at sign-in
            login_user(user)
            session["signed_in_at"] = session["last_seen"] = int(time.time())
            return redirect(url_for("auth.index"))
        form.password.errors.append("The username or password is not right")
    return render_template("auth/login.html", form=form)


@bp.route("/keep-alive", methods=["POST"])
@login_required
def keep_alive():  # type: ignore[no-untyped-def]
    """Pinged by long-lived pages (the register) while open and visible: the idle clock restarts (in
    enforce_session_timeouts); the 10-hour absolute limit still applies."""
    return "", 204


@bp.route("/logout", methods=["POST"])
@login_required
def logout():  # type: ignore[no-untyped-def]
    current_user.session_version += 1
    db.session.commit()
    logout_user()
    session.clear()
    flash("You have signed out.", "success")
    response = redirect(url_for("auth.login"))
    # Everything the site stored on the device goes, unless register changes are still waiting on it to be sent
    # (the person chose to keep theirs, or someone else's are there): offline.js has then deleted this person's
    # copies of registers itself, and keeps the waiting changes (issue 17).
    keep = request.form.get("keep_waiting_changes") == "y"
    response.headers["Clear-Site-Data"] = '"cache"' if keep else '"storage"'
    return response
