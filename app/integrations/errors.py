"""How a call to nDelius failed, sorted by what the caller should do next.

* ``TransientError`` - try again later (timeouts, connection failures, 429/502/503/504).
* ``AmbiguousResult`` - a write was sent but no answer came back: nDelius may have applied it.
  Find out (search by reference) before sending a create again.
* ``PermanentError`` - the request itself is wrong or refused (400/401/403/404/409/422, other statuses);
  sending it again gives the same answer, so a person has to look at it.
* ``NotSent`` - the request was not sent at all, because its answer could not arrive before the caller's
  deadline (a relay's lease, a time budget). Nothing happened in nDelius; nDelius is not to blame (the circuit
  breaker counts it neither way).
"""

from __future__ import annotations

from typing import Any


class NDeliusError(Exception):
    """Base class; ``status`` is the HTTP status when there was a response."""

    def __init__(self, message: str, *, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body

    def __str__(self) -> str:
        return f"HTTP {self.status}: {self.message}" if self.status is not None else self.message


class TransientError(NDeliusError):
    """Worth retrying. ``retry_after`` is the server's Retry-After in seconds, when it sent one."""

    def __init__(
        self, message: str, *, status: int | None = None, body: Any = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status, body=body)
        self.retry_after = retry_after


class AmbiguousResult(TransientError):
    """The request reached nDelius (or may have) and the answer was lost: the write may have happened."""


class CircuitOpenError(TransientError):
    """Not sent at all: the circuit breaker is open. ``retry_after`` says when a trial call is allowed."""


class PermanentError(NDeliusError):
    """Retrying the same request cannot help."""

    @property
    def terminated_requirement(self) -> bool:
        """nDelius answers 400 "Invalid Requirement IDs" when the requirement was terminated or never
        existed."""
        return self.status == 400 and "invalid requirement ids" in self.message.lower()


class NotFoundError(PermanentError):
    """404: nDelius does not know the reference (or a staff/team/location/outcome code)."""


class ClashError(PermanentError):
    """409: a business conflict (e.g. the appointment clashes with another). Not retried."""


class NotSent(NDeliusError):
    """The call was not made: it could not be answered (within the client's timeouts) before the deadline."""
