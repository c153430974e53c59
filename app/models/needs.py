"""What a person cannot do, recorded before they are allocated (issue 15.3): times in the week they cannot
attend (work, care), delivery locations they cannot attend, and people they must not be in a group with.
Allocation (app.services.joining.refusal, used by every page that allocates) checks them."""
from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import Model
from app.models.base import UTCDateTime, utcnow
from app.models.referral import Referral
from app.models.user import User


class Unavailability(Model):
    """Every week on this day, from start_time to end_time (Europe/London wall clock), the person cannot attend."""

    __tablename__ = "referral_unavailability"
    __table_args__ = (
        CheckConstraint("day_of_week BETWEEN 0 AND 6", name="day_of_week"),
        CheckConstraint("start_time < end_time", name="start_before_end"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"), index=True)
    day_of_week: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))

    referral: Mapped[Referral] = relationship()
    created_by: Mapped[User | None] = relationship()


class ExcludedLocation(Model):
    """A delivery location the person cannot attend (matched to a group's delivery location by name, ignoring
    case and surrounding spaces)."""

    __tablename__ = "referral_excluded_location"
    __table_args__ = (UniqueConstraint("referral_id", "location_key", name="uq_excluded_location"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"), index=True)
    location: Mapped[str] = mapped_column(String(200))
    location_key: Mapped[str] = mapped_column(String(200))  # location.strip().lower()
    reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))

    referral: Mapped[Referral] = relationship()
    created_by: Mapped[User | None] = relationship()


class NonAssociation(Model):
    """Two people who must not be in a group together. Stored once per pair, the lower referral id first."""

    __tablename__ = "non_association"
    __table_args__ = (
        UniqueConstraint("referral_id", "other_referral_id", name="uq_non_association"),
        CheckConstraint("referral_id < other_referral_id", name="ordered_pair"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"), index=True)
    other_referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))

    referral: Mapped[Referral] = relationship(foreign_keys=[referral_id])
    other: Mapped[Referral] = relationship(foreign_keys=[other_referral_id])
    created_by: Mapped[User | None] = relationship()
