"""Client for the nDelius Appointments API (accredited-programmes-and-delius, HMPPS.md §4); the payloads it
takes are built in ``app.integrations.ndelius_payloads`` (re-exported here). Every method also accepts our URN
as a reference and sends the bare UUID.

Every call has an explicit (connect, read) timeout. Errors are sorted by what the caller can do next - see
``app.integrations.errors``. A lost answer to a write raises ``AmbiguousResult``: the change may have been
made.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from uuid import UUID

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from app.integrations.circuit_breaker import RedisCircuitBreaker
from app.integrations.errors import (
    AmbiguousResult,
    CircuitOpenError,
    ClashError,
    NDeliusError,
    NotFoundError,
    NotSent,
    PermanentError,
    TransientError,
)
from app.integrations.ndelius_payloads import (
    REFERENCE_PREFIX,
    appointment_reference,
    bare_reference,
    build_appointment,
    local_schedule,
    update_item,
)
from app.integrations.retry import backoff_delay, retry_call

__all__ = [
    "REFERENCE_PREFIX",
    "AmbiguousResult",
    "CircuitOpenError",
    "ClashError",
    "NDeliusClient",
    "NDeliusError",
    "NotFoundError",
    "NotSent",
    "PermanentError",
    "RedisCircuitBreaker",
    "TransientError",
    "appointment_reference",
    "backoff_delay",
    "bare_reference",
    "build_appointment",
    "local_schedule",
    "parse_retry_after",
    "retry_call",
    "update_item",
]

log = logging.getLogger(__name__)

MAX_SEARCH_IDS = 500  # GetAppointmentsRequest: @Size(max = 500) on each id list

TRANSIENT_STATUSES = {408, 429, 502, 503, 504}
# A gateway that timed out or got a bad answer may have passed the write on: the result is unknown.
AMBIGUOUS_WRITE_STATUSES = {502, 504}


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# --- the client --------------------------------------------------------------------------------------------


def _reached_server(exc: requests.RequestException) -> bool:
    """False only when we know the request never left: no connection was made."""
    if isinstance(
        exc,
        (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError, requests.exceptions.ProxyError),
    ):
        return False
    if isinstance(exc, requests.exceptions.Timeout):
        return True
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return not isinstance(reason, (NewConnectionError, ConnectTimeoutError))


def _server_message(response: requests.Response) -> tuple[str, Any]:
    try:
        body = response.json()
    except ValueError:
        text = response.text[:2000]
        return (text.strip() or response.reason or f"HTTP {response.status_code}"), text
    if isinstance(body, dict):
        for key in ("message", "userMessage", "developerMessage", "error_description", "error"):
            if isinstance(body.get(key), str) and body[key]:
                return body[key], body
    return (response.reason or f"HTTP {response.status_code}"), body


class NDeliusClient:
    """One ``requests.Session``; the OAuth2 client-credentials token is cached until shortly before it expires
    and fetched again once when nDelius answers 401."""

    def __init__(
        self,
        base_url: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        connect_timeout: float = 3.05,
        read_timeout: float = 10,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.session = session if session is not None else requests.Session()
        self.clock = clock
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._token_lock = threading.Lock()
        self.calls = 0  # requests sent to nDelius (token requests not counted)
        self._calls_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"NDeliusClient({self.base_url!r}, client_id={self.client_id!r})"

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)

    def close(self) -> None:
        self.session.close()

    @property
    def call_seconds(self) -> float:
        """The longest one request can take before we give up on its answer (connect + read timeouts)."""
        return self.connect_timeout + self.read_timeout

    # writes -------------------------------------------------------------------------------------------------
    # Each takes an array (the API's own unit: nDelius applies a request whole or not at all) and an optional
    # ``deadline`` (``time.monotonic()``): a request whose answer could not arrive by then is not sent at all
    # (``NotSent``), so a caller whose lease ends at the deadline never has a write land after it.
    def create(self, appointments: Iterable[dict[str, Any]], *, deadline: float | None = None) -> None:
        """``POST /appointments`` (201). An empty list sends nothing."""
        items = [{**item, "reference": bare_reference(item["reference"])} for item in appointments]
        if items:
            self._call("POST", "/appointments", {"appointments": items}, write=True, deadline=deadline)

    def update(self, appointments: Iterable[dict[str, Any]], *, deadline: float | None = None) -> None:
        """``PUT /appointments`` (204); takes update items or full create payloads (see ``update_item``)."""
        items = [update_item(item) for item in appointments]
        if items:
            self._call("PUT", "/appointments", {"appointments": items}, write=True, deadline=deadline)

    def delete(self, references: Iterable[UUID | str], *, deadline: float | None = None) -> None:
        """``DELETE /appointments`` (204). An unknown reference raises ``NotFoundError``."""
        items = [{"reference": bare_reference(reference)} for reference in references]
        if items:
            self._call("DELETE", "/appointments", {"appointments": items}, write=True, deadline=deadline)

    # reads --------------------------------------------------------------------------------------------------
    def search(
        self,
        requirement_ids: Iterable[int],
        licence_condition_ids: Iterable[int],
        from_date: date | str,
        to_date: date | str,
        *,
        deadline: float | None = None,
    ) -> list[dict[str, Any]]:
        """``POST /appointments/search``, flattened: one dict per appointment, each with its ``crn``.

        Ids are sent at most 500 per list per request; with no ids at all nothing is sent.
        """
        requirements = list(dict.fromkeys(int(i) for i in requirement_ids))
        licence_conditions = list(dict.fromkeys(int(i) for i in licence_condition_ids))
        start, end = _as_date(from_date), _as_date(to_date)
        if end < start:
            raise ValueError("to_date cannot be before from_date")
        found: list[dict[str, Any]] = []
        for offset in range(0, max(len(requirements), len(licence_conditions)), MAX_SEARCH_IDS):
            body = {
                "requirementIds": requirements[offset : offset + MAX_SEARCH_IDS],
                "licenceConditionIds": licence_conditions[offset : offset + MAX_SEARCH_IDS],
                "fromDate": start.isoformat(),
                "toDate": end.isoformat(),
            }
            response = self._call("POST", "/appointments/search", body, write=False, deadline=deadline)
            found.extend(_flatten_search(response))
        found.sort(key=lambda a: (a.get("crn") or "", a.get("date") or "", a.get("startTime") or ""))
        return found

    def find(
        self,
        reference: UUID | str,
        *,
        requirement_id: int | None = None,
        licence_condition_id: int | None = None,
        from_date: date | str,
        to_date: date | str | None = None,
    ) -> dict[str, Any] | None:
        """The appointment with this reference on the component between the dates, or None."""
        wanted = bare_reference(reference)
        matches = [
            a
            for a in self.search(
                [requirement_id] if requirement_id is not None else [],
                [licence_condition_id] if licence_condition_id is not None else [],
                from_date,
                to_date if to_date is not None else from_date,
            )
            if a.get("reference") and bare_reference(a["reference"]) == wanted
        ]
        return matches[0] if matches else None

    def create_if_absent(self, appointment: dict[str, Any]) -> bool:
        """Create unless nDelius already has the reference on that day; True when a create was sent.

        The safe follow-up to an ``AmbiguousResult`` from ``create`` (nDelius does not reject a repeated
        reference).
        """
        existing = self.find(
            appointment["reference"],
            requirement_id=appointment.get("requirementId"),
            licence_condition_id=appointment.get("licenceConditionId"),
            from_date=appointment["date"],
        )
        if existing is not None:
            return False
        self.create([appointment])
        return True

    # plumbing -----------------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: dict[str, Any], *, write: bool,
              deadline: float | None = None) -> requests.Response:
        where = f"{method} {path}"
        for attempt in range(2):
            token = self._bearer()
            if deadline is not None and time.monotonic() + self.call_seconds > deadline:
                raise NotSent(f"{where} not sent: its answer could not arrive before the deadline")
            with self._calls_lock:
                self.calls += 1
            started = time.monotonic()
            try:
                response = self.session.request(
                    method,
                    self.base_url + path,
                    json=body,
                    timeout=self.timeout,
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                )
            except (
                requests.exceptions.InvalidURL,
                requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema,
                requests.exceptions.InvalidHeader,
            ) as exc:
                raise NDeliusError(f"{where}: bad client configuration: {exc}") from exc
            except requests.RequestException as exc:
                raise self._transport_error(exc, where, write) from exc
            log.debug(
                "ndelius %s -> %s in %.0f ms",
                where,
                response.status_code,
                (time.monotonic() - started) * 1000,
            )
            if response.status_code == 401 and attempt == 0:
                self._forget_token(token)
                continue
            return self._check(response, write)
        raise AssertionError("unreachable")  # pragma: no cover

    def _transport_error(self, exc: requests.RequestException, where: str, write: bool) -> TransientError:
        if not _reached_server(exc):
            return TransientError(f"{where}: could not connect to nDelius ({type(exc).__name__}: {exc})")
        if isinstance(exc, requests.exceptions.Timeout):
            what = f"no answer within {self.read_timeout}s"
        else:
            what = f"connection lost before the answer ({type(exc).__name__})"
        if write:
            return AmbiguousResult(f"{where}: {what}; the change may have been applied")
        return TransientError(f"{where}: {what}")

    @staticmethod
    def _check(response: requests.Response, write: bool) -> requests.Response:
        status = response.status_code
        if 200 <= status < 300:
            return response
        message, body = _server_message(response)
        if status in TRANSIENT_STATUSES:
            cls = AmbiguousResult if write and status in AMBIGUOUS_WRITE_STATUSES else TransientError
            raise cls(
                message,
                status=status,
                body=body,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status == 409:
            raise ClashError(message, status=status, body=body)
        if status == 404:
            raise NotFoundError(message, status=status, body=body)
        raise PermanentError(message, status=status, body=body)

    def _bearer(self) -> str:
        with self._token_lock:
            if self._token is not None and self.clock() < self._token_expires_at:
                return self._token
            token, lifetime = self._fetch_token()
            # Renew a little early so a token never expires between our check and nDelius's.
            self._token = token
            self._token_expires_at = self.clock() + lifetime - min(60.0, lifetime * 0.1)
            return token

    def _forget_token(self, token: str) -> None:
        with self._token_lock:
            if self._token == token:
                self._token = None

    def _fetch_token(self) -> tuple[str, float]:
        where = f"POST {self.token_url}"
        try:
            response = self.session.post(
                self.token_url,
                data={"grant_type": "client_credentials"},
                auth=(self.client_id, self._client_secret),
                headers={"Accept": "application/json"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise TransientError(f"{where}: token request failed ({type(exc).__name__}: {exc})") from exc
        if response.status_code != 200:
            message, body = _server_message(response)
            if response.status_code in TRANSIENT_STATUSES:
                raise TransientError(
                    f"token request: {message}",
                    status=response.status_code,
                    body=body,
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                )
            raise PermanentError(f"token request refused: {message}", status=response.status_code, body=body)
        try:
            data = response.json()
            return str(data["access_token"]), float(data.get("expires_in", 300))
        except (ValueError, KeyError, TypeError) as exc:
            raise NDeliusError(f"{where}: token response has no access_token") from exc


def _as_date(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(value)


def _flatten_search(response: requests.Response) -> list[dict[str, Any]]:
    try:
        content = response.json()["content"]
    except (ValueError, KeyError, TypeError) as exc:
        raise NDeliusError('search answer is not {"content": {crn: [appointments]}}') from exc
    if not isinstance(content, dict):
        raise NDeliusError("search answer 'content' is not an object keyed by CRN")
    flat: list[dict[str, Any]] = []
    for crn, appointments in content.items():
        for appointment in appointments or []:
            flat.append({**appointment, "crn": appointment.get("crn") or crn})
    return flat
