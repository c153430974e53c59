"""Probes, as in HMPPS services (Spring Boot actuator at the root): `/health` (public: up or down only; its
components for signed-in admins), `/health/ping` (the process answers; nothing else is checked) and `/info`
(what is deployed: version and git commit)."""
from __future__ import annotations

# One fixed git command, without a shell or any input from a request:
import subprocess  # nosec B404
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from flask_login import current_user

from app.services import health as health_service
from jobs.enqueue import queue

bp = Blueprint("health", __name__)
APP_NAME = "programme-delivery"
ROOT = Path(__file__).resolve().parents[3]


@bp.route("/health")
def health() -> ResponseReturnValue:
    """200 {"status": "UP"} when the database and Redis answer, else 503 {"status": "DOWN"}. Anyone sees only
    that; a signed-in admin also sees each component (what they are, how many workers, the queue's length)."""
    checks = health_service.components(queue())
    up = checks["db"]["status"] == "UP" and checks["redis"]["status"] == "UP"
    body: dict[str, Any] = {"status": "UP" if up else "DOWN"}
    if current_user.is_authenticated and current_user.role == "admin":
        body["components"] = checks
    return jsonify(body), (200 if up else 503)


@bp.route("/health/ping")
def ping() -> ResponseReturnValue:
    """The process is up and serving (a liveness probe: checks nothing else, so a database outage does not get
    every web server restarted)."""
    return jsonify(status="UP")


@bp.route("/info")
def info() -> ResponseReturnValue:
    """What is running: the build's version and git commit (BUILD_VERSION / GIT_REF, set by the deployment; a
    checkout reports its package version and HEAD)."""
    version = current_app.config.get("BUILD_VERSION") or _package_version()
    sha = current_app.config.get("GIT_REF") or _checkout_sha()
    return jsonify(build={"name": APP_NAME, "version": version}, git={"commit": {"id": sha}})


@cache
def _package_version() -> str:
    try:
        return metadata.version(APP_NAME)
    except metadata.PackageNotFoundError:
        return "unknown"


@cache
def _checkout_sha() -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,  # nosec B603 B607
                              text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"
