from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import Model
from app.models.base import UTCDateTime, enum_check

PERIODIC_OUTCOMES = ("running", "ok", "failed")


class PeriodicRun(Model):
    """The last run of each periodic job (one row per job, replaced at every run), for the integration page.
    In the database rather than Redis, so it survives a Redis restart."""

    __tablename__ = "periodic_run"
    __table_args__ = (CheckConstraint(enum_check("outcome", PERIODIC_OUTCOMES), name="outcome"),)
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(10))
    summary: Mapped[str] = mapped_column(Text, default="")
    ran_on: Mapped[str] = mapped_column(String(100), default="")  # host:pid of the worker
