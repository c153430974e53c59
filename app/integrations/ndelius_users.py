"""Who a member of staff is in nDelius: ``GET {NDELIUS_URL}/user/{username}/teams`` on the integration API, with
the service's client-credentials token from HMPPS Auth. The answer:

    {"username": "tm.nw", "staffCode": "NW001",
     "teams": [{"code": "NWTM1", "description": "…", "region": {"code": "NW", "description": "North West"}}]}

Sign-in takes the person's region from the first team whose region uses this service."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import requests
from flask import current_app

from app.integrations.hmpps_auth import AuthUnavailable, service_token


class NDeliusUnavailable(Exception):
    """nDelius could not be reached or did not answer usefully."""


@dataclass(frozen=True)
class Team:
    code: str
    description: str
    region_code: str
    region_name: str


@dataclass(frozen=True)
class StaffTeams:
    staff_code: str | None
    teams: tuple[Team, ...]


def user_teams(username: str) -> StaffTeams | None:
    """The person's teams, or None when nDelius does not know the username."""
    url = _url(f"/user/{quote(username, safe='')}/teams")
    response = _get(url)
    if response is None:
        return None
    try:
        body = response.json()
        teams = tuple(Team(str(t["code"]), str(t.get("description") or ""), str(t["region"]["code"]),
                           str(t["region"].get("description") or "")) for t in body.get("teams") or [])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise NDeliusUnavailable(f"GET {url}: the answer is not a list of teams") from exc
    return StaffTeams(body.get("staffCode"), teams)


@dataclass(frozen=True)
class Member:
    staff_code: str
    name: str
    team_code: str
    team_name: str


def region_members(region_code: str) -> list[Member] | None:
    """The region's staff, one entry per person and team (``GET {NDELIUS_URL}/regions/{code}/members``:
    ``{"code", "description", "pdus": [{"code", "description", "team": [{"code", "description",
    "members": [{"code", "name": {"forename", "surname"}}]}]}]}``), or None when nDelius does not know the region."""
    url = _url(f"/regions/{quote(region_code, safe='')}/members")
    response = _get(url)
    if response is None:
        return None
    try:
        members = []
        for pdu in response.json().get("pdus") or []:
            for team in pdu.get("team") or []:
                for member in team.get("members") or []:
                    name = member.get("name") or {}
                    full = " ".join(part for part in (name.get("forename"), name.get("middleName"),
                                                      name.get("surname")) if part)
                    members.append(Member(str(member["code"]), full or str(member["code"]), str(team["code"]),
                                          str(team.get("description") or "")))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise NDeliusUnavailable(f"GET {url}: the answer is not a region's teams and members") from exc
    return members


def _url(path: str) -> str:
    return str(current_app.config["NDELIUS_URL"]).rstrip("/") + path


def _get(url: str) -> requests.Response | None:
    """nDelius's answer to a GET with our client-credentials token; None for 404 (it does not know the thing),
    NDeliusUnavailable when it cannot be reached or answers anything but 200."""
    try:
        response = service_token().get(url, headers={"Accept": "application/json"})
    except (requests.RequestException, AuthUnavailable) as exc:
        raise NDeliusUnavailable(f"GET {url}: {type(exc).__name__}: {exc}") from exc
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise NDeliusUnavailable(f"GET {url}: HTTP {response.status_code}")
    return response
