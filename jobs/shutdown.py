"""Long-running processes (the domain event listener, the scheduler) end cleanly on SIGTERM or SIGINT: the
signal only sets a flag, and the process's loop checks it between rounds, so no round is cut off half-way."""
from __future__ import annotations

import signal
from collections.abc import Callable


def stop_requested() -> Callable[[], bool]:
    """Handle SIGTERM and SIGINT from now on; the answer says whether either has come."""
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return lambda: stopping
