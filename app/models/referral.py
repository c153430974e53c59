from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import Model
from app.models.base import UTCDateTime, enum_check, utcnow
from app.models.user import Region

SEXES = ("male", "female")
GROUP_SEXES = ("male", "female", "mixed")
COHORTS = ("general", "sexual")
STATUSES = (
    "Awaiting allocation", "Scheduled", "On programme", "Programme complete", "Deferred", "Withdrawn",
    "Breach", "Recall", "Return to court", "Suitable but not ready",
)
CLOSED_STATUSES = ("Programme complete", "Withdrawn", "Breach", "Recall", "Return to court")


class Referral(Model):
    __tablename__ = "referral"
    __table_args__ = (
        CheckConstraint(
            "(requirement_id IS NULL) <> (licence_condition_id IS NULL)", name="one_of_requirement_or_licence"
        ),
        CheckConstraint(enum_check("sex", SEXES), name="sex"),
        CheckConstraint(enum_check("cohort", COHORTS), name="cohort"),
        CheckConstraint(enum_check("status", STATUSES), name="status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    crn: Mapped[str] = mapped_column(String(10), index=True)
    person_name: Mapped[str] = mapped_column(String(200))
    sex: Mapped[str] = mapped_column(String(10))
    cohort: Mapped[str] = mapped_column(String(10))
    learning_disability: Mapped[bool] = mapped_column(Boolean, default=False)
    requirement_id: Mapped[int | None] = mapped_column(Integer)
    licence_condition_id: Mapped[int | None] = mapped_column(Integer)
    sentence_end_date: Mapped[date | None] = mapped_column(Date)
    # active_history: the old value is loaded when status is set, so every change is seen and announced
    # (app/services/events_out.py) even when the row was expired.
    status: Mapped[str] = mapped_column(String(30), default="Awaiting allocation", index=True, active_history=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Issue 14: where the referral came from and what nDelius says of the case (app/services/case_data.py).
    source_referral_id: Mapped[str | None] = mapped_column(String(36), unique=True)  # interventions referral id
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    event_number: Mapped[int | None] = mapped_column(Integer)
    case_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # nDelius last answered for the case
    case_check_error: Mapped[str | None] = mapped_column(Text)
    # nDelius no longer accepts the requirement / licence condition (terminated): no further appointments.
    requirement_terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    requirement_terminated_reason: Mapped[str | None] = mapped_column(Text)
    # Set for one request when nDelius says the signed-in user may not see this person (app/web/restricted.py):
    # the access answer, with its message. Never stored.
    restricted: ClassVar[Any] = None

    region: Mapped[Region] = relationship()
    progress: Mapped[ReferralProgress | None] = relationship(back_populates="referral", uselist=False)


class TemplateCompletion(Model):
    """A session template this person has completed (outcome ATTC in any session of it, any group)."""

    __tablename__ = "template_completion"
    __table_args__ = (UniqueConstraint("referral_id", "session_template_id", name="uq_template_completion"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"), index=True)
    session_template_id: Mapped[int] = mapped_column(ForeignKey("session_template.id"))
    attendee_id: Mapped[int] = mapped_column(ForeignKey("attendee.id"))


class ReferralProgress(Model):
    """Stored roll-up of TemplateCompletion and of the person's recorded outcomes (for the regional dashboard),
    updated in the attendance transaction; `flask progress verify` checks it against a full recomputation."""

    __tablename__ = "referral_progress"
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"), primary_key=True)
    sessions_completed: Mapped[int] = mapped_column(Integer, default=0)
    sessions_total: Mapped[int] = mapped_column(Integer, default=0)
    modules_completed: Mapped[int] = mapped_column(Integer, default=0)
    percent: Mapped[int] = mapped_column(Integer, default=0)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    outcomes_recorded: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    outcomes_attended: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # ATTC or AFTC
    outcomes_complied: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # ATTC

    referral: Mapped[Referral] = relationship(back_populates="progress")
