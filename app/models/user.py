from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import Model
from app.models.base import UTCDateTime, enum_check

ROLES = ("facilitator", "treatment_manager", "lead", "admin")
ROLE_NAMES = {
    "facilitator": "Facilitator",
    "treatment_manager": "Treatment manager",
    "lead": "Lead",
    "admin": "Admin",
}
# HMPPS Auth authorities (the token's `authorities`) and the role each gives here, strongest first: someone with
# several gets the first that applies. The one table of them.
AUTHORITY_PREFIX = "ROLE_ACCREDITED_PROGRAMMES_MANAGE_AND_DELIVER_"
ROLE_BY_AUTHORITY = {
    AUTHORITY_PREFIX + "ADMIN": "admin",
    AUTHORITY_PREFIX + "TREATMENT_MANAGER": "treatment_manager",
    AUTHORITY_PREFIX + "LEAD": "lead",
    AUTHORITY_PREFIX + "FACILITATOR": "facilitator",
}
AUTHORITY_BY_ROLE = {role: authority for authority, role in ROLE_BY_AUTHORITY.items()}


def role_from_authorities(authorities: list[str] | tuple[str, ...] | set[str]) -> str | None:
    held = set(authorities)
    return next((role for authority, role in ROLE_BY_AUTHORITY.items() if authority in held), None)


class Region(Model):
    __tablename__ = "region"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))


class Facilitator(Model):
    __tablename__ = "facilitator"
    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    staff_code: Mapped[str] = mapped_column(String(20), unique=True)
    team_code: Mapped[str] = mapped_column(String(20))
    email: Mapped[str] = mapped_column(String(200))
    # Facilitators are the region's nDelius staff (issue 15.10, app/services/staff.py): False once nDelius no
    # longer lists them in the region (kept, because past sessions name them; no longer offered to choose).
    in_ndelius: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last read from nDelius

    region: Mapped[Region] = relationship()


class User(UserMixin, Model):
    __tablename__ = "app_user"
    __table_args__ = (CheckConstraint(enum_check("role", ROLES), name="role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    # No password: people sign in through HMPPS Auth; role and region are refreshed from it at each sign-in.
    role: Mapped[str] = mapped_column(String(20))
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    facilitator_id: Mapped[int | None] = mapped_column(ForeignKey("facilitator.id"), unique=True)
    # False: locked out here whatever HMPPS Auth says (checked on every request).
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped at sign-out: a copied session cookie carrying the old value stops working.
    session_version: Mapped[int] = mapped_column(Integer, default=1)

    region: Mapped[Region] = relationship()
    facilitator: Mapped[Facilitator | None] = relationship()

    @property
    def is_active(self) -> bool:
        return bool(self.active)

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def role_name(self) -> str:
        return ROLE_NAMES[self.role]
