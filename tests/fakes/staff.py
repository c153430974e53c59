"""A member of staff as the systems we do not run know them: an account in the fake HMPPS Auth (name,
authorities) and their teams in the fake nDelius (region, staff code). Registered over the wire through the
fakes' control endpoints, so it works the same whether a fake runs in the test process or in `make run`.

    register_staff(auth_url, ndelius_url, username="tm.nw", name="Terry Walker", role="treatment_manager",
                   region_code="NW", region_name="North West")
"""
from __future__ import annotations

import requests

from app.models.user import AUTHORITY_BY_ROLE

_http = requests.Session()  # keep-alive to the fakes


def authorities_for(role: str | None) -> list[str]:
    return [AUTHORITY_BY_ROLE[role]] if role else []


def register_staff(auth_url: str | None, ndelius_url: str | None, *, username: str, name: str, role: str | None,
                   region_code: str | None, region_name: str = "", staff_code: str | None = None,
                   authorities: list[str] | None = None, enabled: bool = True,
                   teams: list[dict[str, object]] | None = None) -> None:
    """`authorities` replaces the one the role gives; `teams` replaces the one team in `region_code`."""
    if auth_url:
        account = {"username": username, "name": name, "enabled": enabled,
                   "authorities": authorities if authorities is not None else authorities_for(role)}
        _http.post(auth_url.rstrip("/") + "/__users", json={"users": [account]}, timeout=5).raise_for_status()
    if ndelius_url:
        if teams is None:
            teams = [{"code": f"{region_code}T01", "description": f"{region_name or region_code} team",
                      "region": {"code": region_code, "description": region_name}}] if region_code else []
        staff = {"username": username, "name": name, "staffCode": staff_code, "teams": teams}
        _http.post(ndelius_url.rstrip("/") + "/__staff", json={"users": [staff]}, timeout=5).raise_for_status()


def register_facilitators(ndelius_url: str) -> int:
    """`make run`: every facilitator the database holds (the demo seed's) becomes nDelius staff in the fake nDelius,
    so the scheduler's staff refresh (GET /regions/{code}/members) finds them there. Needs an app context."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Facilitator, Region

    rows = db.session.execute(select(Facilitator, Region).join(Region, Region.id == Facilitator.region_id)
                              .order_by(Facilitator.staff_code)).all()
    users = [{"username": f"staff.{f.staff_code.lower()}", "name": f.name, "staffCode": f.staff_code,
              "teams": [{"code": f.team_code, "description": f"{region.name} programmes team",
                         "region": {"code": region.code, "description": region.name}}]} for f, region in rows]
    if users:
        _http.post(ndelius_url.rstrip("/") + "/__staff", json={"users": users}, timeout=5).raise_for_status()
    return len(users)


if __name__ == "__main__":  # python -m tests.fakes.staff NDELIUS_URL (make run, after the demo seed)
    import sys

    from app import create_app

    with create_app().app_context():
        print(f"fake nDelius: {register_facilitators(sys.argv[1])} staff registered", flush=True)
