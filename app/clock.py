"""The service's clock. Sessions live in Europe/London wall-clock time; tests move the clock with `freeze`.

A pinned clock is shared with other processes through the file named by ``CLOCK_PIN_FILE`` (tests only: the
test suite sets it, so the RQ worker, schedulers and web servers it starts see the same "now" as the test).
Production never sets it, and then the clock is the real one."""
from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
PIN_FILE_VARIABLE = "CLOCK_PIN_FILE"
_frozen: datetime | None = None


def now_local() -> datetime:
    """Now as a naive Europe/London wall-clock datetime (the form session times are stored in)."""
    if _frozen is not None:
        return _frozen
    pinned = _pinned_by_another_process()
    if pinned is not None:
        return pinned
    return datetime.now(UTC).astimezone(LONDON).replace(tzinfo=None, microsecond=0)


def today() -> date:
    return now_local().date()


def now_aware() -> datetime:
    """Now as an aware Europe/London datetime (for a browser's clock, or anything that needs the offset)."""
    return now_local().replace(tzinfo=LONDON)


def freeze(at: datetime | None) -> None:
    """Pin the clock (tests and the planning command's --now); None unpins. With ``CLOCK_PIN_FILE`` set, the
    processes that share that file are pinned (or unpinned) too."""
    global _frozen
    _frozen = at
    path = os.environ.get(PIN_FILE_VARIABLE)
    if path:
        pin = Path(path)
        if at is None:
            pin.unlink(missing_ok=True)
        else:
            partial = pin.with_name(pin.name + ".partial")
            partial.write_text(at.isoformat())
            partial.replace(pin)  # atomic: a reader sees the old time or the new one, never half a line
    for listener in list(_listeners):  # noqa: PERF101 (a listener may unsubscribe itself meanwhile)
        listener(at)


_listeners: list[Callable[[datetime | None], None]] = []


def on_freeze(listener: Callable[[datetime | None], None]) -> None:
    """Call ``listener(at)`` whenever the clock is pinned or unpinned (tests: keep a browser's clock in step)."""
    _listeners.append(listener)


def forget_listener(listener: Callable[[datetime | None], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def _pinned_by_another_process() -> datetime | None:
    path = os.environ.get(PIN_FILE_VARIABLE)
    if not path:
        return None
    try:
        text = Path(path).read_text().strip()
    except FileNotFoundError:
        return None
    return datetime.fromisoformat(text) if text else None
