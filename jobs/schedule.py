from __future__ import annotations

from jobs.context import with_app
from jobs.enqueue import redis_connection


@with_app
def generate_schedule(operation_id: int) -> None:
    from app.services import schedule

    schedule.generate_schedule(operation_id, redis_connection())
