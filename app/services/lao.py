"""Restricted access (Limited Access Offenders, HMPPS.md §8): may this user see these people?

nDelius decides, per user and CRN (``POST /user/{username}/access``). One batched call answers for every CRN
a page shows; answers are cached in Redis for ``LAO_CACHE_SECONDS`` from when nDelius gave them, and each
server process keeps a copy of the fresh ones until that same moment (so a page asks Redis only for what this
process has not seen lately), under a token in Redis that the request reads anyway (app/services/generations.py:
if Redis loses its answers, the copies go too). While nDelius cannot answer, an answer up to
``LAO_STALE_SECONDS`` old is used; a person with no answer at all is treated as restricted - never shown without
a check - with a message saying why.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable

from flask import current_app, has_request_context
from redis import Redis
from redis.exceptions import RedisError

from app.integrations.errors import NDeliusError
from app.integrations.probation_cases import MAX_ACCESS_CRNS, Access, ProbationCasesClient, cases_client
from app.services import generations

log = logging.getLogger(__name__)
UNCHECKED = "Access to this person could not be checked with nDelius just now. Try again in a few minutes."
RESTRICTED_LABEL = "Restricted"


def _redis() -> Redis:
    from app.extensions import redis_connection

    return redis_connection()


def _key(username: str, crn: str) -> str:
    return f"lao:{username}:{crn}"


KEPT_MAX = 50_000  # answers a process keeps a copy of (the least lately used go first)
_keeping = threading.Lock()  # a server process's threads (make run: gunicorn's gthread) add to one copy

_Kept = OrderedDict[tuple[str, str], tuple[Access, float]]


def check(username: str, crns: Iterable[str]) -> dict[str, Access]:
    """Access for each CRN (one nDelius call per 500 CRNs not answered recently)."""
    wanted = sorted({c for c in crns if c})
    if not wanted:
        return {}
    config = current_app.config
    fresh_for, stale_for = config["LAO_CACHE_SECONDS"], config["LAO_STALE_SECONDS"]
    now = time.time()
    kept = _kept()
    answers: dict[str, Access] = {}
    if kept is not None:
        for crn in wanted:
            copy = kept.get((username, crn))
            if copy is not None and now - copy[1] < fresh_for:
                answers[crn] = copy[0]
    unseen = [crn for crn in wanted if crn not in answers]
    if not unseen:
        return answers
    cached: dict[str, tuple[Access, float]] = {}
    try:
        for crn, raw in zip(unseen, _redis().mget([_key(username, c) for c in unseen]), strict=True):
            if raw:
                item = json.loads(raw)
                cached[crn] = (Access(crn, item["excluded"], item["restricted"], item.get("message")), item["at"])
    except (RedisError, ValueError, KeyError):
        cached = {}
    fresh = {crn: (access, at) for crn, (access, at) in cached.items() if now - at < fresh_for}
    answers.update((crn, access) for crn, (access, _) in fresh.items())
    missing = [crn for crn in unseen if crn not in answers]
    if missing:
        fetched, error = _ask(username, missing)
        if fetched:
            _remember(username, fetched, now, stale_for)
            answers.update(fetched)
            fresh.update((crn, (access, now)) for crn, access in fetched.items())
        for crn in missing:
            if crn in answers:
                continue
            stale = cached.get(crn)
            if stale is not None and now - stale[1] < stale_for:
                answers[crn] = stale[0]
            else:
                answers[crn] = Access(crn, False, True, UNCHECKED)
        if error:
            log.warning("LAO check for %d CRNs failed (%s): %d withheld", len(missing), error,
                        sum(1 for c in missing if answers[c].message == UNCHECKED))
    if kept is not None:  # only fresh answers (never a stale one, nor "could not be checked")
        with _keeping:
            for crn, copy in fresh.items():
                kept[(username, crn)] = copy
                kept.move_to_end((username, crn))
            while len(kept) > KEPT_MAX:
                kept.popitem(last=False)
    return answers


def _kept() -> _Kept | None:
    """This process's copies of nDelius's fresh answers, if they were kept under the token Redis has now (None
    outside a request, or without Redis: nothing is kept)."""
    if not has_request_context():
        return None
    token = generations.current("lao")
    if token is None:
        return None
    made, kept = current_app.extensions.get("lao_kept") or (None, None)
    if made != token or kept is None:
        kept = OrderedDict()
        current_app.extensions["lao_kept"] = (token, kept)  # one assignment: threads see both or neither
    return kept


def _ask(username: str, crns: list[str]) -> tuple[dict[str, Access], str | None]:
    client = _client()
    found: dict[str, Access] = {}
    try:
        for start in range(0, len(crns), MAX_ACCESS_CRNS):
            found.update(client.access(username, crns[start:start + MAX_ACCESS_CRNS]))
    except NDeliusError as exc:
        return found, str(exc)
    return found, None


def _client() -> ProbationCasesClient:
    """This thread's client for the access checks, kept between requests: its HMPPS Auth token is used until it
    is due and its connections stay open (a client made for each check asked HMPPS Auth for a token every time
    nDelius was asked). Made again when the settings it was made with change."""
    config = current_app.config
    settings = (config["NDELIUS_URL"], config["HMPPS_AUTH_URL"], config["NDELIUS_CLIENT_ID"],
                config["NDELIUS_CLIENT_SECRET"], config.get("NDELIUS_CONNECT_TIMEOUT"),
                config.get("NDELIUS_READ_TIMEOUT"))
    local = current_app.extensions.setdefault("lao_clients", threading.local())
    made: tuple[tuple[object, ...], ProbationCasesClient] | None = getattr(local, "client", None)
    if made is None or made[0] != settings:
        if made is not None:
            made[1].close()
        made = (settings, cases_client(config))
        local.client = made
    return made[1]


def _remember(username: str, answers: dict[str, Access], now: float, ttl: int) -> None:
    try:
        pipe = _redis().pipeline()
        for crn, access in answers.items():
            pipe.set(_key(username, crn), json.dumps({"excluded": access.excluded, "restricted": access.restricted,
                                                      "message": access.message, "at": now}), ex=max(1, ttl))
        pipe.execute()
    except RedisError:
        pass  # the next page asks nDelius again


def may_see(username: str, crn: str) -> Access:
    return check(username, [crn])[crn]
