from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import Model
from app.models.base import UTCDateTime, utcnow


class ProcessedRequest(Model):
    """An idempotency key a client sent with a change (a tap on the register, a booking). The key is claimed
    by a unique insert in the same transaction as the change, so a retried request finds it and is not
    applied a second time; a request that failed left no key behind and can be retried."""

    __tablename__ = "processed_request"
    __table_args__ = (UniqueConstraint("key", name="uq_processed_request_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    scope: Mapped[str] = mapped_column(String(30))
    object_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
