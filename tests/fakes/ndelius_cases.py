"""The case reads of the fake nDelius (HMPPS.md §4 "Other reads", §8 LAO), served by ``tests.fakes.ndelius``:

  GET  /case/{crn}/personal-details    200 {crn, name {forename, middleNames, surname}, dateOfBirth, sex {code,
                                            description}, region {code, description}} | 404
  GET  /case/{crn}/requirements        200 {"requirements": [{id, eventNumber, description, sentenceEndDate,
                                            terminationDate}]} | 404
  GET  /case/{crn}/licence-conditions  200 {"licenceConditions": [same fields]} | 404
  POST /user/{username}/access         body ["X123456", ...] (or {"crns": [...]}) -> 200 {"access": [{crn,
                                            userExcluded, userRestricted, exclusionMessage, restrictionMessage}]}
Control (no auth):
  POST /__cases  {"cases": [case, ...], "replace": false, "fail_5xx": N, "latency_ms": N}
  GET  /__cases  the cases and the access calls made (each {username, crns})

A case: {crn, forename, surname, dateOfBirth, sex ("M"/"F"), region (code), requirements: [...],
licenceConditions: [...], restrictedTo: [usernames] | null (restricted: only they may see it),
excluded: [usernames]}. ``DEFAULT_CASES`` holds a restricted and an excluded person (CRNs R900001, R900002) for
`make run` and the tests.
"""
from __future__ import annotations

import copy
import json
import re
import threading
import time
from typing import Any

RESTRICTION_MESSAGE = "This is a restricted record. Please contact a system administrator"
EXCLUSION_MESSAGE = "You are excluded from viewing this offender record. Please contact a system administrator"
SEX = {"M": "Male", "F": "Female"}
CRN_RE = re.compile(r"[A-Z][0-9]{6}")

DEFAULT_CASES: list[dict[str, Any]] = [
    {"crn": "R900001", "forename": "Rowan", "surname": "Restricted", "dateOfBirth": "1984-02-11", "sex": "M",
     "region": "NW", "requirements": [{"id": 2_590_001, "eventNumber": 1, "sentenceEndDate": "2028-06-30"}],
     "restrictedTo": ["tm.nw", "admin"], "excluded": []},
    {"crn": "R900002", "forename": "Elliot", "surname": "Excluded", "dateOfBirth": "1979-09-23", "sex": "M",
     "region": "NW", "requirements": [{"id": 2_590_002, "eventNumber": 1, "sentenceEndDate": "2028-03-31"}],
     "restrictedTo": None, "excluded": ["fac.nw"]},
]


class CaseRecords:
    """Thread-safe store of cases; ``handle`` answers (status, body) or None when the path is not a case read."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.cases: dict[str, dict[str, Any]] = {}
        self.access_calls: list[dict[str, Any]] = []
        self.case_calls: list[str] = []
        self.fail_5xx = 0
        self.latency_ms = 0
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.cases = {c["crn"]: copy.deepcopy(c) for c in DEFAULT_CASES}
            self.access_calls.clear()
            self.case_calls.clear()
            self.fail_5xx = self.latency_ms = 0

    def add(self, *cases: dict[str, Any]) -> None:
        with self.lock:
            for case in cases:
                record = {"requirements": [], "licenceConditions": [], "restrictedTo": None, "excluded": [],
                          "sex": "M", "region": "NW", **copy.deepcopy(case)}
                if not CRN_RE.fullmatch(str(record.get("crn", ""))):
                    raise ValueError(f"a case needs a CRN like X123456, got {record.get('crn')!r}")
                self.cases[record["crn"]] = record

    def control(self, method: str, raw: bytes) -> tuple[int, Any]:
        if method == "GET":
            with self.lock:
                return 200, {"cases": list(self.cases.values()), "access_calls": self.access_calls,
                             "case_calls": self.case_calls}
        body = json.loads(raw) if raw else {}
        with self.lock:
            if body.get("replace"):
                self.cases.clear()
            self.add(*body.get("cases", []))
            if "fail_5xx" in body:
                self.fail_5xx = int(body["fail_5xx"])
            if "latency_ms" in body:
                self.latency_ms = int(body["latency_ms"])
            return 200, {"cases": len(self.cases)}

    def handle(self, method: str, path: str, raw: bytes, authorised: bool) -> tuple[int, Any] | None:
        parts = path.strip("/").split("/")
        is_case = len(parts) == 3 and parts[0] == "case" and method == "GET"
        is_access = len(parts) == 3 and parts[0] == "user" and parts[2] == "access" and method == "POST"
        if not (is_case or is_access):
            return None
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        with self.lock:
            if self.fail_5xx > 0:
                self.fail_5xx -= 1
                return 503, {"status": 503, "message": "Service Unavailable"}
        if not authorised:
            return 401, None
        if is_access:
            return self._access(parts[1], raw)
        return self._case(parts[1], parts[2])

    def _case(self, crn: str, what: str) -> tuple[int, Any]:
        with self.lock:
            self.case_calls.append(f"{crn}/{what}")
            case = copy.deepcopy(self.cases.get(crn))
        if case is None:
            return 404, {"status": 404, "message": f"Person with crn of {crn} not found"}
        if what == "personal-details":
            return 200, {
                "crn": crn, "name": {"forename": case["forename"], "middleNames": case.get("middleNames"),
                                     "surname": case["surname"]},
                "dateOfBirth": case["dateOfBirth"], "sex": {"code": case["sex"], "description": SEX[case["sex"]]},
                "region": {"code": case["region"], "description": case["region"]},
            }
        if what == "requirements":
            return 200, {"requirements": [_component(r) for r in case["requirements"]]}
        if what == "licence-conditions":
            return 200, {"licenceConditions": [_component(r) for r in case["licenceConditions"]]}
        return 404, {"status": 404, "message": f"No endpoint GET /case/{crn}/{what}"}

    def _access(self, username: str, raw: bytes) -> tuple[int, Any]:
        try:
            body = json.loads(raw) if raw else []
        except ValueError:
            return 400, {"status": 400, "message": "JSON parse error"}
        crns = body.get("crns") if isinstance(body, dict) else body
        if not isinstance(crns, list) or not all(isinstance(c, str) for c in crns):
            return 400, {"status": 400, "message": "body must be a list of CRNs"}
        if len(crns) > 500:
            return 400, {"status": 400, "message": "at most 500 CRNs"}
        with self.lock:
            self.access_calls.append({"username": username, "crns": list(crns)})
            answers = []
            for crn in crns:
                case = self.cases.get(crn) or {}
                restricted_to = case.get("restrictedTo")
                restricted = restricted_to is not None and username not in restricted_to
                excluded = username in (case.get("excluded") or [])
                answers.append({"crn": crn, "userExcluded": excluded, "userRestricted": restricted,
                                "exclusionMessage": EXCLUSION_MESSAGE if excluded else None,
                                "restrictionMessage": RESTRICTION_MESSAGE if restricted else None})
        return 200, {"access": answers}


def _component(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": item["id"], "eventNumber": str(item.get("eventNumber", 1)),
            "description": item.get("description", "Accredited Programme - Building Choices"),
            "sentenceEndDate": item.get("sentenceEndDate"), "terminationDate": item.get("terminationDate")}
