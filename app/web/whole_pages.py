"""Pages kept whole (on top of app.web.region_cache): the register, the regional dashboard, the groups list, a
group's progress grid and the calendar show only what is kept, so the page around their kept parts (the layout,
with the viewer's name and navigation) is kept too, per viewer and URL, under the same generations and for as
long (the calendar: while no reschedule's progress shows, which no generation follows).

A page is rendered once with marks where each response has values of its own (the viewer's CSRF token, this
response's CSP nonce, a fresh idempotency key for each form), kept as UTF-8 in the parts between the marks, and
filled in for each response: one join of bytes (the layout cost a signed-in page more than anything else it does
once its own part was kept). The CRNs the page shows are found once, when it is kept, for the LAO safety net
(app.web.restricted.scanned). A page with a message to show is made afresh, and so is an admin's: an admin's
every-region generation is not replaced by each region's writes, so their pages keep only their parts."""
from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app, g, make_response, request, session
from flask_login import current_user
from markupsafe import Markup

from app.web import region_cache, restricted

# NUL characters, which what people type cannot bring in (clean_text drops them) and PostgreSQL's text cannot
# hold (a NUL that came some other way, which SQLite could hold, is left as it is).
CSRF_MARK = Markup("\x00csrf\x00")  # nosec B704
KEY_MARK = Markup("\x00key\x00")  # nosec B704
NONCE_MARK = Markup("\x00nonce\x00")  # nosec B704  (all three Markup: rendered as they are, then replaced)
_MARKS = re.compile("\x00(csrf|key|nonce)\x00")
MARKED: Mapping[str, Callable[[], Markup]] = {
    "csrf_token": lambda: CSRF_MARK, "csp_nonce": lambda: NONCE_MARK, "new_key": lambda: KEY_MARK}
"""Template context that renders the marks in place of the values each response has of its own."""


@dataclass(frozen=True)
class KeptPage:
    """A page rendered with marks, as UTF-8 in the parts between them, and the CRNs it shows. Not a plain value,
    so each process keeps its own (what is costly to work out, its parts, is shared through Redis)."""

    parts: tuple[bytes, ...]  # text, mark name, text, ..., text
    crns: tuple[str, ...]

    @classmethod
    def of(cls, html: str) -> KeptPage:
        # The CRNs are found with the marks in place (a mark reads as a space): never fewer than the filled page shows.
        parts = tuple(part.encode() for part in _MARKS.split(html))
        return cls(parts, tuple(sorted(restricted.crns_in(html.encode()))))

    def filled(self) -> bytes:
        """The page with this response's own CSRF token, CSP nonce and a fresh idempotency key for each form."""
        own = {b"csrf": current_app.extensions["csrf_token"]().encode(), b"nonce": g.get("csp_nonce", "").encode()}
        parts = list(self.parts)
        marks = parts[1::2]
        keys = secrets.token_hex(16 * len(marks)).encode()  # 32 hex digits a form, as new_key makes them
        parts[1::2] = [own[mark] if mark in own else keys[32 * n:32 * n + 32] for n, mark in enumerate(marks)]
        return b"".join(parts)


def _viewer() -> tuple[Hashable, ...]:
    """What the layout shows of the viewer (base.html: their name, or else their username; the navigation of their
    role): a page is kept per viewer."""
    return (current_user.id, current_user.role, current_user.name, current_user.username, request.script_root)


def kept(page: str, region_id: int | None, key: Hashable, render: Callable[[Mapping[str, Any]], str], *,
         afresh: bool = False, admins: bool = False) -> Response:
    """The response for `page`: `render(context)` renders it with `context` added to what it passes its template
    (the marks, when it is kept), unless a page made for this viewer, URL and `key` under the region's current
    generations is kept. Made afresh for a message to show, when the caller says so (`afresh`: an offline copy,
    whose banner has its own time), and for an admin unless `admins` (`region_id` is the page's own region, as a
    register's is, not the admin's choice)."""
    if afresh or "_flashes" in session or (current_user.role == "admin" and not admins):
        return make_response(render({}))
    made = region_cache.kept(f"{page}-page", region_id, (key, _viewer(), request.full_path),
                             lambda _as_of: KeptPage.of(render(MARKED)))
    filled = made.filled()
    restricted.scanned(filled, made.crns)
    return make_response(filled)
