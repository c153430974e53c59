from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import Model
from app.models.base import UTCDateTime, enum_check, utcnow
from app.models.programme import ProgrammeTemplate
from app.models.referral import COHORTS, GROUP_SEXES, Referral
from app.models.user import Facilitator, Region, User

FACILITATOR_ROLES = ("lead", "cover")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
GROUP_SIZE_LIMIT = 12


class Group(Model):
    # "group" is an SQL keyword, as the core design notes.
    __tablename__ = "programme_group"
    __table_args__ = (
        UniqueConstraint("region_id", "code", name="uq_group_code_per_region"),
        CheckConstraint(enum_check("cohort", COHORTS), name="cohort"),
        CheckConstraint(enum_check("sex", GROUP_SEXES), name="sex"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    code: Mapped[str] = mapped_column(String(30))
    cohort: Mapped[str] = mapped_column(String(10))
    learning_disability: Mapped[bool] = mapped_column(Boolean, default=False)
    sex: Mapped[str] = mapped_column(String(10))
    delivery_location: Mapped[str] = mapped_column(String(200))
    location_code: Mapped[str | None] = mapped_column(String(20))
    earliest_start_date: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    template_id: Mapped[int] = mapped_column(ForeignKey("programme_template.id"))
    treatment_manager_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    # A lead closed the group once its last session was past and recorded (issue 15.4, services/group_finish).
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))

    region: Mapped[Region] = relationship()
    template: Mapped[ProgrammeTemplate] = relationship()
    treatment_manager: Mapped[User | None] = relationship(foreign_keys=[treatment_manager_id])
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])
    slots: Mapped[list[GroupSlot]] = relationship(
        order_by="(GroupSlot.day_of_week, GroupSlot.start_time)", cascade="all, delete-orphan",
        back_populates="group",
    )
    facilitators: Mapped[list[GroupFacilitator]] = relationship(
        cascade="all, delete-orphan", back_populates="group", order_by="GroupFacilitator.role.desc()"
    )
    memberships: Mapped[list[Membership]] = relationship(back_populates="group", order_by="Membership.id")

    __mapper_args__ = {"version_id_col": version}

    @property
    def lead_facilitator(self) -> Facilitator | None:
        return next((gf.facilitator for gf in self.facilitators if gf.role == "lead"), None)

    @property
    def cover_facilitators(self) -> list[Facilitator]:
        return [gf.facilitator for gf in self.facilitators if gf.role == "cover"]

    @property
    def closed_on(self) -> date | None:
        """The day (Europe/London) the group was closed."""
        from app.clock import LONDON

        return self.closed_at.astimezone(LONDON).date() if self.closed_at else None

    @property
    def active_memberships(self) -> list[Membership]:
        return [m for m in self.memberships if m.left_at is None]


class GroupSlot(Model):
    """A weekly time the group meets ("Monday 10:00")."""

    __tablename__ = "group_slot"
    __table_args__ = (
        UniqueConstraint("group_id", "day_of_week", "start_time", name="uq_group_slot"),
        CheckConstraint("day_of_week BETWEEN 0 AND 6", name="day_of_week"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("programme_group.id"), index=True)
    day_of_week: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[time] = mapped_column(Time)

    group: Mapped[Group] = relationship(back_populates="slots")

    @property
    def label(self) -> str:
        return f"{DAY_NAMES[self.day_of_week]} {self.start_time:%H:%M}"


class GroupFacilitator(Model):
    __tablename__ = "group_facilitator"
    __table_args__ = (
        UniqueConstraint("group_id", "facilitator_id", name="uq_group_facilitator"),
        CheckConstraint(enum_check("role", FACILITATOR_ROLES), name="role"),
        Index("uq_group_one_lead", "group_id", unique=True,
              postgresql_where=text("role = 'lead'"), sqlite_where=text("role = 'lead'")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("programme_group.id"))
    facilitator_id: Mapped[int] = mapped_column(ForeignKey("facilitator.id"), index=True)
    role: Mapped[str] = mapped_column(String(10))

    group: Mapped[Group] = relationship(back_populates="facilitators")
    facilitator: Mapped[Facilitator] = relationship()


class Membership(Model):
    """A referral's place in a group. Soft-ended (left_at), never deleted."""

    __tablename__ = "membership"
    __table_args__ = (
        Index("uq_membership_one_active", "referral_id", unique=True,
              postgresql_where=text("left_at IS NULL"), sqlite_where=text("left_at IS NULL")),
        CheckConstraint("left_at IS NULL OR left_at >= joined_at", name="left_after_joined"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("programme_group.id"), index=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"), index=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    left_reason: Mapped[str | None] = mapped_column(Text)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    # Who removed the person, and the referral status chosen then (issue 6).
    removed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    left_status: Mapped[str | None] = mapped_column(String(30))
    # The person joined more than 12 weeks after leaving their last group, so the programme starts again with
    # this membership: attendance from their earlier memberships stays in their history but no longer counts
    # towards completion (services/progress.counting).
    restarts_programme: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))

    group: Mapped[Group] = relationship(back_populates="memberships")
    referral: Mapped[Referral] = relationship()

    @property
    def left_on(self) -> date | None:
        """The day (Europe/London) the person left the group."""
        from app.clock import LONDON

        return self.left_at.astimezone(LONDON).date() if self.left_at else None
