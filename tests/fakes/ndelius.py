"""A fake nDelius Appointments API (accredited-programmes-and-delius, HMPPS.md §4) over real HTTP.

Run it:      python -m tests.fakes.ndelius --port 9091
Import it:   fake = start_fake_ndelius(); ...; fake.stop()

Endpoints (all JSON):
  POST   /oauth/token            client credentials: form grant_type=client_credentials, HTTP Basic id/secret
  POST   /appointments           201   {"appointments": [create items]}
  PUT    /appointments           204   {"appointments": [update items]}
  DELETE /appointments           204   {"appointments": [{"reference"}]}
  POST   /appointments/search    200   {"content": {crn: [appointment, ...]}}
  GET    /health                 200   {"status": "UP"}
  GET    /case/{crn}/...,  POST /user/{username}/access   case reads and LAO: see tests/fakes/ndelius_cases.py
  GET    /user/{username}/teams  200   {"username", "staffCode", "teams": [{"code", "description", "region"}]}; 404
  GET    /regions/{code}/members 200   {"code", "description", "pdus": [{"code", "description", "team": [{"code",
                                       "description", "members": [{"code", "name": {"forename", "surname"}}]}]}]}; 404
Control (no auth):
  POST /__control  {switch: value, ...}     POST /__reset     GET /__state
  POST /__seed     {"appointments": [...]}  (stored as given, no validation: for drift)
  POST /__forget   {"references": [...]}    (hard-removes: for drift)
  POST /__release                           (lets held answers go: see hold_answers)
  POST /__staff    {"users": [{"username", "name", "staffCode", "teams": [...]}]}   (add or replace; kept by __reset)

Tokens: the fake's own /oauth/token, or, when started with ``hmpps_auth_url`` (``--hmpps-auth-url``), any
unexpired access token signed by that HMPPS Auth (checked against its JWKS), as the real API accepts.

Faithful to the real service where the code is public: ``reference`` is a bare UUID (nDelius stores it as
``urn:uk:gov:hmpps:accredited-programmes:appointment:<uuid>`` and search returns the last 36 characters);
exactly one of requirementId/licenceConditionId; a create in the past needs an outcome; unknown staff, team,
location or outcome codes are 404s; notes are appended on update; a whole request fails or succeeds.
Unknown references on PUT/DELETE are 404 (SPEC §5). The real service has no unique check on the reference,
so by default a second create with the same reference makes a second contact; ``count(reference)`` shows
duplicates. ``duplicate_reference="conflict"`` answers 409 instead (201 with no change for an identical item).

Switches (``fake.set(...)`` or ``POST /__control``); counters apply to the next N ``/appointments*`` requests:
  latency_ms               delay every API request (token included)
  fail_5xx, fail_status, retry_after
                           next N answer fail_status (503) [+ Retry-After]; nothing applied
  timeout, timeout_seconds next N are processed, then the answer waits timeout_seconds (past the read timeout)
  hold_answers             next N are processed, then the answer is held until ``release()`` (``held`` counts
                           them; ``wait_until(lambda f: f.held == 1)`` waits for that state, no sleeping)
  commit_then_drop         next N are processed, then the connection is closed with no answer
  clash_409                next N creates answer 409 (nothing applied)
  clash_references         creates/updates carrying these references always answer 409
  invalid_requirement_400  next N answer 400 "Invalid Requirement IDs: [...]" (nothing applied)
  terminated_requirements  creates for these requirement ids always answer 400 "Invalid Requirement IDs"
  respond_next             list of canned answers {status, body?, headers?} for the next requests
  duplicate_reference      "duplicate" (default, like nDelius) or "conflict"
  token_expires_in         lifetime of new tokens (s); revoke_tokens=True invalidates issued tokens
  now                      "YYYY-MM-DDTHH:MM" Europe/London clock for the in-the-past rule (default: the
                           world's now, i.e. app.clock: the test's pinned clock, else the real one)
  staff_codes, team_codes, location_codes
                           lists of known codes (None: any well-formed code exists)
  crn_by_requirement, crn_by_licence_condition
                           {id: crn}; otherwise the CRN is "X" + 6 digits of the id
"""

from __future__ import annotations

import argparse
import base64
import copy
import itertools
import json
import re
import secrets
import signal
import threading
import time
import urllib.request
from datetime import date, datetime
from datetime import time as dtime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit
from uuid import UUID
from zoneinfo import ZoneInfo

from app import clock
from tests.fakes.ndelius_cases import CaseRecords

LONDON = ZoneInfo("Europe/London")
REFERENCE_PREFIX = "urn:uk:gov:hmpps:accredited-programmes:appointment:"
DEFAULT_CLIENT_ID = "programme-delivery"
DEFAULT_CLIENT_SECRET = "local-secret"
MAX_CALLS_KEPT = 10_000
TYPES = ("PROGRAMME_ATTENDANCE", "THREE_WAY_MEETING", "PRE_GROUP_ONE_TO_ONE_MEETING")
# code: (description, attended, complied)
OUTCOMES = {
    "ATTC": ("Attended - Complied", True, True),
    "AFTC": ("Attended - Failed to Comply", True, False),
    "UAAB": ("Unacceptable Absence", False, False),
    "AACL": ("Acceptable Absence - Court/Legal", False, True),
    # the other acceptable-absence reasons of SPEC §4 (nDelius's own list, HMPPS.md §1)
    "AAME": ("Acceptable Absence - Medical", False, True),
    "AARE": ("Acceptable Absence - Religious", False, True),
    "AAFC": ("Acceptable Absence - Family/ Childcare", False, True),
    "AAEM": ("Acceptable Absence - Employment", False, True),
    "AAAA": ("Acceptable Absence - Other", False, True),
    "RSSR": ("Rescheduled - Service Request", None, None),
    "RSOF": ("Rescheduled - PoP Request", None, None),
}
CODE_PATTERNS = {"Staff": r"[A-Z0-9]{1,7}", "Team": r"[A-Z0-9]{1,6}", "OfficeLocation": r"[A-Z0-9]{1,7}"}
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
TIME_RE = re.compile(r"\d{2}:\d{2}(:\d{2})?")
COUNTERS = ("fail_5xx", "timeout", "clash_409", "invalid_requirement_400", "commit_then_drop", "hold_answers")
DEFAULTS: dict[str, Any] = {
    "latency_ms": 0,
    "fail_5xx": 0,
    "fail_status": 503,
    "retry_after": None,
    "timeout": 0,
    "timeout_seconds": 2.0,
    "hold_answers": 0,
    "commit_then_drop": 0,
    "clash_409": 0,
    "clash_references": [],
    "invalid_requirement_400": 0,
    "terminated_requirements": [],
    "respond_next": [],
    "duplicate_reference": "duplicate",
    "token_expires_in": 1200,
    "now": None,
    "staff_codes": None,
    "team_codes": None,
    "location_codes": None,
    "crn_by_requirement": {},
    "crn_by_licence_condition": {},
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status, "message": self.message}
        if self.field:
            body["fields"] = [{"type": "Invalid", "message": self.message, "field": self.field}]
        return body


class Reply:
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}


def _error(status: int, message: str, **extra: Any) -> Reply:
    return Reply(status, {"status": status, "message": message, **extra})


class FakeNDelius:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        hmpps_auth_url: str | None = None,
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.staff = _Staff(hmpps_auth_url)
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)  # notified on every change of calls, in_flight, held
        self.appointments: dict[str, dict[str, Any]] = {}  # reference (UUID) -> live contact
        self.duplicates: list[dict[str, Any]] = []  # further live contacts with a reference already used
        self.deleted: list[dict[str, Any]] = []  # soft-deleted contacts
        self.calls: list[dict[str, Any]] = []
        self.cases = CaseRecords()  # the case reads and LAO checks (tests/fakes/ndelius_cases.py)
        self.switches: dict[str, Any] = copy.deepcopy(DEFAULTS)
        self.tokens: dict[str, float] = {}
        self.in_flight = 0
        self.peak_concurrency = 0
        self.held = 0  # answers being held back (hold_answers) until release()
        self.created_per_reference: dict[str, int] = {}  # contacts ever created per reference (duplicates > 1)
        self._released = threading.Event()
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self.server = ThreadingHTTPServer((host, port), _Handler)
        self.server.daemon_threads = True
        self.server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-ndelius", daemon=True
        )

    # lifecycle --------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def token_url(self) -> str:
        return self.url + "/oauth/token"

    def start(self) -> FakeNDelius:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.release()
        self.server.shutdown()
        self.server.server_close()

    # control ----------------------------------------------------------------------------------------------
    def set(self, **switches: Any) -> dict[str, Any]:
        with self.lock:
            if switches.pop("revoke_tokens", False):
                self.tokens.clear()
            for name, value in switches.items():
                if name not in DEFAULTS:
                    raise ValueError(f"unknown switch {name!r}; known: {', '.join(sorted(DEFAULTS))}")
                self.switches[name] = _coerce(name, value)
            return copy.deepcopy(self.switches)

    def reset(self) -> None:
        """Forget appointments, calls and switches (issued tokens stay valid)."""
        with self.lock:
            self.appointments.clear()
            self.duplicates.clear()
            self.deleted.clear()
            self.calls.clear()
            self.cases.reset()
            self.created_per_reference.clear()
            self.switches = copy.deepcopy(DEFAULTS)
            self.peak_concurrency = self.in_flight

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no API request is in flight (e.g. one still holding back its answer); True when idle."""
        return self.wait_until(lambda fake: fake.in_flight == 0, timeout)

    def wait_until(self, condition: Any, timeout: float = 10.0) -> bool:
        """Wait (without polling) until ``condition(fake)`` holds - e.g. ``lambda f: f.held == 1`` or
        ``lambda f: len(f.api_calls("POST", "/appointments")) >= 2``; False if it did not within ``timeout``
        seconds (a guard against a hung test, not a timing assumption)."""
        with self.changed:
            return self.changed.wait_for(lambda: condition(self), timeout)

    def release(self) -> int:
        """Let every held answer go (``hold_answers``); the number released."""
        with self.changed:
            released, self._released = self._released, threading.Event()
            count = self.held
        released.set()
        return count

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def seed(self, *items: dict[str, Any], crn: str | None = None) -> list[dict[str, Any]]:
        """Store contacts as given (create-item shape), bypassing validation and scripts."""
        stored = []
        with self.lock:
            for item in items:
                contact = self._contact(dict(item), crn=crn or item.get("crn"))
                self.appointments[contact["reference"]] = contact
                stored.append(contact)
        return stored

    def forget(self, *references: str) -> None:
        with self.lock:
            for reference in references:
                ref = _bare(reference)
                self.appointments.pop(ref, None)
                self.duplicates[:] = [c for c in self.duplicates if c["reference"] != ref]

    def creates_of(self, reference: str) -> int:
        """How many contacts a create ever made with this reference (1 is right; 2 is a duplicate)."""
        with self.lock:
            return self.created_per_reference.get(_bare(reference), 0)

    def count(self, reference: str) -> int:
        """Live contacts carrying this reference (more than 1 means a duplicate create happened)."""
        ref = _bare(reference)
        with self.lock:
            return int(ref in self.appointments) + sum(c["reference"] == ref for c in self.duplicates)

    def state(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(
                {
                    "switches": self.switches,
                    "appointments": self.appointments,
                    "duplicates": self.duplicates,
                    "deleted": self.deleted,
                    "calls": self.calls,
                    "peak_concurrency": self.peak_concurrency,
                    "in_flight": self.in_flight,
                    "held": self.held,
                    "created_per_reference": self.created_per_reference,
                    "tokens_issued": len(self.tokens),
                }
            )

    def api_calls(self, method: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                c
                for c in self.calls
                if (method is None or c["method"] == method) and (path is None or c["path"] == path)
            ]

    # HTTP plumbing ----------------------------------------------------------------------------------------
    def _dispatch(self, handler: _Handler) -> None:
        method = handler.command
        split = urlsplit(handler.path)
        path = split.path.rstrip("/") or "/"
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length > 0 else b""

        if path == "/health" or path.startswith("/__"):
            _send(handler, self._control(method, path, raw))
            return
        entry: dict[str, Any] = {
            "method": method,
            "path": path,
            "at": time.time(),
            "status": None,
            "outcome": None,
            "body": _redacted_body(path, raw),
        }
        counted = path.startswith("/appointments")  # concurrency of API calls, not token requests
        with self.changed:
            self.calls.append(entry)
            if len(self.calls) > MAX_CALLS_KEPT:
                del self.calls[: len(self.calls) - MAX_CALLS_KEPT]
            if counted:
                self.in_flight += 1
                self.peak_concurrency = max(self.peak_concurrency, self.in_flight)
            self.changed.notify_all()
        try:
            latency = self.switches["latency_ms"] / 1000
            if latency:
                self._stopping.wait(latency)
            if path.endswith("/oauth/token"):
                reply, action = self._token(method, handler.headers, split.query, raw), None
            elif (case_reply := self.cases.handle(method, path, raw, self._authorised(handler.headers))):
                reply, action = Reply(*case_reply), None
            elif path.startswith("/user/"):
                reply, action = self.staff.read(method, path, handler.headers, self._authorised(handler.headers)), None
            elif path.startswith("/regions/"):
                reply, action = self.staff.region(method, path, self._authorised(handler.headers)), None
            elif path.startswith("/appointments"):
                try:
                    reply, action = self._appointments(method, path, handler.headers, raw)
                except Exception as exc:  # noqa: BLE001 - a bug in the fake must be a 500, not a dropped connection
                    reply, action = _error(500, f"fake nDelius error: {type(exc).__name__}: {exc}"), None
            else:
                reply, action = _error(404, f"No endpoint {method} {path}"), None
            entry["status"] = reply.status
            if action == "drop":
                entry["outcome"] = "dropped"
                handler.close_connection = True
                return
            if action == "hang":
                entry["outcome"] = "delayed"
                self._stopping.wait(self.switches["timeout_seconds"])
            if action == "hold":
                with self.changed:
                    entry["outcome"] = "held"
                    released = self._released
                    self.held += 1
                    self.changed.notify_all()
                try:
                    released.wait()  # release() (or stop()) sets it
                finally:
                    with self.changed:
                        self.held -= 1
                        self.changed.notify_all()
            entry["outcome"] = "answered" if entry["outcome"] in (None, "held") else entry["outcome"]
            _send(handler, reply)
        finally:
            with self.changed:
                if counted:
                    self.in_flight -= 1
                entry["done"] = True
                self.changed.notify_all()

    def _control(self, method: str, path: str, raw: bytes) -> Reply:
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return _error(400, "control body is not JSON")
        try:
            if (method, path) == ("GET", "/health"):
                return Reply(200, {"status": "UP"})
            if (method, path) == ("GET", "/__state"):
                return Reply(200, self.state())
            if (method, path) == ("POST", "/__control"):
                return Reply(200, {"switches": self.set(**body)})
            if (method, path) == ("POST", "/__reset"):
                self.reset()
                return Reply(200, {"reset": True})
            if (method, path) == ("POST", "/__seed"):
                return Reply(201, {"seeded": self.seed(*body.get("appointments", []), crn=body.get("crn"))})
            if path == "/__cases":
                return Reply(*self.cases.control(method, raw))
            if (method, path) == ("POST", "/__release"):
                return Reply(200, {"released": self.release()})
            if (method, path) == ("POST", "/__staff"):
                return Reply(200, {"staff": self.staff.add(body.get("users", []))})
            if (method, path) == ("POST", "/__forget"):
                self.forget(*body.get("references", []))
                return Reply(200, {"forgotten": body.get("references", [])})
        except (ValueError, TypeError, KeyError) as exc:
            return _error(400, str(exc))
        return _error(404, f"No control endpoint {method} {path}")

    def _token(self, method: str, headers: Any, query: str, raw: bytes) -> Reply:
        if method != "POST":
            return _error(405, "Request method not supported")
        form = {**parse_qs(query), **parse_qs(raw.decode("utf-8", "replace"))}
        if form.get("grant_type", [None])[0] != "client_credentials":
            return Reply(
                400, {"error": "unsupported_grant_type", "error_description": "Unsupported grant type"}
            )
        if _basic_credentials(headers.get("Authorization")) != (self.client_id, self.client_secret):
            return Reply(401, {"error": "unauthorized", "error_description": "Bad credentials"})
        token = secrets.token_urlsafe(24)
        with self.lock:
            lifetime = int(self.switches["token_expires_in"])
            self.tokens[token] = time.monotonic() + lifetime
        return Reply(
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": lifetime,
                "scope": "read write",
                "sub": self.client_id,
                "auth_source": "none",
                "jti": secrets.token_hex(8),
            },
        )

    def _authorised(self, headers: Any) -> bool:
        value = headers.get("Authorization") or ""
        if not value.startswith("Bearer "):
            return False
        with self.lock:
            expiry = self.tokens.get(value[len("Bearer ") :].strip())
        if expiry is not None:
            return time.monotonic() < expiry
        return self.staff.trusts(value[len("Bearer ") :].strip())

    def _appointments(self, method: str, path: str, headers: Any, raw: bytes) -> tuple[Reply, str | None]:
        with self.lock:
            if self.switches["fail_5xx"] > 0:
                self.switches["fail_5xx"] -= 1
                status = int(self.switches["fail_status"])
                extra = (
                    {}
                    if self.switches["retry_after"] is None
                    else {"Retry-After": str(self.switches["retry_after"])}
                )
                return Reply(status, {"status": status, "message": "Service Unavailable"}, extra), None
        if not self._authorised(headers):
            return Reply(401, None, {"WWW-Authenticate": 'Bearer error="invalid_token"'}), None
        routes = {
            ("POST", "/appointments"): self._create,
            ("PUT", "/appointments"): self._update,
            ("DELETE", "/appointments"): self._delete,
            ("POST", "/appointments/search"): self._search,
        }
        route = routes.get((method, path))
        if route is None:
            return _error(405 if path == "/appointments" else 404, f"No endpoint {method} {path}"), None
        with self.lock:
            action = None
            if self.switches["timeout"] > 0:
                self.switches["timeout"] -= 1
                action = "hang"
            if self.switches["commit_then_drop"] > 0:
                self.switches["commit_then_drop"] -= 1
                action = "drop"
            if self.switches["hold_answers"] > 0:
                self.switches["hold_answers"] -= 1
                action = "hold"
            if self.switches["respond_next"]:
                canned = self.switches["respond_next"].pop(0)
                return Reply(
                    int(canned.get("status", 500)), canned.get("body"), canned.get("headers")
                ), action
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                return _error(400, "JSON parse error: request body is not valid JSON"), action
            try:
                return route(body), action
            except ApiError as exc:
                return Reply(exc.status, exc.body()), action

    # the API (called with self.lock held) -----------------------------------------------------------------
    def _items(self, body: Any) -> list[dict[str, Any]]:
        if not isinstance(body, dict) or not isinstance(body.get("appointments"), list):
            raise ApiError(400, 'Required request body {"appointments": [...]} is missing', "appointments")
        if not body["appointments"]:
            raise ApiError(400, "must not be empty", "appointments")
        if not all(isinstance(item, dict) for item in body["appointments"]):
            raise ApiError(400, "each appointment must be an object", "appointments")
        return body["appointments"]

    def _scripted_invalid_requirement(self, ids: list[Any]) -> None:
        if self.switches["invalid_requirement_400"] > 0:
            self.switches["invalid_requirement_400"] -= 1
            raise ApiError(400, f"Invalid Requirement IDs: {sorted(set(ids), key=str)}")

    def _create(self, body: Any) -> Reply:
        items = [self._valid_schedule(item, creating=True) for item in self._items(body)]
        self._scripted_invalid_requirement(
            [i["requirementId"] for i in items if i["requirementId"] is not None]
        )
        terminated = set(self.switches["terminated_requirements"])
        bad = sorted({i["requirementId"] for i in items if i["requirementId"] in terminated})
        if bad:
            raise ApiError(400, f"Invalid Requirement IDs: {bad}")
        if self.switches["clash_409"] > 0:
            self.switches["clash_409"] -= 1
            raise ApiError(409, "Appointment conflicts with an existing future appointment")
        self._clash_check(items)
        fresh = []
        for item in items:
            existing = self.appointments.get(item["reference"])
            if existing is not None and self.switches["duplicate_reference"] == "conflict":
                if _same_request(existing, item):
                    continue
                raise ApiError(409, f"An appointment with reference {item['reference']} already exists")
            fresh.append(item)
        for item in fresh:
            contact = self._contact(item)
            reference = contact["reference"]
            self.created_per_reference[reference] = self.created_per_reference.get(reference, 0) + 1
            if contact["reference"] in self.appointments:
                self.duplicates.append(contact)
            else:
                self.appointments[contact["reference"]] = contact
        return Reply(201)

    def _update(self, body: Any) -> Reply:
        items = [self._valid_schedule(item, creating=False) for item in self._items(body)]
        for item in items:
            if item["reference"] not in self.appointments:
                raise ApiError(404, f"Appointment with reference of {item['reference']} not found")
        self._scripted_invalid_requirement(
            [self.appointments[i["reference"]]["requirementId"] for i in items]
        )
        self._clash_check(items)
        stamp = _utc_now()
        for item in items:
            for contact in self._live(item["reference"]):
                contact.update(
                    {
                        key: item[key]
                        for key in (
                            "date",
                            "startTime",
                            "endTime",
                            "staff",
                            "team",
                            "location",
                            "outcome",
                            "sensitive",
                        )
                    }
                )
                if item["notes"] is not None:
                    contact["notes"] = (
                        item["notes"] if not contact["notes"] else contact["notes"] + "\n" + item["notes"]
                    )
                contact["version"] += 1
                contact["lastUpdatedAt"] = stamp
        return Reply(204)

    def _delete(self, body: Any) -> Reply:
        references = [_valid_reference(item.get("reference")) for item in self._items(body)]
        for reference in references:
            if reference not in self.appointments:
                raise ApiError(404, f"Appointment with reference of {reference} not found")
        self._scripted_invalid_requirement([self.appointments[r]["requirementId"] for r in references])
        for reference in dict.fromkeys(references):
            for contact in self._live(reference):
                contact["softDeleted"] = True
                self.deleted.append(contact)
            self.appointments.pop(reference, None)
            self.duplicates[:] = [c for c in self.duplicates if c["reference"] != reference]
        return Reply(204)

    def _search(self, body: Any) -> Reply:
        if not isinstance(body, dict):
            raise ApiError(400, "Required request body is missing")
        lists = {}
        for name in ("requirementIds", "licenceConditionIds"):
            ids = body.get(name)
            if not isinstance(ids, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in ids
            ):
                raise ApiError(400, f"{name} must be a list of numbers", name)
            if len(ids) > 500:
                raise ApiError(400, "size must be between 0 and 500", name)
            lists[name] = set(ids)
        start, end = _valid_date(body.get("fromDate"), "fromDate"), _valid_date(body.get("toDate"), "toDate")
        if end < start:
            raise ApiError(400, "toDate cannot be before fromDate")
        if not lists["requirementIds"] and not lists["licenceConditionIds"]:
            raise ApiError(400, "at least one requirementId or licenceConditionId must be provided")
        self._scripted_invalid_requirement(sorted(lists["requirementIds"]))
        found = [
            c
            for c in itertools.chain(self.appointments.values(), self.duplicates)
            if (
                c["requirementId"] in lists["requirementIds"]
                or c["licenceConditionId"] in lists["licenceConditionIds"]
            )
            and start.isoformat() <= c["date"] <= end.isoformat()
        ]
        found.sort(key=lambda c: (c["crn"], c["date"], c["startTime"]))
        content: dict[str, list[dict[str, Any]]] = {}
        for contact in found:
            content.setdefault(contact["crn"], []).append(_as_response(contact))
        return Reply(200, {"content": content})

    # validation -------------------------------------------------------------------------------------------
    def _valid_schedule(self, item: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        clean: dict[str, Any] = {"reference": _valid_reference(item.get("reference"))}
        if creating:
            ids = [item.get("requirementId"), item.get("licenceConditionId")]
            if sum(i is not None for i in ids) != 1:
                raise ApiError(400, "Either licence condition or requirement id must be specified.")
            for name, value in zip(("requirementId", "licenceConditionId"), ids):
                if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                    raise ApiError(400, f"{name} must be a number", name)
                clean[name] = value
            kind = item.get("type", "PROGRAMME_ATTENDANCE")
            if kind not in TYPES:
                raise ApiError(400, f"type must be one of {', '.join(TYPES)}", "type")
            clean["type"] = kind
        day = _valid_date(item.get("date"), "date")
        start, end = (
            _valid_time(item.get("startTime"), "startTime"),
            _valid_time(item.get("endTime"), "endTime"),
        )
        if start >= end:
            raise ApiError(400, "Start time must be before end time")
        clean.update(date=day.isoformat(), startTime=_hhmm(start), endTime=_hhmm(end))
        clean["staff"] = {"code": self._valid_code(item.get("staff"), "Staff", "staff", required=True)}
        clean["team"] = {"code": self._valid_code(item.get("team"), "Team", "team", required=True)}
        location = self._valid_code(item.get("location"), "OfficeLocation", "location", required=False)
        clean["location"] = {"code": location} if location else None
        outcome = item.get("outcome")
        if outcome is not None:
            code = outcome.get("code") if isinstance(outcome, dict) else None
            if not isinstance(code, str):
                raise ApiError(400, "outcome.code is required", "outcome")
            if code not in OUTCOMES:
                raise ApiError(404, f"ContactOutcome with code of {code} not found")
            outcome = {"code": code}
        clean["outcome"] = outcome
        notes = item.get("notes")
        if notes is not None and not isinstance(notes, str):
            raise ApiError(400, "notes must be text", "notes")
        clean["notes"] = notes
        if not isinstance(item.get("sensitive"), bool):
            raise ApiError(400, "sensitive is required (true or false)", "sensitive")
        clean["sensitive"] = item["sensitive"]
        if creating and outcome is None and datetime.combine(day, start) < self._now():
            raise ApiError(400, "Outcome must be provided when creating an appointment in the past")
        return clean

    def _valid_code(self, value: Any, entity: str, field: str, *, required: bool) -> str | None:
        if value is None and not required:
            return None
        code = value.get("code") if isinstance(value, dict) else None
        if not isinstance(code, str) or not code:
            raise ApiError(400, f"{field}.code is required", field)
        known = self.switches[
            {"Staff": "staff_codes", "Team": "team_codes", "OfficeLocation": "location_codes"}[entity]
        ]
        if not re.fullmatch(CODE_PATTERNS[entity], code) or (known is not None and code not in known):
            raise ApiError(404, f"{entity} with code of {code} not found")
        return code

    def _clash_check(self, items: list[dict[str, Any]]) -> None:
        clashing = set(self.switches["clash_references"])
        for item in items:
            if item["reference"] in clashing:
                raise ApiError(409, "Appointment conflicts with an existing future appointment")

    def _now(self) -> datetime:
        if self.switches["now"]:
            return datetime.fromisoformat(self.switches["now"]).replace(tzinfo=None)
        return clock.now_local()  # the world's time: pinned by the tests (in this process or CLOCK_PIN_FILE)

    def _live(self, reference: str) -> list[dict[str, Any]]:
        primary = self.appointments.get(reference)
        return ([primary] if primary else []) + [c for c in self.duplicates if c["reference"] == reference]

    def _contact(self, item: dict[str, Any], crn: str | None = None) -> dict[str, Any]:
        reference = _bare(item["reference"])
        requirement, licence = item.get("requirementId"), item.get("licenceConditionId")
        if crn is None:
            mapping = (
                self.switches["crn_by_requirement"]
                if requirement is not None
                else self.switches["crn_by_licence_condition"]
            )
            component = requirement if requirement is not None else licence
            crn = mapping.get(component) or f"X{int(component or 0) % 1_000_000:06d}"
        stamp = _utc_now()
        return {
            "contactId": next(self._ids),
            "reference": reference,
            "externalReference": REFERENCE_PREFIX + reference,
            "crn": crn,
            "requirementId": requirement,
            "licenceConditionId": licence,
            "type": item.get("type", "PROGRAMME_ATTENDANCE"),
            "date": item["date"],
            "startTime": item["startTime"],
            "endTime": item["endTime"],
            "outcome": item.get("outcome"),
            "location": item.get("location"),
            "staff": item["staff"],
            "team": item["team"],
            "notes": item.get("notes"),
            "sensitive": bool(item.get("sensitive", False)),
            "softDeleted": False,
            "version": 0,
            "createdAt": stamp,
            "lastUpdatedAt": stamp,
        }


# helpers ----------------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeNDelius/1.0"

    def _handle(self) -> None:
        self.server.fake._dispatch(self)  # type: ignore[attr-defined]

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
    payload = b"" if reply.body is None else json.dumps(reply.body).encode()
    try:
        handler.send_response(reply.status)
        if payload:
            handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if payload:
            handler.wfile.write(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up (read timeout): the answer is lost, as in real life


def _coerce(name: str, value: Any) -> Any:
    if name in COUNTERS or name in ("latency_ms", "fail_status", "token_expires_in"):
        return int(value)
    if name == "timeout_seconds":
        return float(value)
    if name in ("clash_references",):
        return [_bare(v) for v in value]
    if name == "terminated_requirements":
        return [int(v) for v in value]
    if name in ("crn_by_requirement", "crn_by_licence_condition"):
        return {int(k): str(v) for k, v in value.items()}
    if name == "duplicate_reference" and value not in ("duplicate", "conflict"):
        raise ValueError("duplicate_reference must be 'duplicate' or 'conflict'")
    if name == "respond_next":
        return [dict(v) for v in value]
    if name in ("staff_codes", "team_codes", "location_codes"):
        return None if value is None else list(value)
    if name == "now" and value is not None:
        datetime.fromisoformat(value)
    return value


def _bare(reference: Any) -> str:
    text = str(reference)
    return str(UUID(text.removeprefix(REFERENCE_PREFIX)))


def _valid_reference(value: Any) -> str:
    """nDelius takes the bare UUID (it adds the URN prefix itself)."""
    if not isinstance(value, str) or not re.fullmatch(
        r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", value
    ):
        raise ApiError(
            400, f"reference must be a UUID (nDelius adds {REFERENCE_PREFIX}), got {value!r}", "reference"
        )
    return value.lower()


def _valid_date(value: Any, field: str) -> date:
    try:
        if isinstance(value, str) and DATE_RE.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise ApiError(400, f"{field} must be a date YYYY-MM-DD, got {value!r}", field)


def _valid_time(value: Any, field: str) -> dtime:
    try:
        if isinstance(value, str) and TIME_RE.fullmatch(value):
            return dtime.fromisoformat(value)
    except ValueError:
        pass
    raise ApiError(400, f"{field} must be a time HH:MM, got {value!r}", field)


def _hhmm(value: dtime) -> str:
    return value.strftime("%H:%M" if value.second == 0 else "%H:%M:%S")


def _same_request(contact: dict[str, Any], item: dict[str, Any]) -> bool:
    return all(contact.get(key) == value for key, value in item.items())


def _zoned(day: str, wall: str) -> str:
    text = datetime.combine(date.fromisoformat(day), dtime.fromisoformat(wall), tzinfo=LONDON).isoformat()
    return text.replace("+00:00", "Z")


def _as_response(contact: dict[str, Any]) -> dict[str, Any]:
    outcome = contact["outcome"]
    if outcome is not None:
        description, attended, complied = OUTCOMES.get(outcome["code"], (outcome["code"], None, None))
        outcome = {
            "code": outcome["code"],
            "description": description,
            "attended": attended,
            "complied": complied,
        }
    location = contact["location"]
    return {
        "crn": contact["crn"],
        "reference": contact["externalReference"][-36:],
        "requirementId": contact["requirementId"],
        "licenceConditionId": contact["licenceConditionId"],
        "date": contact["date"],
        "startTime": _zoned(contact["date"], contact["startTime"]),
        "endTime": _zoned(contact["date"], contact["endTime"]),
        "outcome": outcome,
        "location": None
        if location is None
        else {"code": location["code"], "description": f"Office {location['code']}"},
        "staff": {
            "name": {"forename": "Staff", "surname": contact["staff"]["code"]},
            "code": contact["staff"]["code"],
            "email": None,
        },
        "team": {"code": contact["team"]["code"], "description": f"Team {contact['team']['code']}"},
        "notes": contact["notes"],
        "sensitive": contact["sensitive"],
    }


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, password


def _redacted_body(path: str, raw: bytes) -> Any:
    if path.endswith("/oauth/token"):
        return {"grant_type": parse_qs(raw.decode("utf-8", "replace")).get("grant_type", [None])[0]}
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw[:200].decode("utf-8", "replace")


def _utc_now() -> str:
    return datetime.now(ZoneInfo("UTC")).isoformat(timespec="seconds")


# staff and HMPPS Auth tokens (the sign-in read: a member of staff's teams) ----------------------------------------


class _Staff:
    """``GET /user/{username}/teams`` and trust in HMPPS Auth's tokens, apart from the appointments. The staff are
    one list for every fake nDelius in a process (they are nDelius's users, whichever fake a test points at)."""

    users: ClassVar[dict[str, dict[str, Any]]] = {}
    names: ClassVar[dict[str, str]] = {}  # username -> full name, for the region's members
    _lock = threading.Lock()

    def __init__(self, hmpps_auth_url: str | None) -> None:
        self.jwks_url = hmpps_auth_url.rstrip("/") + "/.well-known/jwks.json" if hmpps_auth_url else None
        self._keys: Any = None

    def add(self, users: list[dict[str, Any]]) -> int:
        with self._lock:
            for user in users:
                username = str(user["username"]).lower()
                self.users[username] = {"username": username, "staffCode": user.get("staffCode"),
                                        "teams": list(user.get("teams") or [])}
                self.names[username] = str(user.get("name") or username)
            return len(self.users)

    def read(self, method: str, path: str, headers: Any, authorised: bool) -> Reply:
        match = re.fullmatch(r"/user/([^/]+)/teams", path)
        if method != "GET" or match is None:
            return _error(404, f"No endpoint {method} {path}")
        if not authorised:
            return Reply(401, None, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        from urllib.parse import unquote

        with self._lock:
            user = self.users.get(unquote(match.group(1)).lower())
        if user is None:
            return _error(404, f"User {unquote(match.group(1))} not found")
        return Reply(200, copy.deepcopy(user))

    def region(self, method: str, path: str, authorised: bool) -> Reply:
        """``GET /regions/{regionCode}/members``: the staff with a staff code in a team of the region, by team
        (one PDU per region here), as nDelius's integration API answers it; 404 for a region nobody is in."""
        match = re.fullmatch(r"/regions/([^/]+)/members", path)
        if method != "GET" or match is None:
            return _error(404, f"No endpoint {method} {path}")
        if not authorised:
            return Reply(401, None, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        from urllib.parse import unquote

        code = unquote(match.group(1))
        teams: dict[str, dict[str, Any]] = {}
        description = ""
        with self._lock:
            for username, user in sorted(self.users.items()):
                for team in user["teams"]:
                    region = team.get("region") or {}
                    if region.get("code") != code:
                        continue
                    description = description or str(region.get("description") or "")
                    entry = teams.setdefault(team["code"], {"code": team["code"],
                                                            "description": team.get("description") or "",
                                                            "members": []})
                    if user.get("staffCode"):
                        forename, _, surname = self.names.get(username, username).partition(" ")
                        entry["members"].append({"code": user["staffCode"],
                                                 "name": {"forename": forename, "surname": surname}})
        if not teams:
            return _error(404, f"Region {code} not found")
        return Reply(200, {"code": code, "description": description,
                           "pdus": [{"code": f"{code}PDU", "description": f"{description or code} PDU",
                                     "team": list(teams.values())}]})

    def trusts(self, token: str) -> bool:
        """An unexpired token signed by the HMPPS Auth this fake was started with."""
        if self.jwks_url is None or token.count(".") != 2:
            return False
        from joserfc import jwt
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        for refresh in (False, True):
            with self._lock:
                if self._keys is None or refresh:
                    try:
                        with urllib.request.urlopen(self.jwks_url, timeout=5) as answer:  # a local fake
                            self._keys = KeySet.import_key_set(json.loads(answer.read()))
                    except (OSError, ValueError):
                        return False
                keys = self._keys
            try:
                claims = jwt.decode(token, keys, algorithms=["RS256"]).claims
                jwt.JWTClaimsRegistry(exp={"essential": True}).validate(claims)
                return True
            except (ValueError, JoseError):
                continue
        return False


def start_fake_ndelius(port: int = 0, host: str = "127.0.0.1", **credentials: str) -> FakeNDelius:
    """Start the fake on a background thread (``port=0`` picks a free port); ``.stop()`` ends it."""
    return FakeNDelius(host, port, **credentials).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake nDelius Appointments API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9091)
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    parser.add_argument("--hmpps-auth-url", default=None, help="also accept this HMPPS Auth's tokens")
    args = parser.parse_args(argv)
    fake = start_fake_ndelius(
        args.port, args.host, client_id=args.client_id, client_secret=args.client_secret,
        hmpps_auth_url=args.hmpps_auth_url,
    )
    print(f"fake nDelius listening on {fake.url} (token URL {fake.token_url})", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(1):
            pass
    except KeyboardInterrupt:
        pass
    fake.stop()


if __name__ == "__main__":
    main()
