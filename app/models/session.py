from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
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
from app.labels import OUTCOME_LABELS
from app.models.base import UTCDateTime, enum_check, utcnow
from app.models.group import FACILITATOR_ROLES, Group, Membership
from app.models.programme import SessionTemplate
from app.models.referral import Referral
from app.models.user import Facilitator, User

SESSION_KINDS = ("scheduled", "catch_up", "one_to_one")
SESSION_STATUSES = ("scheduled", "cancelled")
OUTCOMES = OUTCOME_LABELS  # the codes a row may hold, with their wording (app.labels)
MISSED_OUTCOMES = ("UAAB", "AFTC")


class Session(Model):
    """A teaching event. `kind`: scheduled (from the template: a group session or a one-to-one placeholder),
    catch_up (ad hoc, for people who missed one), one_to_one (an individual booking against a placeholder).

    starts_at/ends_at are naive Europe/London wall-clock times."""

    # "session" is avoided as a table name (SQL keyword, and confusing beside the web session).
    __tablename__ = "programme_session"
    __table_args__ = (
        CheckConstraint(enum_check("kind", SESSION_KINDS), name="kind"),
        CheckConstraint(enum_check("status", SESSION_STATUSES), name="status"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_session_group_starts", "group_id", "starts_at"),
        Index("ix_session_starts", "starts_at"),
        # One generated session per template per group: starting a group twice cannot double the schedule.
        Index("uq_session_scheduled_template", "group_id", "session_template_id", unique=True,
              postgresql_where=text("kind = 'scheduled'"), sqlite_where=text("kind = 'scheduled'")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("programme_group.id"))
    session_template_id: Mapped[int] = mapped_column(ForeignKey("session_template.id"))
    kind: Mapped[str] = mapped_column(String(20), default="scheduled")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("programme_session.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(DateTime)
    ends_at: Mapped[datetime] = mapped_column(DateTime)
    location: Mapped[str | None] = mapped_column(String(200))
    # The nDelius office code this session's appointments carry, once it differs from its group's: set on the
    # sessions already past when the group's delivery location changes (issue 15.1), so what happened stays where
    # it happened. NULL follows the group's code; "" means no office location.
    location_code: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    # Cancelled (issue 15.2): it stays on the schedule, struck through, with why; its template is still to be done.
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    # A catch-up or one-to-one booked in error and deleted: cancelled, its attendees removed, and hidden from every
    # page. The row stays so the outbox can delete its nDelius appointments by reference.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notes: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    group: Mapped[Group] = relationship()
    cancelled_by: Mapped[User | None] = relationship(foreign_keys=[cancelled_by_id])
    session_template: Mapped[SessionTemplate] = relationship()
    parent: Mapped[Session | None] = relationship(remote_side=[id])
    facilitators: Mapped[list[SessionFacilitator]] = relationship(
        back_populates="session", cascade="all, delete-orphan", order_by="SessionFacilitator.role.desc()"
    )
    # Only the people still expected: attendees removed when they left the group are left out (issue 6).
    attendees: Mapped[list[Attendee]] = relationship(
        back_populates="session", order_by="Attendee.id",
        primaryjoin="and_(Session.id == Attendee.session_id, Attendee.removed_at.is_(None))",
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def lead_facilitator(self) -> Facilitator | None:
        return next((sf.facilitator for sf in self.facilitators if sf.role == "lead"), None)

    @property
    def office_code(self) -> str | None:
        """The nDelius office location of this session's appointments (its own, else its group's)."""
        code = self.location_code if self.location_code is not None else self.group.location_code
        return code or None


class SessionFacilitator(Model):
    __tablename__ = "session_facilitator"
    __table_args__ = (
        UniqueConstraint("session_id", "facilitator_id", name="uq_session_facilitator"),
        CheckConstraint(enum_check("role", FACILITATOR_ROLES), name="role"),
        Index("uq_session_one_lead", "session_id", unique=True,
              postgresql_where=text("role = 'lead'"), sqlite_where=text("role = 'lead'")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("programme_session.id"))
    facilitator_id: Mapped[int] = mapped_column(ForeignKey("facilitator.id"), index=True)
    role: Mapped[str] = mapped_column(String(10))

    session: Mapped[Session] = relationship(back_populates="facilitators")
    facilitator: Mapped[Facilitator] = relationship()


class Attendee(Model):
    """Who is expected at a session."""

    __tablename__ = "attendee"
    __table_args__ = (UniqueConstraint("session_id", "referral_id", name="uq_attendee"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("programme_session.id"))
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"), index=True)
    membership_id: Mapped[int | None] = mapped_column(ForeignKey("membership.id"), index=True)
    # Set when the person left the group before this (future) session: no longer expected. The row stays so
    # its nDelius appointment can be deleted through the outbox (issue 6, services/membership.remove).
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    session: Mapped[Session] = relationship(back_populates="attendees")
    referral: Mapped[Referral] = relationship()
    membership: Mapped[Membership | None] = relationship()
    attendance: Mapped[Attendance | None] = relationship(back_populates="attendee", uselist=False)


class _AttendanceFields:
    outcome: Mapped[str | None] = mapped_column(String(4))
    did_not_engage: Mapped[bool] = mapped_column(Boolean, default=False)
    arrived_at: Mapped[time | None] = mapped_column(Time)
    departed_at: Mapped[time | None] = mapped_column(Time)
    notes: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


_OUTCOME_CHECK = f"outcome IS NULL OR {enum_check('outcome', tuple(OUTCOMES))}"


class Attendance(_AttendanceFields, Model):
    """The current record for an attendee (one at most); every save also appends AttendanceHistory."""

    __tablename__ = "attendance"
    __table_args__ = (CheckConstraint(_OUTCOME_CHECK, name="outcome"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    attendee_id: Mapped[int] = mapped_column(ForeignKey("attendee.id"), unique=True)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    attendee: Mapped[Attendee] = relationship(back_populates="attendance")
    recorded_by: Mapped[User | None] = relationship()

    __mapper_args__ = {"version_id_col": version}


class AttendanceHistory(_AttendanceFields, Model):
    __tablename__ = "attendance_history"
    __table_args__ = (
        CheckConstraint(_OUTCOME_CHECK, name="outcome"),
        UniqueConstraint("attendee_id", "version", name="uq_attendance_history_version"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    attendee_id: Mapped[int] = mapped_column(ForeignKey("attendee.id"), index=True)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    version: Mapped[int] = mapped_column(Integer)

    recorded_by: Mapped[User | None] = relationship()
