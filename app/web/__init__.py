"""Blueprints: one package per feature. A route parses, authorises, calls one service, renders."""
from __future__ import annotations

from flask import Flask, render_template


def register_blueprints(app: Flask) -> None:
    from app.web.auth.routes import bp as auth
    from app.web.groups.routes import bp as groups
    from app.web.health.routes import bp as health
    from app.web.operations.routes import bp as operations

    for bp in (auth, groups, operations, health):
        app.register_blueprint(bp)
    app.context_processor(navigation)

    @app.errorhandler(404)
    def not_found(_e):  # type: ignore[no-untyped-def]
        return render_template("errors/404.html"), 404

    @app.errorhandler(403)
    def forbidden(_e):  # type: ignore[no-untyped-def]
        return render_template("errors/403.html"), 403

    @app.errorhandler(500)
    def server_error(_e):  # type: ignore[no-untyped-def]
        return render_template("errors/500.html"), 500


def navigation() -> dict:
    """The service navigation for the signed-in user's role."""
    from flask import request, url_for
    from flask_login import current_user

    if not current_user.is_authenticated:
        return {}
    items = [("Groups", url_for("groups.index"))]
    return {"nav_items": [(label, url, request.path.startswith(url)) for label, url in items]}
