"""Reading what was entered on the register, catch-up and one-to-one pages. Every value is checked against an
allow-list or parsed strictly; what the person typed is kept so a refused save shows it back to them."""
from __future__ import annotations

import datetime
import re
import secrets
from dataclasses import dataclass, field
from datetime import time

from flask_wtf import FlaskForm
from werkzeug.datastructures import Headers, MultiDict
from wtforms import DateField, SelectField, SelectMultipleField, TimeField
from wtforms.validators import Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.models.session import OUTCOMES
from app.services import idempotency
from app.services.attendance import RowInput
from app.web.input_bounds import DATE_RANGE_MESSAGE, db_id, in_range, parse_id

CLEAR = "NONE"
"""The value of the button that takes an outcome back to "To be confirmed"."""


def small_int(value: str | None) -> int | None:
    """A non-negative whole number that fits a database id, else None (never an exception)."""
    return db_id(value) if value else None


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_text(value: str | None) -> str:
    """Free text as stored: Windows line ends made plain, control characters (NUL…) dropped, trimmed."""
    return _CONTROL.sub("", (value or "").replace("\r\n", "\n").replace("\r", "\n")).strip()


def new_key() -> str:
    """An idempotency key: 32 hex digits, 128 random bits."""
    return secrets.token_hex(16)


def request_key(form: MultiDict[str, str], headers: Headers) -> str | None:
    """The idempotency key of this request: the header (set per tap by register.js), else the form field
    (rendered with the row, for browsers without JavaScript)."""
    return idempotency.clean(headers.get(idempotency.HEADER)) or idempotency.clean(form.get(idempotency.FIELD))


def parse_time(value: str | None) -> time:
    value = (value or "").strip()
    parts = value.split(":")
    if len(parts) in (2, 3) and all(re.fullmatch(r"[0-9]{1,2}", p) for p in parts) and len(parts[1]) == 2:
        hour, minute = int(parts[0]), int(parts[1])
        if 0 <= hour < 24 and 0 <= minute < 60:
            return time(hour, minute)
    raise ValueError(value)


@dataclass
class RowForm:
    """One register row as posted."""

    raw: dict[str, str]
    data: RowInput | None = None
    seen_version: int | None = None
    errors: dict[str, str] = field(default_factory=dict)
    bad_request: bool = False

    @classmethod
    def parse(cls, form: MultiDict) -> RowForm:
        raw = {
            "outcome": form.get("outcome", form.get("current_outcome", "")).strip(),
            "arrived_at": form.get("arrived_at", "").strip(),
            "departed_at": form.get("departed_at", "").strip(),
            "did_not_engage": "y" if form.get("did_not_engage") else "",
            "notes": clean_text(form.get("notes")),
            "version": form.get("version", "").strip(),
        }
        parsed = cls(raw=raw)
        outcome: str | None = raw["outcome"] or None
        if outcome == CLEAR:
            outcome = None
        elif outcome is not None and outcome not in OUTCOMES:
            parsed.errors["outcome"] = "Choose an outcome from the list"
        times: dict[str, time | None] = {}
        for name, label in (("arrived_at", "arrival"), ("departed_at", "departure")):
            try:
                times[name] = parse_time(raw[name]) if raw[name] else None
            except ValueError:
                parsed.errors[name] = f"Enter the {label} time as a 24-hour time, for example 10:05"
        if raw["version"]:
            parsed.seen_version = small_int(raw["version"])
            parsed.bad_request = parsed.seen_version is None
        if not parsed.errors:
            parsed.data = RowInput(outcome=outcome, did_not_engage=bool(raw["did_not_engage"]),
                                   arrived_at=times["arrived_at"], departed_at=times["departed_at"],
                                   notes=raw["notes"] or None)
        return parsed

    @staticmethod
    def shown(data: RowInput | None) -> dict[str, str]:
        """The form values for a stored record."""
        data = data or RowInput(outcome=None)
        return {
            "outcome": data.outcome or "",
            "arrived_at": data.arrived_at.strftime("%H:%M") if data.arrived_at else "",
            "departed_at": data.departed_at.strftime("%H:%M") if data.departed_at else "",
            "did_not_engage": "y" if data.did_not_engage else "",
            "notes": data.notes or "",
        }


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class _When(FlaskForm):
    class Meta:
        csrf = False  # CSRFProtect checks every POST already

    date = DateField("Date", validators=[Optional()], format="%Y-%m-%d")
    start_time = TimeField("Start time", validators=[Optional()], format="%H:%M")
    facilitator_id = SelectField("Facilitator", coerce=parse_id, validators=[Optional()])

    def dates_readable(self) -> bool:
        ok = True
        if self.date.raw_data and self.date.raw_data[0] and self.date.data is None:
            self.date.errors = ["Enter a real date, for example 5 May 2026"]
            ok = False
        elif self.date.data is not None and not in_range(self.date.data):
            self.date.errors = [DATE_RANGE_MESSAGE]
            ok = False
        if self.start_time.raw_data and self.start_time.raw_data[0] and self.start_time.data is None:
            self.start_time.errors = ["Enter the start time as a 24-hour time, for example 14:00"]
            ok = False
        return ok

    @property
    def when(self) -> tuple[datetime.date | None, time | None]:  # `date` here is the field
        return self.date.data, self.start_time.data


class CatchUpForm(_When):
    people = MultiCheckboxField("Who is the catch-up for?", coerce=parse_id, validators=[Optional()])


class BookingForm(_When):
    pass
