"""A fake of the service that makes referrals (HMPPS "Find and refer an intervention"): it serves the detail
behind each ``interventions.community-referral.created`` event's ``detailUrl`` over real HTTP.

Run it:      python -m tests.fakes.referral_source --port 9094
Import it:   source = start_referral_source(); source.add(...); source.stop()
Send a demo referral event to a running `make run` (adds the referral here, its case to the fake nDelius,
and publishes the event on the local SNS topic):
             python -m tests.fakes.referral_source send [--name "Casey Jones"] [--crn X654321]

Endpoints:
  GET  /referral/{id}   200 the referral's details (below) | 404; needs a bearer token (401 without)
Control (no auth):
  POST /__referrals {"referrals": [...]}   POST /__control {"fail_5xx": N, "garbage": N}   POST /__reset
  GET  /__state

Details (modelled on the real ReferralDetails: interventionType, interventionName, personReference,
personReferenceType, referralId, setting; plus what a programme team needs):
  {referralId, interventionName, interventionType, setting, personReference, personReferenceType,
   person {forename, surname, dateOfBirth, sex ("Male"|"Female")}, sourcedFromReferenceType
   (REQUIREMENT|LICENCE_CONDITION), sourcedFromReference, eventNumber, sentenceEndDate,
   cohort (GENERAL_OFFENCE|SEXUAL_OFFENCE), hasLdc, regionCode}
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import random
import signal
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import requests

from app import clock

CREATED = "interventions.community-referral.created"
IMPORTED = "interventions.community-referral.imported"


def referral_details(*, crn: str, forename: str = "Casey", surname: str = "Jones", date_of_birth: str = "1990-05-17",
                     sex: str = "Male", requirement_id: int | None = 2_700_001, licence_condition_id: int | None = None,
                     sentence_end_date: str | None = None, cohort: str = "GENERAL_OFFENCE", ldc: bool = False,
                     region: str = "NW", referral_id: str | None = None) -> dict[str, Any]:
    on_licence = licence_condition_id is not None
    return {
        "referralId": referral_id or str(uuid.uuid4()), "interventionName": "Building Choices",
        "interventionType": "ACP", "setting": "COMMUNITY", "personReference": crn, "personReferenceType": "CRN",
        "person": {"forename": forename, "surname": surname, "dateOfBirth": date_of_birth, "sex": sex},
        "sourcedFromReferenceType": "LICENCE_CONDITION" if on_licence else "REQUIREMENT",
        "sourcedFromReference": str(licence_condition_id if on_licence else requirement_id),
        "eventNumber": 1,
        "sentenceEndDate": sentence_end_date or (clock.today() + timedelta(days=540)).isoformat(),
        "cohort": cohort, "hasLdc": ldc, "regionCode": region,
    }


def referral_event(detail_url: str, crn: str, referral_id: str, event_type: str = CREATED) -> dict[str, Any]:
    return {
        "eventType": event_type, "version": 1, "detailUrl": detail_url,
        "occurredAt": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "description": "A referral to an accredited programme in the community was created",
        "additionalInformation": {"referralId": referral_id},
        "personReference": {"identifiers": [{"type": "CRN", "value": crn}]},
    }


class ReferralSource:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.lock = threading.Lock()
        self.referrals: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.fail_5xx = 0
        self.garbage = 0
        self.server = ThreadingHTTPServer((host, port), _Handler)
        self.server.daemon_threads = True
        self.server.source = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="fake-referral-source")

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ReferralSource:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add(self, details: dict[str, Any]) -> str:
        """Store a referral's details; its detailUrl."""
        with self.lock:
            self.referrals[details["referralId"]] = copy.deepcopy(details)
        return f"{self.url}/referral/{details['referralId']}"

    def set(self, **switches: int) -> None:
        with self.lock:
            for name, value in switches.items():
                if name not in ("fail_5xx", "garbage"):
                    raise ValueError(f"unknown switch {name}")
                setattr(self, name, int(value))

    def reset(self) -> None:
        with self.lock:
            self.referrals.clear()
            self.calls.clear()
            self.fail_5xx = self.garbage = 0

    def _answer(self, method: str, path: str, headers: Any, raw: bytes) -> tuple[int, Any]:
        body = json.loads(raw) if raw else {}
        if path == "/__referrals" and method == "POST":
            return 201, {"urls": [self.add(r) for r in body.get("referrals", [])]}
        if path == "/__control" and method == "POST":
            self.set(**body)
            return 200, {}
        if path == "/__reset" and method == "POST":
            self.reset()
            return 200, {}
        if path == "/__state":
            with self.lock:
                return 200, {"referrals": list(self.referrals.values()), "calls": self.calls}
        if path == "/health":
            return 200, {"status": "UP"}
        with self.lock:
            self.calls.append(path)
            if self.fail_5xx > 0:
                self.fail_5xx -= 1
                return 503, {"status": 503, "userMessage": "Service Unavailable"}
            if self.garbage > 0:
                self.garbage -= 1
                return 200, "this is not the referral you are looking for"
        if not (headers.get("Authorization") or "").startswith("Bearer ") or not headers["Authorization"][7:].strip():
            return 401, {"status": 401, "userMessage": "Unauthorised"}
        parts = path.strip("/").split("/")
        if method == "GET" and len(parts) == 2 and parts[0] == "referral":
            with self.lock:
                found = self.referrals.get(parts[1])
            return (200, found) if found else (404, {"status": 404, "userMessage": f"No referral {parts[1]}"})
        return 404, {"status": 404, "userMessage": f"No endpoint {method} {path}"}


class _Handler(BaseHTTPRequestHandler):
    def _handle(self) -> None:
        source: ReferralSource = self.server.source  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            status, body = source._answer(self.command, urlsplit(self.path).path.rstrip("/") or "/",
                                          self.headers, raw)
        except (ValueError, KeyError, TypeError) as exc:
            status, body = 400, {"status": 400, "userMessage": str(exc)}
        payload = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


def start_referral_source(port: int = 0, host: str = "127.0.0.1") -> ReferralSource:
    return ReferralSource(host, port).start()


def send_demo_referral(argv: list[str]) -> int:
    """Make a referral at the running fake, its case in the fake nDelius, and publish the event."""
    import boto3

    parser = argparse.ArgumentParser(prog="python -m tests.fakes.referral_source send")
    parser.add_argument("--name", default=None)
    parser.add_argument("--crn", default=None)
    parser.add_argument("--region", default="NW")
    args = parser.parse_args(argv)
    rng = random.Random()
    forename, surname = (args.name or f"{rng.choice(['Casey', 'Drew', 'Rory', 'Quinn'])} "
                                      f"{rng.choice(['Jones', 'Patel', 'Okafor', 'Byrne'])}").split(" ", 1)
    crn = args.crn or f"E{rng.randint(100000, 999999)}"
    details = referral_details(crn=crn, forename=forename, surname=surname, region=args.region,
                               requirement_id=rng.randint(2_700_000, 2_799_999))
    source = os.environ.get("REFERRAL_SOURCE_URL", f"http://127.0.0.1:{os.environ.get('FAKE_REFERRAL_SOURCE_PORT', '9094')}")
    ndelius = os.environ.get("NDELIUS_URL", f"http://127.0.0.1:{os.environ.get('FAKE_NDELIUS_PORT', '9091')}")
    endpoint = os.environ.get("AWS_ENDPOINT_URL", f"http://127.0.0.1:{os.environ.get('LOCAL_SNS_SQS_PORT', '9093')}")
    topic = os.environ.get("DOMAIN_EVENTS_TOPIC_ARN", "arn:aws:sns:eu-west-2:123456789012:hmpps-domain-events")
    url = requests.post(f"{source}/__referrals", json={"referrals": [details]}, timeout=5).json()["urls"][0]
    person = details["person"]
    requests.post(f"{ndelius}/__cases", json={"cases": [{
        "crn": crn, "forename": person["forename"], "surname": person["surname"],
        "dateOfBirth": person["dateOfBirth"], "sex": "M", "region": args.region,
        "requirements": [{"id": int(details["sourcedFromReference"]), "eventNumber": 1,
                          "sentenceEndDate": details["sentenceEndDate"]}]}]}, timeout=5)
    sns = boto3.client("sns", endpoint_url=endpoint, region_name="eu-west-2", aws_access_key_id="local",
                       aws_secret_access_key="local")
    message = referral_event(url, crn, details["referralId"])
    sns.publish(TopicArn=topic, Message=json.dumps(message),
                MessageAttributes={"eventType": {"DataType": "String", "StringValue": message["eventType"]}})
    print(f"published {CREATED} for {forename} {surname} ({crn}); detail at {url}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["send"]:
        return send_demo_referral(argv[1:])
    parser = argparse.ArgumentParser(description="Fake referral source (detailUrl of referral events)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9094)
    args = parser.parse_args(argv)
    source = start_referral_source(args.port, args.host)
    print(f"fake referral source listening on {source.url}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(1):
            pass
    except KeyboardInterrupt:
        pass
    source.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
