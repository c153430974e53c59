from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import Model
from app.models.base import UTCDateTime, enum_check, utcnow
from app.models.user import User

OPERATION_KINDS = ("generate", "cascade", "reslot")
OPERATION_STATUSES = ("queued", "running", "succeeded", "failed")
FINISHED = ("succeeded", "failed")
ONE_RESCHEDULE = "kind IN ('cascade', 'reslot') AND status IN ('queued', 'running')"


class Operation(Model):
    """A long-running job a person started; its page polls this row for progress."""

    __tablename__ = "operation"
    __table_args__ = (
        CheckConstraint(enum_check("kind", OPERATION_KINDS), name="kind"),
        CheckConstraint(enum_check("status", OPERATION_STATUSES), name="status"),
        CheckConstraint("done >= 0 AND total >= 0", name="progress"),
        # One reschedule (cascade or new days and times) of a group at a time (migration 0002).
        Index("uq_operation_one_reschedule", "group_id", unique=True,
              postgresql_where=text(ONE_RESCHEDULE), sqlite_where=text(ONE_RESCHEDULE)),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("programme_group.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict | None] = mapped_column(JSON)
    job_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, index=True)

    user: Mapped[User | None] = relationship()
    steps: Mapped[list[OperationStep]] = relationship(order_by="OperationStep.position")

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def percent(self) -> int:
        if self.status == "succeeded":
            return 100
        return int(100 * self.done / self.total) if self.total else 0


class OperationStep(Model):
    """One planned step of a resumable operation (a cascade computed once, then applied step by step)."""

    __tablename__ = "operation_step"
    __table_args__ = (UniqueConstraint("operation_id", "position", name="uq_operation_step"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    operation_id: Mapped[int] = mapped_column(ForeignKey("operation.id"))
    position: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict] = mapped_column(JSON)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
