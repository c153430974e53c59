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
        staff = {"username": username, "staffCode": staff_code, "teams": teams}
        _http.post(ndelius_url.rstrip("/") + "/__staff", json={"users": [staff]}, timeout=5).raise_for_status()
