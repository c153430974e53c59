"""The nDelius client against the fake nDelius over real HTTP (and the circuit breaker against real Redis)."""

from __future__ import annotations

import random
import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
import requests

from app.integrations.ndelius import (
    AmbiguousResult,
    CircuitOpenError,
    ClashError,
    NDeliusClient,
    NotFoundError,
    NotSent,
    PermanentError,
    RedisCircuitBreaker,
    TransientError,
    appointment_reference,
    backoff_delay,
    bare_reference,
    build_appointment,
    local_schedule,
    parse_retry_after,
    retry_call,
    update_item,
)
from tests.conftest import REDIS_URL as TEST_REDIS_URL
from tests.fakes.ndelius import start_fake_ndelius

REDIS_URL = TEST_REDIS_URL.rsplit("/", 1)[0] + "/15"  # a database of its own on the run's Redis server
CLIENT_ID, CLIENT_SECRET = "programme-delivery", "local-secret"


@pytest.fixture(scope="module")
def fake():
    server = start_fake_ndelius()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fresh_fake(fake):
    fake.release()
    assert fake.wait_idle(), "a request from the previous test is still in flight"
    fake.reset()
    fake.set(now="2026-03-01T09:00")
    yield
    fake.release()


@pytest.fixture
def client(fake):
    c = NDeliusClient(fake.url, fake.token_url, CLIENT_ID, CLIENT_SECRET, connect_timeout=2, read_timeout=5)
    yield c
    c.close()


@pytest.fixture
def impatient(fake):
    """A client that gives up after 0.3 s: with ``hold_answers`` the answer never comes in time."""
    c = NDeliusClient(fake.url, fake.token_url, CLIENT_ID, CLIENT_SECRET, connect_timeout=2, read_timeout=0.3)
    yield c
    c.close()


@pytest.fixture
def redis_db():
    r = redis.Redis.from_url(REDIS_URL)
    r.flushdb()
    yield r
    r.flushdb()
    r.close()


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def appointment(**overrides):
    values = {
        "reference_uuid": uuid.uuid4(),
        "requirement_id": 1001,
        "licence_condition_id": None,
        "starts_at": datetime(2026, 3, 2, 10, 0),
        "ends_at": datetime(2026, 3, 2, 12, 30),
        "module_role": None,
        "staff_code": "N07B722",
        "team_code": "N07T01",
    }
    values.update(overrides)
    return build_appointment(**values)


def api_calls(fake, path="/appointments", method=None):
    return [c for c in fake.calls if c["path"] == path and (method is None or c["method"] == method)]


def raw_token(fake) -> str:
    answer = requests.post(
        fake.token_url, data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, CLIENT_SECRET), timeout=2
    )
    return answer.json()["access_token"]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- payloads ---------------------------------------------------------------------------------------------


def test_payload_maps_module_roles_to_contact_types_and_leaves_out_absent_optionals():
    pre = appointment(module_role="pre_group")
    post = appointment(
        module_role="post_programme",
        location_code="N07OFF1",
        outcome_code="ATTC",
        notes="went well",
        sensitive=True,
    )
    plain = appointment(module_role="session")
    assert pre["type"] == "PRE_GROUP_ONE_TO_ONE_MEETING"
    assert post["type"] == "THREE_WAY_MEETING"
    assert plain["type"] == "PROGRAMME_ATTENDANCE"
    assert appointment(module_role=None)["type"] == "PROGRAMME_ATTENDANCE"
    assert set(plain) == {
        "reference",
        "requirementId",
        "date",
        "startTime",
        "endTime",
        "staff",
        "team",
        "sensitive",
        "type",
    }
    assert post["location"] == {"code": "N07OFF1"} and post["outcome"] == {"code": "ATTC"}
    assert post["notes"] == "went well" and post["sensitive"] is True
    assert (plain["date"], plain["startTime"], plain["endTime"]) == ("2026-03-02", "10:00", "12:30")


def test_payload_needs_exactly_one_of_requirement_and_licence_condition():
    with pytest.raises(ValueError, match="exactly one"):
        appointment(requirement_id=1, licence_condition_id=2)
    with pytest.raises(ValueError, match="exactly one"):
        appointment(requirement_id=None, licence_condition_id=None)
    licence = appointment(requirement_id=None, licence_condition_id=77)
    assert licence["licenceConditionId"] == 77 and "requirementId" not in licence


def test_payload_keeps_the_london_wall_clock_across_the_clock_change():
    after_change = appointment(starts_at=datetime(2026, 3, 29, 10), ends_at=datetime(2026, 3, 29, 12))
    assert (after_change["date"], after_change["startTime"]) == ("2026-03-29", "10:00")
    aware = appointment(
        starts_at=datetime(2026, 6, 1, 9, tzinfo=UTC), ends_at=datetime(2026, 6, 1, 11, tzinfo=UTC)
    )
    assert (aware["startTime"], aware["endTime"]) == ("10:00", "12:00")
    with pytest.raises(ValueError, match="does not exist"):
        appointment(starts_at=datetime(2026, 3, 29, 1, 30), ends_at=datetime(2026, 3, 29, 3))
    with pytest.raises(ValueError, match="after"):
        appointment(starts_at=datetime(2026, 3, 2, 12), ends_at=datetime(2026, 3, 2, 10))


def test_reference_is_sent_as_the_uuid_and_the_urn_names_it():
    ref = uuid.uuid4()
    urn = appointment_reference(ref)
    assert urn == f"urn:uk:gov:hmpps:accredited-programmes:appointment:{ref}"
    assert bare_reference(urn) == bare_reference(ref) == str(ref)
    assert appointment(reference_uuid=ref)["reference"] == str(ref)
    with pytest.raises(ValueError):
        bare_reference("urn:hmpps:interventions-appointment:not-a-uuid")


def test_update_item_drops_create_only_fields():
    item = update_item(appointment(module_role="pre_group", notes="n"))
    assert "type" not in item and "requirementId" not in item
    assert item["notes"] == "n" and item["staff"] == {"code": "N07B722"}


def test_parse_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Sun, 01 Mar 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None


# --- round trips -------------------------------------------------------------------------------------------


def test_create_search_update_delete_round_trip(fake, client):
    fake.set(crn_by_requirement={1001: "X123456"}, crn_by_licence_condition={2002: "X654321"})
    first = appointment(module_role="pre_group", notes="booked")
    second = appointment(
        requirement_id=None,
        licence_condition_id=2002,
        starts_at=datetime(2026, 3, 3, 14),
        ends_at=datetime(2026, 3, 3, 15),
    )
    client.create([first, second])
    assert fake.count(first["reference"]) == 1
    assert fake.appointments[first["reference"]]["externalReference"] == appointment_reference(
        first["reference"]
    )

    found = client.search([1001], [2002], "2026-03-01", "2026-03-31")
    assert [(a["crn"], a["reference"]) for a in found] == [
        ("X123456", first["reference"]),
        ("X654321", second["reference"]),
    ]
    assert local_schedule(found[0])[1].strftime("%H:%M") == "10:00"
    assert found[0]["staff"]["code"] == "N07B722" and found[0]["notes"] == "booked"

    moved = {
        **first,
        "date": "2026-03-09",
        "startTime": "11:00",
        "endTime": "13:30",
        "outcome": {"code": "ATTC"},
    }
    moved.pop("notes")
    client.update([moved])
    (after,) = client.search([1001], [], "2026-03-01", "2026-03-31")
    assert (after["date"], local_schedule(after)[1].strftime("%H:%M")) == ("2026-03-09", "11:00")
    assert after["outcome"]["code"] == "ATTC" and after["outcome"]["attended"] is True
    assert after["notes"] == "booked"  # not sent, so not appended again

    client.update([{**moved, "notes": "moved to Monday"}])
    assert fake.appointments[first["reference"]]["notes"] == "booked\nmoved to Monday"

    client.delete([first["reference"], appointment_reference(second["reference"])])
    assert client.search([1001], [2002], "2026-03-01", "2026-03-31") == []
    assert fake.count(first["reference"]) == 0 and len(fake.deleted) == 2


def test_search_sends_at_most_500_ids_a_list_and_nothing_when_there_are_none(fake, client):
    assert client.search([], [], "2026-03-01", "2026-03-31") == []
    assert api_calls(fake, "/appointments/search") == []
    client.search(range(1, 1202), [5], "2026-03-01", "2026-03-31")
    bodies = [c["body"] for c in api_calls(fake, "/appointments/search")]
    assert [len(b["requirementIds"]) for b in bodies] == [500, 500, 201]
    assert [len(b["licenceConditionIds"]) for b in bodies] == [1, 0, 0]


def test_empty_writes_send_nothing(fake, client):
    client.create([])
    client.update([])
    client.delete([])
    assert api_calls(fake) == []


# --- the fake validates like nDelius ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, status, message",
    [
        (
            {"reference": "urn:uk:gov:hmpps:accredited-programmes:appointment:" + str(uuid.uuid4())},
            400,
            "UUID",
        ),
        ({"licenceConditionId": 9}, 400, "Either licence condition or requirement id"),
        ({"type": "GROUP_SESSION"}, 400, "type"),
        ({"date": "02/03/2026"}, 400, "date"),
        ({"startTime": "13:00"}, 400, "Start time must be before end time"),
        ({"date": "2026-02-27"}, 400, "Outcome must be provided when creating an appointment in the past"),
        ({"staff": {"code": "not a code"}}, 404, "Staff with code of not a code not found"),
        ({"outcome": {"code": "NOPE"}}, 404, "ContactOutcome"),
    ],
)
def test_fake_rejects_what_ndelius_rejects(fake, change, status, message):
    item = {**appointment(), **change}
    answer = requests.post(
        fake.url + "/appointments",
        json={"appointments": [item]},
        timeout=2,
        headers={"Authorization": f"Bearer {raw_token(fake)}"},
    )
    assert answer.status_code == status
    assert message in answer.json()["message"]
    assert fake.appointments == {}


def test_a_past_appointment_with_an_outcome_is_accepted(fake, client):
    past = appointment(
        starts_at=datetime(2026, 2, 2, 10), ends_at=datetime(2026, 2, 2, 11), outcome_code="UAAB"
    )
    client.create([past])
    assert fake.count(past["reference"]) == 1


def test_requests_without_a_valid_bearer_token_get_401(fake):
    answer = requests.post(
        fake.url + "/appointments/search",
        timeout=2,
        json={
            "requirementIds": [1],
            "licenceConditionIds": [],
            "fromDate": "2026-01-01",
            "toDate": "2026-01-02",
        },
    )
    assert answer.status_code == 401
    bad = requests.post(
        fake.token_url, data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, "wrong"), timeout=2
    )
    assert bad.status_code == 401


def test_unknown_reference_on_update_and_delete_is_not_found(client):
    with pytest.raises(NotFoundError) as error:
        client.update([appointment()])
    assert error.value.status == 404
    with pytest.raises(NotFoundError):
        client.delete([uuid.uuid4()])


def test_duplicate_reference_makes_a_second_contact_by_default_or_409_in_conflict_mode(fake, client):
    item = appointment()
    client.create([item])
    client.create([item])
    assert fake.count(item["reference"]) == 2  # nDelius has no unique check on the reference
    assert len(client.search([1001], [], "2026-03-02", "2026-03-02")) == 2

    fake.reset()
    fake.set(now="2026-03-01T09:00", duplicate_reference="conflict")
    client.create([item])
    client.create([item])  # identical: accepted, nothing new
    assert fake.count(item["reference"]) == 1
    with pytest.raises(ClashError):
        client.create([{**item, "startTime": "09:00"}])


# --- tokens ------------------------------------------------------------------------------------------------


def test_token_is_fetched_once_and_reused(fake, client):
    for _ in range(3):
        client.search([1], [], "2026-03-01", "2026-03-02")
    assert len(api_calls(fake, "/oauth/token")) == 1
    assert api_calls(fake, "/oauth/token")[0]["body"] == {"grant_type": "client_credentials"}


def test_token_is_renewed_before_it_expires(fake):
    clock = Clock()
    fake.set(token_expires_in=100)
    client = NDeliusClient(fake.url, fake.token_url, CLIENT_ID, CLIENT_SECRET, read_timeout=1, clock=clock)
    client.search([1], [], "2026-03-01", "2026-03-02")
    clock.now += 50
    client.search([1], [], "2026-03-01", "2026-03-02")
    assert len(api_calls(fake, "/oauth/token")) == 1
    clock.now += 50
    client.search([1], [], "2026-03-01", "2026-03-02")
    assert len(api_calls(fake, "/oauth/token")) == 2
    assert all(c["status"] == 200 for c in api_calls(fake, "/appointments/search"))


def test_a_401_fetches_a_new_token_once_and_repeats_the_call(fake, client):
    client.search([1], [], "2026-03-01", "2026-03-02")
    fake.revoke_tokens()
    client.search([1], [], "2026-03-01", "2026-03-02")
    assert [c["status"] for c in api_calls(fake, "/appointments/search")] == [200, 401, 200]
    assert len(api_calls(fake, "/oauth/token")) == 2

    fake.set(respond_next=[{"status": 401}, {"status": 401}])
    with pytest.raises(PermanentError) as error:
        client.search([1], [], "2026-03-01", "2026-03-02")
    assert error.value.status == 401
    assert len(api_calls(fake, "/oauth/token")) == 3


def test_wrong_credentials_are_a_permanent_error(fake):
    client = NDeliusClient(fake.url, fake.token_url, CLIENT_ID, "wrong", read_timeout=1)
    with pytest.raises(PermanentError) as error:
        client.search([1], [], "2026-03-01", "2026-03-02")
    assert error.value.status == 401
    assert api_calls(fake, "/appointments/search") == []


# --- retries -----------------------------------------------------------------------------------------------


def test_transient_failures_are_retried_with_full_jitter_backoff(fake, client):
    fake.set(fail_5xx=2)
    sleeps = Sleeps()
    found = retry_call(
        lambda: client.search([1], [], "2026-03-01", "2026-03-02"), sleep=sleeps, rng=lambda: 1.0
    )
    assert found == []
    assert sleeps == [0.5, 1.0]  # the upper bounds min(cap, 0.5 * 2**n)
    assert [c["status"] for c in api_calls(fake, "/appointments/search")] == [503, 503, 200]


def test_retries_stop_after_the_last_attempt(fake, client):
    fake.set(fail_5xx=10)
    sleeps = Sleeps()
    with pytest.raises(TransientError) as error:
        retry_call(lambda: client.search([1], [], "2026-03-01", "2026-03-02"), attempts=3, sleep=sleeps)
    assert error.value.status == 503
    assert len(sleeps) == 2 and len(api_calls(fake, "/appointments/search")) == 3


def test_backoff_waits_stay_within_the_full_jitter_bounds():
    rng = random.Random(1234).random
    for n in range(12):
        for _ in range(50):
            assert 0 <= backoff_delay(n, base=0.5, cap=8, rng=rng) <= min(8, 0.5 * 2**n)


def test_retry_after_is_honoured(fake, client):
    fake.set(fail_5xx=1, retry_after=3)
    sleeps = Sleeps()
    retry_call(lambda: client.search([1], [], "2026-03-01", "2026-03-02"), sleep=sleeps, rng=lambda: 0.0)
    assert sleeps == [3.0]


def test_a_retry_after_longer_than_the_cap_is_left_to_the_caller(fake, client):
    fake.set(fail_5xx=1, retry_after=120)
    sleeps = Sleeps()
    with pytest.raises(TransientError) as error:
        retry_call(lambda: client.search([1], [], "2026-03-01", "2026-03-02"), cap=8, sleep=sleeps)
    assert error.value.retry_after == 120 and sleeps == []


@pytest.mark.parametrize(
    "switch, error_class, status",
    [
        ({"invalid_requirement_400": 1}, PermanentError, 400),
        ({"clash_409": 1}, ClashError, 409),
        (
            {"respond_next": [{"status": 403, "body": {"status": 403, "message": "Forbidden"}}]},
            PermanentError,
            403,
        ),
        (
            {"respond_next": [{"status": 422, "body": {"status": 422, "message": "Unprocessable"}}]},
            PermanentError,
            422,
        ),
    ],
)
def test_client_errors_are_not_retried(fake, client, switch, error_class, status):
    fake.set(**switch)
    sleeps = Sleeps()
    item = appointment()
    with pytest.raises(error_class) as error:
        retry_call(lambda: client.create([item]), sleep=sleeps)
    assert error.value.status == status and not isinstance(error.value, TransientError)
    assert sleeps == [] and len(api_calls(fake, method="POST")) == 1
    assert fake.count(item["reference"]) == 0


def test_invalid_requirement_ids_is_recognised_as_a_terminated_requirement(fake, client):
    fake.set(terminated_requirements=[1001])
    with pytest.raises(PermanentError) as error:
        client.create([appointment()])
    assert error.value.terminated_requirement
    assert "Invalid Requirement IDs" in error.value.message


def test_a_clash_on_one_reference_fails_only_the_request_carrying_it(fake, client):
    clashing, fine = appointment(), appointment()
    fake.set(clash_references=[clashing["reference"]])
    with pytest.raises(ClashError):
        client.create([clashing])
    client.create([fine])
    assert fake.count(fine["reference"]) == 1 and fake.count(clashing["reference"]) == 0


# --- lost answers ------------------------------------------------------------------------------------------


def test_commit_then_drop_is_ambiguous_and_the_appointment_exists(fake, client):
    item = appointment()
    fake.set(commit_then_drop=1)
    sleeps = Sleeps()
    with pytest.raises(AmbiguousResult):
        retry_call(lambda: client.create([item]), sleep=sleeps)
    assert sleeps == []  # never blindly re-sent
    assert fake.count(item["reference"]) == 1

    assert client.create_if_absent(item) is False
    assert fake.count(item["reference"]) == 1
    other = appointment()
    assert client.create_if_absent(other) is True
    assert fake.count(other["reference"]) == 1


def test_a_read_timeout_on_a_write_is_ambiguous_and_on_a_read_transient(fake, impatient):
    item = appointment()
    fake.set(hold_answers=1)  # applied, then the answer is held until released
    with pytest.raises(AmbiguousResult, match="no answer"):
        impatient.create([item])
    assert fake.count(item["reference"]) == 1  # applied, answer lost
    fake.release()

    fake.set(hold_answers=1)
    with pytest.raises(TransientError) as error:
        impatient.search([1001], [], "2026-03-01", "2026-03-31")
    assert not isinstance(error.value, AmbiguousResult)


def test_a_call_whose_answer_could_not_come_before_the_deadline_is_not_sent(fake, client):
    import time

    with pytest.raises(NotSent):
        client.create([appointment()], deadline=time.monotonic() + client.call_seconds - 1)
    assert api_calls(fake, "/appointments") == [] and client.calls == 0
    client.create([appointment()], deadline=time.monotonic() + client.call_seconds + 30)
    assert len(api_calls(fake, "/appointments")) == 1 and client.calls == 1


def test_a_dropped_connection_on_delete_then_delete_again_is_not_found(fake, client):
    item = appointment()
    client.create([item])
    fake.set(commit_then_drop=1)
    with pytest.raises(AmbiguousResult):
        client.delete([item["reference"]])
    with pytest.raises(NotFoundError):  # absent now: the delete had happened
        client.delete([item["reference"]])


def test_a_gateway_error_on_a_write_is_ambiguous(fake, client):
    fake.set(respond_next=[{"status": 504}, {"status": 502}])
    with pytest.raises(AmbiguousResult):
        client.create([appointment()])
    with pytest.raises(TransientError) as error:
        client.search([1], [], "2026-03-01", "2026-03-02")
    assert not isinstance(error.value, AmbiguousResult)


def test_connection_refused_is_transient_and_not_ambiguous(fake):
    client = NDeliusClient(
        f"http://127.0.0.1:{closed_port()}",
        fake.token_url,
        CLIENT_ID,
        CLIENT_SECRET,
        connect_timeout=0.5,
        read_timeout=0.5,
    )
    with pytest.raises(TransientError) as error:
        client.create([appointment()])
    assert not isinstance(error.value, AmbiguousResult)
    assert "could not connect" in str(error.value)


# --- circuit breaker (state in Redis) ----------------------------------------------------------------------


def test_circuit_opens_after_fail_max_failures_and_half_opens_after_the_reset_timeout(redis_db):
    clock = Clock()
    breaker = RedisCircuitBreaker(redis_db, name="ndelius", fail_max=3, reset_timeout=60, clock=clock)
    assert breaker.state == "closed" and breaker.allow()
    breaker.failure()
    breaker.failure()
    assert breaker.state == "closed"
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()

    clock.now += 59
    assert breaker.state == "open"
    clock.now += 1
    assert breaker.state == "half_open"
    assert breaker.allow() is True  # the one trial call
    assert breaker.allow() is False  # everyone else waits for it
    breaker.failure()
    assert breaker.state == "open"  # trial failed: open for another reset_timeout

    clock.now += 60
    assert breaker.allow() is True
    breaker.success()
    assert breaker.state == "closed" and breaker.failures == 0


def test_a_success_resets_the_consecutive_failure_count(redis_db):
    breaker = RedisCircuitBreaker(redis_db, fail_max=2, clock=Clock())
    breaker.failure()
    breaker.success()
    breaker.failure()
    assert breaker.state == "closed"


def test_circuit_state_is_shared_between_processes_through_redis(redis_db):
    clock = Clock()
    one = RedisCircuitBreaker(redis_db, name="shared", fail_max=2, reset_timeout=30, clock=clock)
    other = RedisCircuitBreaker(
        redis.Redis.from_url(REDIS_URL), name="shared", fail_max=2, reset_timeout=30, clock=clock
    )
    one.failure()
    other.failure()
    assert one.state == other.state == "open"
    clock.now += 30
    assert one.allow() and not other.allow()


def test_breaker_stops_calling_a_failing_ndelius_and_probes_it_after_the_timeout(fake, client, redis_db):
    clock = Clock()
    breaker = RedisCircuitBreaker(redis_db, fail_max=3, reset_timeout=60, clock=clock)
    fake.set(fail_5xx=3)

    def search():
        return client.search([1], [], "2026-03-01", "2026-03-02")

    for _ in range(3):
        with pytest.raises(TransientError):
            breaker.call(search)
    assert breaker.state == "open"
    with pytest.raises(CircuitOpenError) as error:
        breaker.call(search)
    assert error.value.retry_after == 60
    assert len(api_calls(fake, "/appointments/search")) == 3  # the open circuit sent nothing

    clock.now += 60
    assert breaker.state == "half_open"
    assert breaker.call(search) == []
    assert breaker.state == "closed"


def test_a_business_error_does_not_trip_the_breaker(fake, client, redis_db):
    breaker = RedisCircuitBreaker(redis_db, fail_max=1, clock=Clock())
    fake.set(clash_409=1)
    with pytest.raises(ClashError):
        breaker.call(lambda: client.create([appointment()]))
    assert breaker.state == "closed"


# --- the fake's HTTP control interface ---------------------------------------------------------------------


def test_fake_is_controlled_over_http(fake):
    assert requests.get(fake.url + "/health", timeout=2).json() == {"status": "UP"}
    answer = requests.post(fake.url + "/__control", json={"fail_5xx": 2, "latency_ms": 1}, timeout=2)
    assert answer.status_code == 200 and answer.json()["switches"]["fail_5xx"] == 2
    assert requests.post(fake.url + "/__control", json={"nonsense": 1}, timeout=2).status_code == 400
    item = {**appointment(), "crn": "X999999"}
    assert requests.post(fake.url + "/__seed", json={"appointments": [item]}, timeout=2).status_code == 201
    state = requests.get(fake.url + "/__state", timeout=2).json()
    assert state["switches"]["fail_5xx"] == 2 and item["reference"] in state["appointments"]
    assert state["appointments"][item["reference"]]["crn"] == "X999999"
    requests.post(fake.url + "/__forget", json={"references": [item["reference"]]}, timeout=2)
    assert fake.count(item["reference"]) == 0
    requests.post(fake.url + "/__reset", timeout=2)
    assert fake.switches["fail_5xx"] == 0 and fake.calls == []


def test_fake_records_peak_concurrency(fake):
    token = raw_token(fake)
    fake.set(hold_answers=3)
    body = {
        "requirementIds": [1],
        "licenceConditionIds": [],
        "fromDate": "2026-03-01",
        "toDate": "2026-03-02",
    }

    threads = [
        threading.Thread(
            target=requests.post,
            args=(fake.url + "/appointments/search",),
            kwargs={"json": body, "timeout": 2, "headers": {"Authorization": f"Bearer {token}"}},
        )
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    assert fake.wait_until(lambda f: f.held == 3)  # all three in flight at once, whatever the machine's load
    assert fake.peak_concurrency == 3
    fake.release()
    for t in threads:
        t.join()
    assert fake.wait_idle() and fake.in_flight == 0


def test_search_window_is_inclusive_and_skips_other_components(fake, client):
    inside = appointment(starts_at=datetime(2026, 3, 31, 10), ends_at=datetime(2026, 3, 31, 11))
    outside = appointment(starts_at=datetime(2026, 4, 1, 10), ends_at=datetime(2026, 4, 1, 11))
    elsewhere = appointment(requirement_id=1002)
    client.create([inside, outside, elsewhere])
    found = client.search(
        [1001], [], datetime(2026, 3, 1).date(), (datetime(2026, 3, 1) + timedelta(days=30)).date()
    )
    assert [a["reference"] for a in found] == [inside["reference"]]
    with pytest.raises(ValueError):
        client.search([1001], [], "2026-03-02", "2026-03-01")
