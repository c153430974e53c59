"""Fast reads for the pages read most: the register (its page and the answer to a tap) and the progress grid.

Building a SQLAlchemy statement costs more than running it, and the ORM's execution path (even for plain
columns) costs more again: measured on the register, 2.6 ms of CPU for its header and 4.4 ms for its rows,
against 0.3 ms and 0.8 ms this way (`scripts/profile_page.py`). So a hot page builds each statement once per
process, with its values as bound parameters (`bindparam`), usually in a function under `functools.cache`, and
runs it here on the session's connection: plain rows, no ORM loading, in the request's transaction."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import CursorResult, Executable

from app.extensions import db


def run(statement: Executable, params: Mapping[str, Any] | None = None) -> CursorResult[*tuple[Any, ...]]:
    """Run a prebuilt read statement. Changes waiting in the session are flushed first, as the ORM's autoflush
    would (and not inside `no_autoflush`), so a read after a write in the same request sees it."""
    session = db.session()
    if session.autoflush and (session.new or session.dirty or session.deleted):
        session.flush()
    return session.connection().execute(statement, params or {})
