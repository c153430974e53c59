from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, enum_check, utcnow
from app.models.session import Attendee

SYNC_STATES = ("pending", "synced", "needs_attention", "deleted")
OUTBOX_ACTIONS = ("create", "update", "delete")
OUTBOX_STATUSES = ("pending", "in_progress", "done", "needs_attention")


class NDeliusAppointment(db.Model):
    """The thin cache of an nDelius appointment: one per attendee, keyed by our reference."""

    __tablename__ = "ndelius_appointment"
    __table_args__ = (CheckConstraint(enum_check("sync_state", SYNC_STATES), name="sync_state"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    attendee_id: Mapped[int] = mapped_column(ForeignKey("attendee.id"), unique=True)
    reference: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    sync_state: Mapped[str] = mapped_column(String(20), default="pending")
    last_error: Mapped[str | None] = mapped_column(Text)
    last_sent_notes: Mapped[str | None] = mapped_column(Text)
    ndelius_seen: Mapped[dict | None] = mapped_column(JSON)
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    attendee: Mapped[Attendee] = relationship()


class OutboxItem(db.Model):
    """A change nDelius must hear about, written in the same transaction as the change itself."""

    __tablename__ = "outbox_item"
    __table_args__ = (
        CheckConstraint(enum_check("action", OUTBOX_ACTIONS), name="action"),
        CheckConstraint(enum_check("status", OUTBOX_STATUSES), name="status"),
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("ndelius_appointment.id"), index=True)
    action: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    appointment: Mapped[NDeliusAppointment] = relationship()
