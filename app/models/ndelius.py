from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import Model
from app.models.base import UTCDateTime, enum_check, utcnow
from app.models.session import Attendee

SYNC_STATES = ("pending", "synced", "needs_attention", "deleted")
OUTBOX_ACTIONS = ("create", "update", "delete")
OUTBOX_STATUSES = ("pending", "in_progress", "done", "needs_attention")
# What we know of the appointment on nDelius's side (the relay decides create / update / delete from it):
# absent (never created), uncertain (a write was sent and its answer lost: search before creating),
# present, deleted.
REMOTE_STATES = ("absent", "uncertain", "present", "deleted")


class NDeliusAppointment(Model):
    """The thin cache of an nDelius appointment: one per attendee, keyed by our reference."""

    __tablename__ = "ndelius_appointment"
    __table_args__ = (
        CheckConstraint(enum_check("sync_state", SYNC_STATES), name="sync_state"),
        CheckConstraint(enum_check("remote_state", REMOTE_STATES), name="remote_state"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    attendee_id: Mapped[int] = mapped_column(ForeignKey("attendee.id"), unique=True)
    reference: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    sync_state: Mapped[str] = mapped_column(String(20), default="pending")
    last_error: Mapped[str | None] = mapped_column(Text)
    last_sent_notes: Mapped[str | None] = mapped_column(Text)
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    remote_state: Mapped[str] = mapped_column(String(20), default="absent", server_default="absent")
    # The payload of the last write sent (kept before sending: it says where to search after a lost answer).
    last_sent: Mapped[dict | None] = mapped_column(JSON)
    # A relay's lease on this appointment: one relay at a time works on one appointment.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    attendee: Mapped[Attendee] = relationship()


class OutboxItem(Model):
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


class NDeliusDisagreement(Model):
    """What reconciliation found: our value and what nDelius shows, each with its time and source. Ours is the
    authority; nothing is overwritten - a person decides (send ours again, or dismiss)."""

    __tablename__ = "ndelius_disagreement"
    __table_args__ = (
        Index("uq_ndelius_disagreement_open", "reference", "field", unique=True,
              postgresql_where=text("resolved_at IS NULL"), sqlite_where=text("resolved_at IS NULL")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("ndelius_appointment.id"), index=True)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"), index=True)
    reference: Mapped[uuid.UUID] = mapped_column(Uuid)
    field: Mapped[str] = mapped_column(String(30))
    ours: Mapped[str | None] = mapped_column(Text)
    ours_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    theirs: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(100))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[str | None] = mapped_column(String(30))

    appointment: Mapped[NDeliusAppointment | None] = relationship()


class NDeliusReconciliation(Model):
    """One reconciliation run against POST /appointments/search."""

    __tablename__ = "ndelius_reconciliation"
    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    compared: Mapped[int] = mapped_column(Integer, default=0)
    found: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    resolved: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # The region a treatment manager's run covered (None: every region); searches made and how many failed.
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"))
    searches: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed_searches: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
