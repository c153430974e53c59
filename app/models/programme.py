from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import Model
from app.models.base import enum_check

SESSION_TYPES = ("group", "one_to_one")
MODULE_ROLES = ("pre_group", "post_programme")


class ProgrammeTemplate(Model):
    """A version of a programme; a group keeps the version it started with."""

    __tablename__ = "programme_template"
    __table_args__ = (UniqueConstraint("name", "valid_from", name="uq_programme_template_version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)

    modules: Mapped[list[Module]] = relationship(order_by="Module.module_number", back_populates="template")


class Module(Model):
    __tablename__ = "module"
    __table_args__ = (
        UniqueConstraint("template_id", "module_number", name="uq_module_number"),
        CheckConstraint(f"role IS NULL OR {enum_check('role', MODULE_ROLES)}", name="role"),
        CheckConstraint("gap_weeks_before >= 0 AND gap_weeks_after >= 0", name="gaps"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("programme_template.id"))
    module_number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(30))
    gap_weeks_before: Mapped[int] = mapped_column(Integer, default=0)
    gap_weeks_after: Mapped[int] = mapped_column(Integer, default=0)

    template: Mapped[ProgrammeTemplate] = relationship(back_populates="modules")
    session_templates: Mapped[list[SessionTemplate]] = relationship(
        order_by="SessionTemplate.session_number", back_populates="module"
    )


class SessionTemplate(Model):
    __tablename__ = "session_template"
    __table_args__ = (
        UniqueConstraint("module_id", "session_number", name="uq_session_number"),
        CheckConstraint(enum_check("session_type", SESSION_TYPES), name="session_type"),
        CheckConstraint("duration_minutes > 0", name="duration"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    module_id: Mapped[int] = mapped_column(ForeignKey("module.id"))
    session_number: Mapped[int] = mapped_column(Integer)
    session_type: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    duration_minutes: Mapped[int] = mapped_column(Integer)

    module: Mapped[Module] = relationship(back_populates="session_templates")

    @property
    def label(self) -> str:
        return f"{self.module.module_number}.{self.session_number}"
