"""Fixtures and helpers shared by the nDelius relay and reconciliation tests (the fake nDelius over real HTTP).

Import the fixtures a test module needs: ``from tests.integration.ndelius_kit import fake, manager, nd``."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.integrations.ndelius import NDeliusClient
from app.models import Attendee, NDeliusAppointment, Session
from app.models.base import utcnow
from app.services import ndelius_sync
from tests.fakes.ndelius import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, start_fake_ndelius

NOW = datetime(2026, 3, 1, 9, 0)  # before the groups' first sessions (23 March 2026)


@pytest.fixture(scope="module")
def fake():
    server = start_fake_ndelius()
    yield server
    server.stop()


@pytest.fixture
def nd(app, fake, monkeypatch):
    """The fake nDelius, emptied, with the app pointed at it and both clocks at NOW."""
    fake.release()
    assert fake.wait_idle(), "a request from the previous test is still in flight"
    fake.reset()
    fake.set(now=NOW.isoformat(timespec="minutes"))
    clock.freeze(NOW)
    for name, value in {"NDELIUS_URL": fake.url, "HMPPS_AUTH_URL": fake.url, "NDELIUS_READ_TIMEOUT": 5,
                        "NDELIUS_CONNECT_TIMEOUT": 2, "NDELIUS_RETRY_BASE": 30, "NDELIUS_RETRY_CAP": 600}.items():
        monkeypatch.setitem(app.config, name, value)
    yield fake
    fake.release()


@pytest.fixture
def manager(world):
    return world.user(world.region(), "treatment_manager")


def client_for(fake, *, read_timeout: float = 5, connect_timeout: float = 2) -> NDeliusClient:
    return NDeliusClient(fake.url, fake.token_url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
                         connect_timeout=connect_timeout, read_timeout=read_timeout)


def started_group(world, manager, people=1, code="G1"):
    members = tuple(world.referral(manager.region) for _ in range(people))
    group = world.group(manager, code=code, members=members)
    group.location_code = "LOC1"
    db.session.commit()
    return world.started(group, manager)


def appointments(group=None):
    query = (select(NDeliusAppointment).join(Attendee, Attendee.id == NDeliusAppointment.attendee_id)
             .join(Session, Session.id == Attendee.session_id).order_by(Session.starts_at, Attendee.id))
    if group is not None:
        query = query.where(Session.group_id == group.id)
    db.session.expire_all()
    return list(db.session.scalars(query))


def later(minutes=30):
    return lambda: utcnow() + timedelta(minutes=minutes)


def frozen():
    at = utcnow()
    return lambda: at


def drain(**kwargs):
    kwargs.setdefault("breaker", False)
    result = ndelius_sync.drain(**kwargs)
    db.session.expire_all()
    return result


def posts(fake):
    return fake.api_calls("POST", "/appointments")


def items(fake, method, path="/appointments"):
    """Every item sent in the arrays of these calls, in order."""
    return [item for call in fake.api_calls(method, path) for item in call["body"]["appointments"]]


def references(fake, method):
    return [item["reference"] for item in items(fake, method)]


def assert_arrays_bounded(fake, most=50):
    """Every write went as an array of 1 to ``most`` items, every search with 1 to 500 ids of a kind."""
    for call in fake.api_calls(path="/appointments"):
        assert 1 <= len(call["body"]["appointments"]) <= most, (call["method"], len(call["body"]["appointments"]))
    for call in fake.api_calls("POST", "/appointments/search"):
        body = call["body"]
        assert body["requirementIds"] or body["licenceConditionIds"]
        assert len(body["requirementIds"]) <= 500 and len(body["licenceConditionIds"]) <= 500


def assert_one_each(fake, expected):
    """nDelius holds exactly one live appointment per reference we hold, each created once, and nothing else."""
    refs = {str(a.reference) for a in expected}
    assert {ref: fake.count(ref) for ref in refs} == dict.fromkeys(refs, 1)
    assert {ref: fake.creates_of(ref) for ref in refs} == dict.fromkeys(refs, 1)
    assert set(fake.appointments) == refs and fake.duplicates == []
