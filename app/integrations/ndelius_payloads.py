"""The nDelius Appointments API's payloads (HMPPS.md §4), pure: references, create and update items, and the
schedule of an appointment returned by search.

On the wire ``reference`` is the bare UUID (``CreateAppointmentRequest.reference: UUID``): nDelius itself stores
``urn:uk:gov:hmpps:accredited-programmes:appointment:<uuid>`` as the contact's external reference and search
answers with its last 36 characters, i.e. the UUID again. ``appointment_reference`` gives that URN for display
and logs.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from datetime import time as dtime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

REFERENCE_PREFIX = "urn:uk:gov:hmpps:accredited-programmes:appointment:"
LONDON = ZoneInfo("Europe/London")

PROGRAMME_ATTENDANCE = "PROGRAMME_ATTENDANCE"
APPOINTMENT_TYPES = {
    "pre_group": "PRE_GROUP_ONE_TO_ONE_MEETING",
    "post_programme": "THREE_WAY_MEETING",
}
UPDATE_FIELDS = (
    "reference",
    "date",
    "startTime",
    "endTime",
    "outcome",
    "location",
    "staff",
    "team",
    "notes",
    "sensitive",
)

def appointment_reference(reference_uuid: UUID | str) -> str:
    """The URN nDelius keeps: ``urn:uk:gov:hmpps:accredited-programmes:appointment:<uuid>``."""
    return REFERENCE_PREFIX + bare_reference(reference_uuid)


def bare_reference(reference: UUID | str) -> str:
    """The canonical UUID string of a reference given as a UUID, a UUID string or our URN."""
    text = str(reference)
    text = text.removeprefix(REFERENCE_PREFIX)
    try:
        return str(UUID(text))
    except ValueError:
        raise ValueError(
            f"not an appointment reference (UUID or {REFERENCE_PREFIX}<uuid>): {reference!r}"
        ) from None


def _london_wall_clock(value: datetime, name: str) -> datetime:
    if value.tzinfo is not None:
        return value.astimezone(LONDON).replace(tzinfo=None)
    round_trip = value.replace(tzinfo=LONDON).astimezone(UTC).astimezone(LONDON).replace(tzinfo=None)
    if round_trip != value:
        raise ValueError(
            f"{name} {value:%Y-%m-%d %H:%M} does not exist in Europe/London (the clocks go forward)"
        )
    return value


def _hhmm(value: datetime) -> str:
    return value.strftime("%H:%M" if value.second == 0 else "%H:%M:%S")


def build_appointment(
    *,
    reference_uuid: UUID | str,
    requirement_id: int | None = None,
    licence_condition_id: int | None = None,
    starts_at: datetime,
    ends_at: datetime,
    module_role: str | None,
    staff_code: str,
    team_code: str,
    location_code: str | None = None,
    outcome_code: str | None = None,
    notes: str | None = None,
    sensitive: bool = False,
) -> dict[str, Any]:
    """One item of ``POST /appointments`` (``update_item`` projects it onto ``PUT``).

    ``starts_at``/``ends_at`` are Europe/London wall-clock times (naive; aware values are converted). nDelius
    appends ``notes`` on every update, so pass notes only when they changed.
    """
    if (requirement_id is None) == (licence_condition_id is None):
        raise ValueError("exactly one of requirement_id and licence_condition_id must be given")
    component_id = requirement_id if requirement_id is not None else licence_condition_id
    if isinstance(component_id, bool) or not isinstance(component_id, int):
        raise ValueError(f"requirement/licence condition id must be an integer, got {component_id!r}")  # noqa: TRY004
    for name, code in (("staff_code", staff_code), ("team_code", team_code)):
        if not isinstance(code, str) or not code.strip():
            raise ValueError(f"{name} is required")
    start = _london_wall_clock(starts_at, "starts_at")
    end = _london_wall_clock(ends_at, "ends_at")
    if end <= start:
        raise ValueError("ends_at must be after starts_at")
    if end.date() != start.date():
        raise ValueError("an appointment must start and end on the same day")

    item: dict[str, Any] = {"reference": bare_reference(reference_uuid)}
    if requirement_id is not None:
        item["requirementId"] = requirement_id
    else:
        item["licenceConditionId"] = licence_condition_id
    item.update(
        {
            "date": start.date().isoformat(),
            "startTime": _hhmm(start),
            "endTime": _hhmm(end),
            "staff": {"code": staff_code},
            "team": {"code": team_code},
            "sensitive": bool(sensitive),
            "type": APPOINTMENT_TYPES.get(module_role or "", PROGRAMME_ATTENDANCE),
        }
    )
    if location_code is not None:
        item["location"] = {"code": location_code}
    if outcome_code is not None:
        item["outcome"] = {"code": outcome_code}
    if notes is not None:
        item["notes"] = notes
    return item


def update_item(appointment: dict[str, Any]) -> dict[str, Any]:
    """The ``PUT /appointments`` item for an appointment payload (drops requirement/licence id and type)."""
    item = {key: appointment[key] for key in UPDATE_FIELDS if key in appointment}
    item["reference"] = bare_reference(appointment["reference"])
    return item


def local_schedule(found: dict[str, Any]) -> tuple[date, dtime | None, dtime | None]:
    """Date, start and end (Europe/London wall clock) of an appointment returned by search."""

    def wall(value: str | None) -> dtime | None:
        if not value:
            return None
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is not None:
            moment = moment.astimezone(LONDON)
        return moment.time().replace(tzinfo=None)

    return date.fromisoformat(found["date"]), wall(found.get("startTime")), wall(found.get("endTime"))

