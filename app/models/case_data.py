"""Two sources of truth for a person (seed 004): what the referral said and what nDelius says now, each with
its source and time. nDelius is authoritative for every field here; the referral's value is used until
nDelius has answered, so the work never waits for it. A difference stays listed until a person resolves it."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import Model
from app.models.base import UTCDateTime, utcnow
from app.models.referral import Referral
from app.models.user import User

SOURCES = ("referral", "ndelius")


class CaseFact(Model):
    """The latest value one source gave for one field of a referral."""

    __tablename__ = "case_fact"
    __table_args__ = (UniqueConstraint("referral_id", "field", "source", name="uq_case_fact"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"), index=True)
    field: Mapped[str] = mapped_column(String(30))
    source: Mapped[str] = mapped_column(String(20))
    value: Mapped[str | None] = mapped_column(Text)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseDisagreement(Model):
    """The referral and nDelius disagree about a field. Open until a person resolves it."""

    __tablename__ = "case_disagreement"
    __table_args__ = (
        Index("uq_case_disagreement_open", "referral_id", "field", unique=True,
              postgresql_where=text("resolved_at IS NULL"), sqlite_where=text("resolved_at IS NULL")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"), index=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    field: Mapped[str] = mapped_column(String(30))
    referral_value: Mapped[str | None] = mapped_column(Text)
    referral_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ndelius_value: Mapped[str | None] = mapped_column(Text)
    ndelius_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    resolution: Mapped[str | None] = mapped_column(Text)

    referral: Mapped[Referral] = relationship()
    resolved_by: Mapped[User | None] = relationship()
