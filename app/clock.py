"""The service's clock. Sessions live in Europe/London wall-clock time; tests move the clock with `freeze`."""
from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
_frozen: datetime | None = None


def now_local() -> datetime:
    """Now as a naive Europe/London wall-clock datetime (the form session times are stored in)."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC).astimezone(LONDON).replace(tzinfo=None, microsecond=0)


def today() -> date:
    return now_local().date()


def freeze(at: datetime | None) -> None:
    """Pin the clock (tests and the planning command's --now); None unpins."""
    global _frozen
    _frozen = at
