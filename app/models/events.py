"""HMPPS domain events: what we publish (through an outbox written in the change's transaction), what we
received (one row per SNS message, so a replay is recognised) and the people's history of statuses."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import Model
from app.models.base import UTCDateTime, enum_check, utcnow
from app.models.referral import Referral
from app.models.user import User

EVENT_OUTBOX_STATUSES = ("pending", "sent", "needs_attention")
INBOUND_STATUSES = ("received", "processed", "ignored", "retrying", "dead", "dismissed")


class ReferralStatusChange(Model):
    """One change of a referral's status (the person's status history; the detail behind every
    ``referral.status-updated`` event)."""

    __tablename__ = "referral_status_change"
    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(30))
    to_status: Mapped[str] = mapped_column(String(30))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    notes: Mapped[str | None] = mapped_column(Text)

    referral: Mapped[Referral] = relationship()
    changed_by: Mapped[User | None] = relationship()


class DomainEventOutbox(Model):
    """A domain event to publish, written in the same transaction as the change it announces. The relay
    (``app.services.events_publish``) sends it to the SNS topic; ``dedupe_key`` makes an event that must happen
    once (programme complete) impossible to write twice."""

    __tablename__ = "domain_event_outbox"
    __table_args__ = (
        CheckConstraint(enum_check("status", EVENT_OUTBOX_STATUSES), name="status"),
        Index("ix_domain_event_outbox_due", "status", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    event_type: Mapped[str] = mapped_column(String(100))
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"), index=True)
    status_change_id: Mapped[int | None] = mapped_column(ForeignKey("referral_status_change.id"))
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    crn: Mapped[str] = mapped_column(String(10))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[str | None] = mapped_column(String(100))

    referral: Mapped[Referral] = relationship()
    status_change: Mapped[ReferralStatusChange | None] = relationship()


class InboundEvent(Model):
    """A message from our SQS queue, keyed by its SNS MessageId: the same message delivered twice is seen once.
    Poison messages end "dead" (and are copied to the dead-letter queue) until an admin retries or dismisses
    them."""

    __tablename__ = "inbound_event"
    __table_args__ = (CheckConstraint(enum_check("status", INBOUND_STATUSES), name="status"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(100), unique=True)
    event_type: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="received", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    body: Mapped[str] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referral.id"), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    referral: Mapped[Referral | None] = relationship()


class CrnMerge(Model):
    """nDelius merged ``source_crn`` into ``target_crn``: a referral that arrives later for the old CRN is
    recorded against the surviving one."""

    __tablename__ = "crn_merge"
    id: Mapped[int] = mapped_column(primary_key=True)
    source_crn: Mapped[str] = mapped_column(String(10), unique=True)
    target_crn: Mapped[str] = mapped_column(String(10))
    merged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
