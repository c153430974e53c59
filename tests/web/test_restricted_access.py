"""Restricted access (LAO, issue 14.4) on every page: a person nDelius says a user may not see appears as
"Restricted" (their name and CRN never reach that user's browser, exports included), counts stay right, their
page answers 403 with a plain explanation, and each page asks nDelius once (batched, cached)."""
from __future__ import annotations

import html
import json
import re
import time
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from app.extensions import db
from app.models import Attendee, Referral, Session, User
from app.services import attendance as attendance_service
from app.services import lao as lao_service
from app.web.permissions import MATRIX
from tests.conftest import Browser
from tests.web.regions import ROLES, build_region, fill

SENTINELS = ("Person Rowan 0", "R000000", "Waiting Rowan", "R999999")
VISIBLE = ("Person Rowan 1", "R000001")


# For each role, a user nDelius lets see the restricted person (R000000) and one it refuses: each page is crawled
# as both and compared. The refused treatment manager is a second manager of the same region.
PERMITTED = {"facilitator": "facilitator.seer", "treatment_manager": "treatment_manager.rrr", "lead": "lead.seer",
             "admin": "admin.seer"}
REFUSED = {"facilitator": "facilitator.rrr", "treatment_manager": "refused_tm.rrr", "lead": "lead.rrr",
           "admin": "admin.rrr"}


@pytest.fixture
def lao(app, world, case_ndelius, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setitem(app.config, "LAO_CHECKS", True)
    users, ids = build_region(world, "RRR", "Rowan")
    region, facilitator = users["facilitator"].region, users["facilitator"].facilitator
    for role in ROLES:
        for username in (PERMITTED[role], REFUSED[role]):
            if username != f"{role}.rrr":
                # a facilitator's row can belong to one user only: the two facilitators take turns (_turn)
                world.user(region, role, username, name=facilitator.name if role == "facilitator" else None)
    case_ndelius.cases.add(
        {"crn": "R000000", "forename": "Person", "surname": "Rowan 0", "dateOfBirth": "1980-01-01",
         "restrictedTo": list(PERMITTED.values())},
        {"crn": "R999999", "forename": "Waiting", "surname": "Rowan", "dateOfBirth": "1980-01-01",
         "excluded": list(REFUSED.values())})
    ids["restricted_id"] = db.session.query(Referral).filter_by(crn="R000000").one().id
    # the restricted person missed the first session: a catch-up candidate on its catch-up page
    missed = db.session.query(Attendee).filter_by(session_id=ids["session_id"], referral_id=ids["restricted_id"]).one()
    attendance_service.record(users["treatment_manager"], missed, outcome="UAAB", seen_version=None)
    db.session.commit()
    ids["region_id"] = region.id
    return {"users": users, "ids": ids, "nd": case_ndelius}


def _pages(app, ids):  # type: ignore[no-untyped-def]
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    for endpoint in sorted(MATRIX):
        rule = rules[endpoint]
        if "GET" in rule.methods:
            yield endpoint, fill(rule, ids)
    # pages whose content depends on their query: calendar views and scopes, reports, finding a group, searches
    group, session, rid, fid = ids["group_id"], ids["session_id"], ids["restricted_id"], ids["facilitator_id"]
    for view in ("week", "month"):
        for scope in ("region", f"group-{group}", f"facilitator-{fid}"):
            yield "calendar.index", f"/calendar?view={view}&date=2026-03-23&scope={scope}"
    yield "calendar.index", f"/calendar?view=week&date=2026-03-23&scope=region&region_id={ids['region_id']}"
    for report in ("group-size", "facilitator-continuity", "session-rate", "dosage"):
        yield f"reports.{report.replace('-', '_')}", f"/reports/{report}.csv?region_id={ids['region_id']}"
    yield "reports.index", f"/reports?region_id={ids['region_id']}"
    yield "referrals.find_group", f"/referrals/{rid}/groups"
    yield "referrals.index", "/referrals?q=Rowan"
    yield "referrals.index", f"/referrals?region_id={ids['region_id']}"
    yield "progress.export", f"/progress/export.csv?group_id={group}"
    yield "progress.index", f"/progress?region_id={ids['region_id']}"
    yield "register.catch_up", f"/sessions/{session}/catch-up?person={rid}"
    yield "sync_state.states", f"/sync-states?register={session}&sessions={session}"
    yield "membership.allocate", f"/groups/{group}/members/allocate?q=Rowan"


def _turn(role: str, username: str, facilitator_id: int) -> None:
    """Facilitators see the sessions they facilitate: the group's lead facilitator is this user's for now."""
    if role != "facilitator":
        return
    db.session.query(User).filter(User.facilitator_id == facilitator_id).update({"facilitator_id": None})
    db.session.flush()
    db.session.query(User).filter(User.username == username).update({"facilitator_id": facilitator_id})
    db.session.commit()


SCRIPT = re.compile(r"<(script|style)\b.*?</\1>", re.DOTALL)
TAG = re.compile(r"<[^>]+>")
# a count as a person reads it: "1 of 2", "(2)", "2 members", "3 sessions"
COUNT = re.compile(r"\b\d+ of \d+\b|\(\d+\)|\b\d+ (?:people|person|members?|sessions?|places?|referrals?|groups?"
                   r"|waiting|attended|missed|recorded|completed)\b")


def _text(body: str) -> str:
    """What a person reads: the body without scripts, styles and tags (attributes are not read)."""
    return html.unescape(" ".join(TAG.sub(" ", SCRIPT.sub(" ", body)).split()))


def _figures(text: str, signed_in: str) -> list[str]:
    """Every count a person reads, in order, once the restricted people's own details and the name of whoever
    is signed in are taken out."""
    text = text.replace(signed_in, "")
    for secret in ("Person Rowan 0", "Waiting Rowan", "R000000", "R999999"):
        text = text.replace(secret, "Restricted")
    return COUNT.findall(text)


@pytest.mark.parametrize("role", ROLES)
def test_a_restricted_person_appears_nowhere_for_a_user_who_may_not_see_them(app, lao, role):  # type: ignore[no-untyped-def]
    """Every page (and the query-dependent ones) is opened by a user who may see the restricted person and by one
    of the same role who may not: where the first reads the name, the second reads "Restricted", no name, CRN or
    link to their page reaches the second's browser, and every figure (counts, totals, dates) is the same."""
    ids = lao["ids"]
    seer, refused = Browser(app, app.test_client()), Browser(app, app.test_client())
    seer.sign_in(PERMITTED[role])
    refused.sign_in(REFUSED[role])
    names = {u.username: u.name for u in db.session.query(User).filter(
        User.username.in_((PERMITTED[role], REFUSED[role])))}
    person_links = (f'/people/{ids["restricted_id"]}"', f'/people/{ids["referral_id"]}"')
    leaks, crawled, restricted_shown, compared = [], 0, [], 0
    for endpoint, url in _pages(app, ids):
        if role not in MATRIX[endpoint]:
            continue
        _turn(role, PERMITTED[role], ids["facilitator_id"])
        seen = seer.get(url)
        _turn(role, REFUSED[role], ids["facilitator_id"])
        before = len(lao["nd"].cases.access_calls)
        response = refused.get(url)
        calls = lao["nd"].cases.access_calls[before:]
        crawled += 1
        body = response.get_data(as_text=True)
        leaks += [f"{url} shows {s}" for s in SENTINELS if s in body]
        leaks += [f"{url} links to {link}" for link in person_links if link in body]
        if len(calls) > 1:
            leaks.append(f"{url} asked nDelius {len(calls)} times: {calls}")
        if url.startswith("/people/") or re.fullmatch(r"/referrals/\d+/groups", url):
            assert response.status_code == 403, url  # their own pages are withheld from these users
            continue
        assert response.status_code == seen.status_code, url
        if seen.status_code != 200:
            continue
        seen_text, text = _text(seen.get_data(as_text=True)), _text(body)
        shown = sum(seen_text.count(name) for name in ("Person Rowan 0", "Waiting Rowan"))
        if shown:
            restricted_shown.append(endpoint)
            if text.count("Restricted") <= seen_text.count("Restricted"):
                leaks.append(f"{url}: {shown} names read by the permitted user, no more 'Restricted' for the other")
        figures = _figures(seen_text, names[PERMITTED[role]]), _figures(text, names[REFUSED[role]])
        if figures[0] != figures[1]:
            leaks.append(f"{url}: figures differ: {figures[0]} != {figures[1]}")
        compared += 1
    assert leaks == [], "\n".join(leaks)
    assert crawled > 10 and compared > 5
    assert {"groups.show", "register.show"} <= set(restricted_shown)
    if role != "facilitator":
        assert {"progress.group", "referrals.index", "reports.dosage"} <= set(
            restricted_shown)
    if role in ("treatment_manager", "admin"):
        assert {"register.catch_up", "membership.allocate"} <= set(restricted_shown)

    page = refused.get(f"/people/{ids['restricted_id']}")
    assert page.status_code == 403
    text = page.get_data(as_text=True)
    assert "You cannot see this person" in text and "restricts who may see" in text
    assert not any(s in text for s in SENTINELS)
    assert seer.get(f"/people/{ids['restricted_id']}").status_code == 200


def test_the_register_and_the_export_show_restricted_rows_and_keep_counts(app, lao):  # type: ignore[no-untyped-def]
    ids = lao["ids"]
    person = Browser(app, app.test_client())
    person.sign_in("lead.rrr")
    register = person.get(f"/sessions/{ids['session_id']}").get_data(as_text=True)
    assert 'data-restricted="true"' in register and "This is a restricted record" in register
    assert "Person Rowan 1" in register and not any(s in register for s in SENTINELS)
    # the restricted person still counts: both expected, and their recorded absence is one of the two recorded
    assert '<span class="app-register__count-number">1 of 2</span> recorded' in register
    assert register.count('data-restricted="true"') == 1
    grid = person.get(f"/progress/groups/{ids['group_id']}").get_data(as_text=True)
    assert "Restricted" in grid and f"/people/{ids['restricted_id']}" not in grid  # masked, not linked
    assert "Person Rowan 1" in grid and not any(s in grid for s in SENTINELS)

    export = person.get(f"/progress/export.csv?group_id={ids['group_id']}").get_data(as_text=True)
    lines = export.strip().splitlines()
    assert len(lines) == 3  # header + both members
    assert any(",Restricted," in line for line in lines) and "Person Rowan 1" in export
    assert not any(s in export for s in SENTINELS)


def test_a_restricted_persons_details_typed_into_session_notes_are_scrubbed_from_the_register_kept_or_not(  # type: ignore[no-untyped-def]
        app, lao):
    """The safety net behind the masking: someone typed a restricted person's CRN and name into a session's notes,
    a person not on its register (waiting to join). A user who may not see them reads "Restricted" there, on the
    register as it is worked out and on the same register kept for their next load (whose CRNs were found once,
    when it was kept)."""
    ids = lao["ids"]
    session = db.session.get(Session, ids["session_id"])
    session.notes = "R999999 (Waiting Rowan) came to ask; Person Rowan 1 stayed"
    db.session.commit()
    person = Browser(app, app.test_client())
    person.sign_in("lead.rrr")
    for load in ("worked out", "kept"):
        body = person.get(f"/sessions/{ids['session_id']}").get_data(as_text=True)
        assert "Restricted (Restricted) came to ask; Person Rowan 1 stayed" in body, load
        assert not any(s in body for s in SENTINELS), load
    seer = Browser(app, app.test_client())
    seer.sign_in("lead.seer")
    assert "R999999 (Waiting Rowan) came to ask" in seer.get(f"/sessions/{ids['session_id']}").get_data(as_text=True)


def test_the_person_who_may_see_them_does_and_answers_are_cached(app, lao):  # type: ignore[no-untyped-def]
    ids = lao["ids"]
    person = Browser(app, app.test_client())
    person.sign_in("treatment_manager.rrr")
    page = person.get(f"/people/{ids['restricted_id']}")
    assert page.status_code == 200 and "Person Rowan 0" in page.get_data(as_text=True)
    group = person.get(f"/groups/{ids['group_id']}").get_data(as_text=True)
    assert "Person Rowan 0" in group and "R000000" in group
    calls = len(lao["nd"].cases.access_calls)
    person.get(f"/groups/{ids['group_id']}")
    assert len(lao["nd"].cases.access_calls) == calls  # answered from the cache


class _CountingRedis:
    """The Redis connection lao.py uses, noting the CRNs each read asks for."""

    def __init__(self, connection: Any, asked: list[list[str]]) -> None:
        self.connection, self.asked = connection, asked

    def mget(self, keys: list[str]) -> Any:
        self.asked.append([key.rsplit(":", 1)[1] for key in keys])
        return self.connection.mget(keys)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connection, name)


def test_each_server_process_keeps_fresh_answers_until_they_are_due_and_loses_them_with_redis(  # type: ignore[no-untyped-def]
        app, lao, redis, monkeypatch):
    """A page asks nDelius once; the same process answers the next load itself (neither nDelius nor Redis is
    asked about those people), until LAO_CACHE_SECONDS after nDelius answered; and if Redis loses its answers,
    the process's copies are gone too."""
    asked: list[list[str]] = []
    connection = lao_service._redis
    monkeypatch.setattr(lao_service, "_redis", lambda: _CountingRedis(connection(), asked))
    group = f"/groups/{lao['ids']['group_id']}"
    person = Browser(app, app.test_client())
    person.sign_in("treatment_manager.rrr")

    def load() -> tuple[int, list[list[str]]]:
        calls, asked[:] = len(lao["nd"].cases.access_calls), []
        body = person.get(group).get_data(as_text=True)
        assert "Person Rowan 0" in body and "R000000" in body  # they may see them, every time
        return len(lao["nd"].cases.access_calls) - calls, list(asked)

    first = load()
    assert first[0] == 1 and "R000000" in first[1][0]  # nDelius asked once, after Redis
    assert load() == (0, [])  # kept by this process: nobody asked
    later = time.time() + app.config["LAO_CACHE_SECONDS"] + 1
    monkeypatch.setattr(lao_service, "time", SimpleNamespace(time=lambda: later))
    due = load()
    assert due[0] == 1 and "R000000" in due[1][0]  # due again: Redis's answer is as old, so nDelius is asked
    assert load() == (0, [])
    redis.flushdb()  # Redis lost its answers (and the token they were kept under)
    lost = load()
    assert lost[0] == 1 and "R000000" in lost[1][0]


def test_access_checks_use_one_hmpps_auth_token_until_it_is_due(app, lao, redis):  # type: ignore[no-untyped-def]
    """Each load whose people nobody kept asks nDelius again, every time with the token HMPPS Auth gave for the
    first check: HMPPS Auth is not asked for a token on every check."""
    group = f"/groups/{lao['ids']['group_id']}"
    person = Browser(app, app.test_client())
    person.sign_in("treatment_manager.rrr")
    app.extensions.pop("lao_clients", None)  # as in a server process just started: no token yet

    def token_requests() -> int:
        calls = requests.get(app.config["HMPPS_AUTH_URL"] + "/__state", timeout=5).json()["calls"]
        return sum(1 for call in calls if (call["method"], call["path"]) == ("POST", "/oauth/token"))

    tokens, asked = token_requests(), len(lao["nd"].cases.access_calls)
    for _ in range(3):
        redis.flushdb()  # nothing kept anywhere: nDelius is asked
        assert "Person Rowan 0" in person.get(group).get_data(as_text=True)
    assert len(lao["nd"].cases.access_calls) - asked == 3
    assert token_requests() - tokens == 1


def test_while_ndelius_cannot_answer_unchecked_people_are_withheld(app, lao):  # type: ignore[no-untyped-def]
    ids = lao["ids"]
    lao["nd"].cases.control("POST", json.dumps({"fail_5xx": 5}).encode())
    person = Browser(app, app.test_client())
    person.sign_in("treatment_manager.rrr")
    body = person.get(f"/groups/{ids['group_id']}").get_data(as_text=True)
    assert not any(s in body for s in SENTINELS + VISIBLE)  # nobody shown without a check
    assert "Restricted" in body
    assert person.get(f"/groups/{ids['group_id']}").status_code == 200  # the page still works
