"""Programme template versions for admins (issue 15.10). Versions are published with `flask programme publish`;
this page shows them: which one new groups get, from when, and how many groups use each."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from app import clock
from app.services import programme_publish
from app.web.access import roles

bp = Blueprint("programmes", __name__, url_prefix="/admin/programmes")
NAV = [(80, "Programmes", "programmes.index", ("admin",))]


@bp.route("")
@roles("admin")
def index() -> ResponseReturnValue:
    return render_template("programmes/index.html", versions=programme_publish.versions(), today=clock.today())
