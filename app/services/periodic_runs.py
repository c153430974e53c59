"""The last run of each periodic job and its result (`periodic_run`, one row per job), written by the worker that
ran it and shown to admins on the integration page. Written in a transaction of its own once the job has
finished (a job commits its own work; what it left uncommitted is rolled back, as the end of its app context would),
and a database hiccup while recording only logs."""
from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app.extensions import db
from app.models import PeriodicRun
from app.models.base import utcnow

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)
TABLE = cast(Table, PeriodicRun.__table__)


def recorded(name: str, *, only_if: Callable[..., bool] | None = None,
             summary: Callable[[Any], str] | None = None,
             failed_if: Callable[[Any], bool] | None = None) -> Callable[[F], F]:
    """Record each run of the decorated job under `name` (when `only_if(*args, **kwargs)`, if given): when it
    started and finished, whether it failed (raised, or `failed_if(result)`: a check that found something wrong),
    and a one-line summary of what it returned (`summary(result)`, or its counts) or of its error."""

    def decorate(func: F) -> F:
        @wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            if only_if is not None and not only_if(*args, **kwargs):
                return func(*args, **kwargs)
            started = utcnow()
            try:
                result = func(*args, **kwargs)
            except Exception as exc:
                save(name, started, "failed", f"{type(exc).__name__}: {exc}")
                raise
            outcome = "failed" if failed_if is not None and failed_if(result) else "ok"
            save(name, started, outcome, (summary or summarise)(result))
            return result

        return run  # type: ignore[return-value]

    return decorate


def summarise(result: object) -> str:
    """A job's return value in a line: its non-zero counts ("27 created, 2 retrying"), or its text."""
    if isinstance(result, dict):
        counts = [f"{value} {key.replace('_', ' ')}" for key, value in result.items()
                  if isinstance(value, int) and not isinstance(value, bool) and value]
        return ", ".join(counts) or "nothing to do"
    if isinstance(result, str):
        return result
    if isinstance(result, int) and not isinstance(result, bool):
        return str(result)
    return "done"


def save(name: str, started: datetime, outcome: str, summary: str) -> None:
    values = {"started_at": started, "finished_at": utcnow(), "outcome": outcome, "summary": summary[:1000],
              "ran_on": f"{socket.gethostname()}:{os.getpid()}"[:100]}
    session = db.session
    try:
        session.rollback()
        updated = cast(CursorResult[Any], session.execute(update(TABLE).where(TABLE.c.name == name).values(**values)))
        if updated.rowcount == 0:
            try:
                with session.begin_nested():
                    session.execute(insert(TABLE).values(name=name, **values))
            except IntegrityError:  # another worker recorded its first run meanwhile
                session.execute(update(TABLE).where(TABLE.c.name == name).values(**values))
        session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        log.warning("could not record the run of %s: %s", name, exc)


def latest() -> dict[str, Any]:
    """Job name -> its last run (a row: started_at, finished_at, outcome, summary, ran_on)."""
    return {row.name: row for row in db.session.execute(select(TABLE)).all()}


def is_overdue(run: Any, every: float, now: datetime | None = None) -> bool:
    """A job whose last run finished more than two periods (and a minute) ago: no scheduler or worker ran it."""
    if run is None or run.finished_at is None:
        return False
    return (now or utcnow()) - run.finished_at > timedelta(seconds=2 * every + 60)
