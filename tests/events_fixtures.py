"""Fixtures for domain events (issue 14): a real SNS/SQS server (moto in server mode) for the session, with our
topic, queue, dead-letter queue and an observer queue made afresh for each test; the app pointed at it."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask

from tests.fakes.sns_sqs import LocalSnsSqs, start_local_sns_sqs

DETAIL_READER = "events-reader"  # an HMPPS Auth client with DETAIL_API_ROLE (registered by `sns_sqs`)
OTHER_CLIENT = "other-client"  # one without it


def client_token(app: Flask, client: str = DETAIL_READER) -> str:
    """A client-credentials token from the run's fake HMPPS Auth, as nDelius's integration service has."""
    answer = requests.post(app.config["HMPPS_AUTH_URL"] + "/oauth/token", auth=(client, "s"), timeout=5,
                           data={"grant_type": "client_credentials"})
    answer.raise_for_status()
    return str(answer.json()["access_token"])
TOPIC_ARN = "arn:aws:sns:eu-west-2:123456789012:hmpps-domain-events"


@pytest.fixture(scope="session")
def _sns_sqs_server() -> Iterator[LocalSnsSqs]:
    server = start_local_sns_sqs()
    yield server
    server.stop()


@dataclass
class Topology:
    server: LocalSnsSqs
    topic_arn: str
    queue_url: str
    dlq_url: str
    observer_url: str

    def published(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """Everything published on the topic since the last call (optionally one event type)."""
        messages = self.server.published(self.observer_url)
        return [m for m in messages if event_type is None or m["eventType"] == event_type]


@pytest.fixture
def sns_sqs(app: Flask, _sns_sqs_server: LocalSnsSqs) -> Iterator[Topology]:
    from app.integrations.domain_events import Broker

    _sns_sqs_server.reset()
    url = _sns_sqs_server.url
    saved = {k: app.config[k] for k in ("AWS_ENDPOINT_URL", "DOMAIN_EVENTS_TOPIC_ARN", "DOMAIN_EVENTS_QUEUE_URL",
                                        "DOMAIN_EVENTS_DLQ_URL")}
    app.config.update(AWS_ENDPOINT_URL=url, DOMAIN_EVENTS_TOPIC_ARN=TOPIC_ARN,
                      DOMAIN_EVENTS_QUEUE_URL=f"{url}/123456789012/programme-delivery-domain-events",
                      DOMAIN_EVENTS_DLQ_URL=f"{url}/123456789012/programme-delivery-domain-events-dlq")
    requests.post(app.config["HMPPS_AUTH_URL"] + "/__clients", timeout=5, json={"clients": [
        {"client_id": DETAIL_READER, "client_secret": "s", "grant_types": ["client_credentials"],
         "authorities": [app.config["DETAIL_API_ROLE"]]},
        {"client_id": OTHER_CLIENT, "client_secret": "s", "grant_types": ["client_credentials"],
         "authorities": ["ROLE_OTHER"]}]}).raise_for_status()
    made = Broker.from_config(app.config).provision(visibility_timeout=30, max_receives=3)
    app.config.update(DOMAIN_EVENTS_QUEUE_URL=made["queue_url"], DOMAIN_EVENTS_DLQ_URL=made["dlq_url"])
    observer = _sns_sqs_server.observer_queue(made["topic_arn"])
    yield Topology(_sns_sqs_server, made["topic_arn"], made["queue_url"], made["dlq_url"], observer)
    app.config.update(saved)


@pytest.fixture(scope="session")
def _case_ndelius_server(_fakes):  # type: ignore[no-untyped-def]
    from tests.fakes.ndelius import start_fake_ndelius

    server = start_fake_ndelius(hmpps_auth_url=_fakes["HMPPS_AUTH_URL"])  # takes our tokens from HMPPS Auth
    yield server
    server.stop()


@pytest.fixture
def case_ndelius(app: Flask, _case_ndelius_server, monkeypatch):  # type: ignore[no-untyped-def]
    """The fake nDelius (case reads, LAO, appointments), emptied, with the app pointed at it."""
    _case_ndelius_server.reset()
    for name, value in {"NDELIUS_URL": _case_ndelius_server.url,
                        "NDELIUS_READ_TIMEOUT": 2, "NDELIUS_CONNECT_TIMEOUT": 1}.items():
        monkeypatch.setitem(app.config, name, value)
    return _case_ndelius_server


@pytest.fixture(scope="session")
def _referral_source_server():  # type: ignore[no-untyped-def]
    from tests.fakes.referral_source import start_referral_source

    server = start_referral_source()
    yield server
    server.stop()


@pytest.fixture
def referral_source(_referral_source_server):  # type: ignore[no-untyped-def]
    _referral_source_server.reset()
    return _referral_source_server
