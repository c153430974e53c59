"""The case reads of the accredited-programmes-and-delius API (HMPPS.md §4 "Other reads", §8): a person's
details, their requirements and licence conditions, and whether a user may see them (LAO). HTTP only.

Same client, token and error classes as the Appointments API (``app.integrations.ndelius``): a 404 is
``NotFoundError``, timeouts and 5xx are ``TransientError``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

from app.integrations.errors import NDeliusError
from app.integrations.ndelius import NDeliusClient

MAX_ACCESS_CRNS = 500


@dataclass(frozen=True)
class Access:
    """May this user see this person? (``userRestricted``: only named staff may; ``userExcluded``: this user is
    named as one who may not)."""

    crn: str
    excluded: bool
    restricted: bool
    message: str | None = None

    @property
    def allowed(self) -> bool:
        return not (self.excluded or self.restricted)


@dataclass(frozen=True)
class Component:
    """A requirement or licence condition as nDelius has it now."""

    id: int
    event_number: int | None
    sentence_end_date: date | None
    terminated_on: date | None


@dataclass(frozen=True)
class Case:
    crn: str
    name: str
    date_of_birth: date | None
    sex: str | None  # "male" | "female"
    region_code: str | None
    requirements: tuple[Component, ...]
    licence_conditions: tuple[Component, ...]


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _components(items: Any) -> tuple[Component, ...]:
    found = []
    for item in items or []:
        if isinstance(item, dict) and item.get("id") is not None:
            number = str(item.get("eventNumber") or "")
            found.append(Component(int(item["id"]), int(number) if number.isdigit() else None,
                                   _date(item.get("sentenceEndDate")), _date(item.get("terminationDate"))))
    return tuple(found)


class ProbationCasesClient(NDeliusClient):
    def _get(self, path: str) -> Any:
        response = self._call("GET", path, None, write=False)  # type: ignore[arg-type]
        try:
            return response.json()
        except ValueError as exc:
            raise NDeliusError(f"GET {path}: the answer is not JSON") from exc

    def case(self, crn: str) -> Case:
        """Personal details, requirements and licence conditions (three reads)."""
        crn_path = quote(crn, safe="")
        details = self._get(f"/case/{crn_path}/personal-details")
        requirements = self._get(f"/case/{crn_path}/requirements")
        licence_conditions = self._get(f"/case/{crn_path}/licence-conditions")
        name = details.get("name") or {}
        full_name = " ".join(p for p in (name.get("forename"), name.get("middleNames"), name.get("surname")) if p)
        sex_code = ((details.get("sex") or {}).get("code") or "").upper()
        return Case(
            crn=crn, name=full_name, date_of_birth=_date(details.get("dateOfBirth")),
            sex={"M": "male", "F": "female"}.get(sex_code), region_code=(details.get("region") or {}).get("code"),
            requirements=_components(requirements.get("requirements")),
            licence_conditions=_components(licence_conditions.get("licenceConditions")),
        )

    def access(self, username: str, crns: list[str]) -> dict[str, Access]:
        """``POST /user/{username}/access`` for up to 500 CRNs at once; a CRN nDelius does not answer for is
        treated as restricted (never shown without a check)."""
        if not crns:
            return {}
        if len(crns) > MAX_ACCESS_CRNS:
            raise ValueError(f"at most {MAX_ACCESS_CRNS} CRNs per access check")
        response = self._call("POST", f"/user/{quote(username, safe='')}/access", crns,  # type: ignore[arg-type]
                              write=False)
        try:
            answers = response.json().get("access", [])
        except (ValueError, AttributeError) as exc:
            raise NDeliusError("access check: the answer is not the expected JSON") from exc
        found: dict[str, Access] = {}
        for item in answers:
            if isinstance(item, dict) and item.get("crn") in crns:
                found[item["crn"]] = Access(
                    item["crn"], bool(item.get("userExcluded")), bool(item.get("userRestricted")),
                    item.get("exclusionMessage") if item.get("userExcluded") else item.get("restrictionMessage"))
        for crn in crns:
            found.setdefault(crn, Access(crn, False, True, "nDelius did not say whether you may see this person"))
        return found


def cases_client(config: Any) -> ProbationCasesClient:
    return ProbationCasesClient(
        config["NDELIUS_URL"], config["HMPPS_AUTH_URL"].rstrip("/") + "/oauth/token", config["NDELIUS_CLIENT_ID"],
        config["NDELIUS_CLIENT_SECRET"], connect_timeout=config.get("NDELIUS_CONNECT_TIMEOUT", 3.05),
        read_timeout=min(10.0, config.get("NDELIUS_READ_TIMEOUT", 10)))
