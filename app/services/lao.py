"""Restricted access (Limited Access Offenders, HMPPS.md §8): may this user see these people?

nDelius decides, per user and CRN (``POST /user/{username}/access``). One batched call answers for every CRN
a page shows; answers are cached in Redis for ``LAO_CACHE_SECONDS``. While nDelius cannot answer, an answer up
to ``LAO_STALE_SECONDS`` old is used; a person with no answer at all is treated as restricted - never shown
without a check - with a message saying why.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError

from app.integrations.errors import NDeliusError
from app.integrations.probation_cases import MAX_ACCESS_CRNS, Access, cases_client

log = logging.getLogger(__name__)
UNCHECKED = "Access to this person could not be checked with nDelius just now. Try again in a few minutes."
RESTRICTED_LABEL = "Restricted"


def _redis() -> Redis:
    from app.extensions import redis_connection

    return redis_connection()


def _key(username: str, crn: str) -> str:
    return f"lao:{username}:{crn}"


def check(username: str, crns: Iterable[str]) -> dict[str, Access]:
    """Access for each CRN (one nDelius call per 500 CRNs not answered recently)."""
    wanted = sorted({c for c in crns if c})
    if not wanted:
        return {}
    config = current_app.config
    fresh_for, stale_for = config["LAO_CACHE_SECONDS"], config["LAO_STALE_SECONDS"]
    now = time.time()
    cached: dict[str, tuple[Access, float]] = {}
    try:
        for crn, raw in zip(wanted, _redis().mget([_key(username, c) for c in wanted]), strict=True):
            if raw:
                item = json.loads(raw)
                cached[crn] = (Access(crn, item["excluded"], item["restricted"], item.get("message")), item["at"])
    except (RedisError, ValueError, KeyError):
        cached = {}
    answers = {crn: access for crn, (access, at) in cached.items() if now - at < fresh_for}
    missing = [crn for crn in wanted if crn not in answers]
    if missing:
        fetched, error = _ask(username, missing)
        if fetched:
            _remember(username, fetched, now, stale_for)
            answers.update(fetched)
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
    return answers


def _ask(username: str, crns: list[str]) -> tuple[dict[str, Access], str | None]:
    client = cases_client(current_app.config)
    found: dict[str, Access] = {}
    try:
        for start in range(0, len(crns), MAX_ACCESS_CRNS):
            found.update(client.access(username, crns[start:start + MAX_ACCESS_CRNS]))
    except NDeliusError as exc:
        return found, str(exc)
    finally:
        client.close()
    return found, None


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
