"""What the service accepts as an id, a number or a date, in one place: a value outside these bounds is refused
where it is read (a 404 for a URL, a message next to the field for a form), never passed on to the database or to
date arithmetic, where it would answer 500 (PostgreSQL's integer ends at 2^31 - 1, SQLite's at 2^63 - 1, and
Python's dates at year 9999).

- every `<int:...>` in a route is an `IdConverter` (registered in `init_app`): a path id above `ID_MAX` is a 404;
- a form or query id is read with `db_id` / `parse_id` (WTForms `coerce=parse_id`, `request.form.get(type=parse_id)`);
- a form date is a `RealDateField` (app/web/groups/forms.py), which refuses a date outside `FIRST_DAY`..`LAST_DAY`;
- a calendar URL's date outside that range is a 400 page (app/web/calendar/routes.py)."""
from __future__ import annotations

import re
from datetime import date

from flask import Flask
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

ID_MAX = 2**31 - 1
"""The largest id or counter any table holds: PostgreSQL's `integer` (SQLite's is larger)."""

FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
"""The dates the service plans and shows; anything outside is a typing mistake (and near year 1 or 9999 the date
arithmetic of a calendar month or a 30-week programme would leave Python's date range)."""

DATE_RANGE_MESSAGE = f"Enter a date between {FIRST_DAY:%-d %-m %Y} and {LAST_DAY:%-d %-m %Y}"

_DIGITS = re.compile(r"[0-9]{1,10}")


class IdConverter(IntegerConverter):
    """`<int:name>` in every route: digits only (as Werkzeug's), and no larger than a database id. A larger one is
    "Page not found" at once: a converter that merely refused would let Werkzeug answer 405 for a URL whose other
    method's rule matched first (GET /calendar/sessions/<id>/postpone with its POST twin)."""

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > ID_MAX:
            raise NotFound()
        return number


def parse_id(value: object) -> int:
    """A whole number from 0 to ID_MAX written in digits, else ValueError (so WTForms says "not a valid choice" and
    `request.form.get(..., type=parse_id)` answers its default)."""
    text = str(value).strip() if value is not None else ""
    if not _DIGITS.fullmatch(text) or int(text) > ID_MAX:
        raise ValueError(f"not an id: {text[:20]!r}")
    return int(text)


def db_id(value: object) -> int | None:
    """`parse_id`, with None for anything that is not an id."""
    try:
        return parse_id(value)
    except ValueError:
        return None


def in_range(day: date) -> bool:
    return FIRST_DAY <= day <= LAST_DAY


def init_app(app: Flask) -> None:
    """Before any blueprint is registered: rules bind their converters when they are added."""
    app.url_map.converters["int"] = IdConverter


def parse_page(value: object) -> int:
    """A page number of a paged list: 1 up to 10,000 (OFFSET stays far inside the database's integers)."""
    number = parse_id(value)
    if not 1 <= number <= 10_000:
        raise ValueError(f"not a page: {number}")
    return number
