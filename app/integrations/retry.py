"""Retry a call with full-jitter exponential backoff (AWS "Exponential Backoff And Jitter").

Only ``TransientError`` is retried. The wait before retry *n* (0-based) is ``uniform(0, min(cap, base *
2**n))``, raised to the server's ``Retry-After`` when it sent one. A Retry-After longer than ``cap`` is not
slept through in-process: the error is raised at once so the caller (the outbox) can schedule the next attempt
using ``error.retry_after``.

``AmbiguousResult`` is not retried unless ``retry_ambiguous=True``: after a lost answer to a create, sending
the same create again may make a second appointment (nDelius has no unique check on the reference), so the
caller must search first (see ``NDeliusClient.create_if_absent``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from app.integrations.errors import AmbiguousResult, TransientError

T = TypeVar("T")


def backoff_delay(
    retry_number: int, *, base: float, cap: float, rng: Callable[[], float] = random.random
) -> float:
    """Full jitter: a uniformly random wait in ``[0, min(cap, base * 2**retry_number)]``."""
    return rng() * min(cap, base * (2**retry_number))


def retry_call(
    fn: Callable[[], T],
    *,
    attempts: int = 4,
    base: float = 0.5,
    cap: float = 8,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
    retry_ambiguous: bool = False,
    on_retry: Callable[[int, TransientError, float], None] | None = None,
) -> T:
    """Call ``fn`` up to ``attempts`` times; return its result or raise the last error.

    ``on_retry(attempt_number, error, delay)`` is called before each sleep (for logs and metrics).
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for attempt in range(attempts):
        try:
            return fn()
        except TransientError as error:
            if isinstance(error, AmbiguousResult) and not retry_ambiguous:
                raise
            if attempt == attempts - 1:
                raise
            delay = backoff_delay(attempt, base=base, cap=cap, rng=rng)
            if error.retry_after is not None:
                if error.retry_after > cap:
                    raise
                delay = max(delay, error.retry_after)
            if on_retry is not None:
                on_retry(attempt + 1, error, delay)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
