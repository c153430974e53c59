from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import Model
from app.models.base import UTCDateTime, utcnow


class BankHoliday(Model):
    """A GOV.UK bank-holidays event, per division; `source` says where it came from."""

    __tablename__ = "bank_holiday"
    __table_args__ = (UniqueConstraint("division", "date", name="uq_bank_holiday"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    division: Mapped[str] = mapped_column(String(30))
    date: Mapped[date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(String(200), default="")
    bunting: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(20))  # "govuk" | "snapshot"
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
