"""Restricted people are never shown to a user nDelius says may not see them (LAO, HMPPS.md §8).

Enforced once for every page rather than in each template:

1. Before any template (or HTMX block) is rendered, every Referral the request has loaded is checked with
   nDelius in **one batched call** (``app.services.lao``, cached briefly). A person the user may not see is
   masked for this request only: name "Restricted", no CRN, no date of birth or sentence end date, and
   ``referral.restricted`` carries nDelius's message (templates use it to leave out controls). The masked
   values are set as if loaded, so nothing is written back.
2. After the response is made, a safety net scrubs the body (HTML, CSV, JSON) of the CRN and name of every
   person withheld, and checks any other CRN the body shows (one more batched call, usually answered from the
   cache): a page that showed a person some other way still sends no restricted details. A page kept whole
   (app.web.whole_pages) says which CRNs its kept HTML shows (``scanned``), found once when it was made.

Counts are not touched: a restricted person still counts in every total.
"""
from __future__ import annotations

import html
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context
from flask.signals import before_render_template
from flask_login import current_user
from sqlalchemy import inspect, select
from sqlalchemy.orm.attributes import set_committed_value

from app.extensions import db
from app.models import Referral
from app.services import lao

# A CRN is a capital letter and six digits, standing alone (an ASCII word boundary either side: it can only find
# more CRNs than a Unicode one). The body is searched on its bytes, every page, so not with a regular expression
# (2-3 ms for a 200 KB page): it is first mapped byte for byte (capitals to "A", digits to "0", other word
# characters to "a", everything else to " "), and then "A000000" with a space or an end either side is looked
# for with bytes.find. Same matches as `\b[A-Z][0-9]{6}\b`, about seven times faster (tests/unit/test_crn_scan.py).
_CRN_SHAPES = bytes(ord("A") if 65 <= b <= 90 else ord("0") if 48 <= b <= 57
                    else ord("a") if 97 <= b <= 122 or b == 95 else ord(" ") for b in range(256))
_CRN_SHAPE = b"A000000"


def crns_in(raw: bytes) -> set[str]:
    """Every CRN-shaped token in a body."""
    shapes = raw.translate(_CRN_SHAPES)
    found: set[str] = set()
    at = shapes.find(_CRN_SHAPE)
    while at != -1:
        end = at + len(_CRN_SHAPE)
        if (at == 0 or shapes[at - 1] == 32) and (end == len(shapes) or shapes[end] == 32):
            found.add(raw[at:end].decode())
        at = shapes.find(_CRN_SHAPE, at + 1)
    return found
SCRUBBED_TYPES = ("text/html", "text/csv", "application/json", "text/plain")


def _username() -> str | None:
    if not has_request_context() or not current_app.config.get("LAO_CHECKS", True):
        return None
    loaded = g.get("signed_in_username")  # (id, username), from app.web.auth.routes.load_user
    state = inspect(g.get("_login_user"), raiseerr=False)
    if loaded is not None and state is not None and state.identity == (loaded[0],):
        # Still the user it was read for: after a commit (the answer to a tap) their attributes are expired,
        # and reading the username would load their row again.
        return str(loaded[1])
    if not getattr(current_user, "is_authenticated", False):
        return None
    return str(current_user.username)


def _decisions() -> dict[str, Any]:
    if "lao_decisions" not in g:
        g.lao_decisions, g.lao_hidden = {}, {}
    return g.lao_decisions


def decide(crns: set[str]) -> dict[str, Any]:
    """Access for these CRNs for the signed-in user (one batched call for those not decided yet)."""
    username = _username()
    decisions = _decisions()
    missing = {c for c in crns if c and c not in decisions}
    if username is not None and missing:
        decisions.update(lao.check(username, missing))
    return decisions


def withheld(crns: list[str]) -> tuple[str, ...]:
    """Those of these CRNs the signed-in user may not see, in the order given (one batched check): what a page
    kept for several viewers is kept per (app.web.region_cache), so nobody gets one rendered for someone who may
    see more."""
    decisions = decide(set(crns))
    return tuple(crn for crn in crns if (access := decisions.get(crn)) is not None and not access.allowed)


def mask_loaded_referrals(*_: Any, **__: Any) -> None:
    username = _username()
    if username is None:
        return
    referrals = [obj for obj in list(db.session.identity_map.values())
                 if isinstance(obj, Referral) and obj.restricted is None]
    if not referrals:
        return
    decisions = decide({r.crn for r in referrals})
    for referral in referrals:
        access = decisions.get(referral.crn)
        if access is not None and not access.allowed:
            hide(referral, access)


def mask_people(people: Iterable[Any]) -> None:
    """Pages that read plain columns instead of Referral objects (the register, the progress grid) pass the
    people they show (objects with `person_name`, `crn` and `restricted`): masked as loaded Referrals are, with
    one batched check for all of them."""
    username = _username()
    waiting = [p for p in people if p.restricted is None and p.crn]
    if username is None or not waiting:
        return
    decisions = decide({p.crn for p in waiting})
    for person in waiting:
        access = decisions.get(person.crn)
        if access is not None and not access.allowed:
            g.lao_hidden[person.crn] = person.person_name
            person.restricted, person.person_name, person.crn = access, lao.RESTRICTED_LABEL, ""


def hide(referral: Referral, access: Any) -> None:
    """Mask one person for the rest of this request (nothing is written: the values are set as loaded)."""
    g.lao_hidden[referral.crn] = referral.person_name
    referral.restricted = access  # type: ignore[misc]  # per request, on this instance: a ClassVar so never mapped
    for name, value in (("person_name", lao.RESTRICTED_LABEL), ("crn", ""), ("date_of_birth", None),
                        ("sentence_end_date", None)):
        set_committed_value(referral, name, value)


def scanned(body: bytes, crns: Iterable[str]) -> None:
    """The CRNs `body` shows, found once when its HTML was made: a page kept whole (app.web.whole_pages) is the
    same HTML on every load but for the marks filled in for each response (CSRF token, CSP nonce, idempotency
    keys: random tokens, nobody's details), so scrub checks these instead of searching the body again (0.15 ms
    of a kept register's 2 ms), if the response is still that body."""
    g.scanned_crns = (body, set(crns))


def scrub(response: Response) -> Response:
    # Cheap checks first: static files and other bodies never touch the database (no user is loaded for them).
    if response.direct_passthrough or response.is_streamed or (response.mimetype or "") not in SCRUBBED_TYPES:
        return response
    if "_login_user" not in g:  # the view did not sign anyone in: nothing personal was rendered
        return response
    username = _username()
    if username is None:
        return response
    raw = response.get_data()
    scanned = g.pop("scanned_crns", None)
    decisions = decide(scanned[1] if scanned is not None and scanned[0] == raw else crns_in(raw))
    hidden: dict[str, str] = dict(g.get("lao_hidden", {}))
    newly = [crn for crn, access in decisions.items() if not access.allowed and crn not in hidden]
    if newly:
        for crn, name in db.session.execute(select(Referral.crn, Referral.person_name)
                                            .where(Referral.crn.in_(newly))):
            hidden[crn] = name
        for crn in newly:
            hidden.setdefault(crn, "")
    if not hidden:
        return response
    body = changed = raw.decode()
    for crn, name in hidden.items():
        for secret in {crn, name, html.escape(name), html.escape(name, quote=False)}:
            if secret and len(secret) > 2:
                changed = changed.replace(secret, lao.RESTRICTED_LABEL)
    if changed != body:
        response.set_data(changed)
    return response


def masked_rows(rows: Iterable[list[str]], *, crn_at: int, name_at: int,
                chunk: int = 500) -> Iterator[list[str]]:
    """Rows of an export (streamed, so not scrubbed afterwards) with restricted people masked: one batched
    check per ``chunk`` rows."""
    batch: list[list[str]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= chunk:
            yield from _masked(batch, crn_at, name_at)
            batch = []
    yield from _masked(batch, crn_at, name_at)


def _masked(batch: list[list[str]], crn_at: int, name_at: int) -> Iterator[list[str]]:
    decisions = decide({row[crn_at] for row in batch}) if _username() is not None else {}
    for row in batch:
        access = decisions.get(row[crn_at])
        if access is not None and not access.allowed:
            row = list(row)
            row[crn_at], row[name_at] = "", lao.RESTRICTED_LABEL
        yield row


def init_app(app: Flask) -> None:
    before_render_template.connect(mask_loaded_referrals, app)
    try:
        from jinja2_fragments.flask import before_render_template_block, before_render_template_blocks

        before_render_template_block.connect(mask_loaded_referrals, app)
        before_render_template_blocks.connect(mask_loaded_referrals, app)
    except ImportError:  # pragma: no cover
        pass
    app.after_request(scrub)
