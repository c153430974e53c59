"""The service's forms as its pages render them, for the form fuzzer: which endpoint each form posts to, its fields,
each field's kind (id, number, date, time, choice, text), the value the page would send and the values it offers;
and the edge values of each kind."""
from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlsplit

from werkzeug.exceptions import HTTPException

from app.web.permissions import MATRIX
from tests.web.regions import fill

_BIG_IDS = ["2147483648", "9223372036854775807", "9223372036854775808", "99999999999999999999"]
EDGES: dict[str, list[str]] = {
    "id": ["-1", "0", "2147483647", *_BIG_IDS, "1.5", "NaN", "1e308", " 1", "0x10", "\u0661\u0662", ""],
    "path_id": ["0", "2147483647", *_BIG_IDS],
    "number": ["-1", "0", "-0", "2147483647", *_BIG_IDS, "1.5", "NaN", "inf", "1e308", "\u0661", ""],
    "date": ["0001-01-01", "9999-12-31", "1999-12-31", "2100-01-01", "2026-02-30", "2026-13-01", "10000-01-01",
             "2026-3-2", "31/12/2026", "0000-00-00", ""],
    "time": ["24:00", "25:61", "23:60", "-1:00", "10:5", "9:05", "23:59:60", "99999999999:00", "10:00:00", "noon",
             ""],
    "choice": ["-1", "1.5", "NaN", "7", "99999999999999999999", "", "\x00", "NONE"],
    "text": ["", " ", "x" * 4001, "x" * 100_000, "x" * 300_000, "\x00\x01\x1f\x7f", "\u202e\u0000", "é" * 5000,
             "\r\n" * 200],
    "scope": ["group-2147483648", "facilitator-99999999999999999999", "group-", "group--1", "region", "x-1",
              "group-\u0661", "group-0"],
}
QUERY_FIELDS = {"date": "date", "view": "choice", "scope": "scope", "page": "number", "group_id": "id",
                "region_id": "id", "q": "text", "person": "id", "start": "time", "end": "time", "cascade": "choice",
                "sex": "choice", "cohort": "choice", "ldc": "choice", "dialog": "choice", "referral_id": "id"}


@dataclass
class Field:
    kind: str
    value: str | None = None  # what the page would send as it is
    offered: tuple[str, ...] = ()


def kind_of(name: str, tag: str, input_type: str) -> str:
    if input_type in ("date", "time", "number"):
        return input_type
    if tag == "select" or input_type in ("radio", "checkbox") or tag == "button":
        return "choice"
    if name in ("id", "version") or name.endswith(("_id", "_ids")):
        return "id" if name != "version" else "number"
    if "date" in name:
        return "date"
    if name in ("start", "end") or name.endswith(("_time", "_at")):
        return "time"
    return "text"


class _Forms(HTMLParser):
    def __init__(self, page_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.forms: list[tuple[str, dict[str, Field]]] = []
        self.links: list[str] = []
        self._fields: dict[str, Field] | None = None
        self._select: tuple[str, Field] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and "?" in a.get("href", ""):
            self.links.append(a["href"])
        if tag == "form":
            action = a.get("hx-post") or a.get("action") or self.page_url
            self._fields = {}
            self.forms.append((action, self._fields))
            return
        if self._fields is None or not a.get("name") or a["name"] == "csrf_token":
            if tag == "option" and self._select is not None:
                self._option(a)
            return
        name, input_type = a["name"], a.get("type", "text" if tag == "input" else "")
        field = self._fields.setdefault(name, Field(kind_of(name, tag, input_type)))
        if tag == "select":
            self._select = (name, field)
        elif input_type in ("radio", "checkbox") or tag == "button":
            field.offered += (a.get("value", "on"),)
            if "checked" in a and field.value is None:
                field.value = a.get("value", "on")
        elif tag == "input" and input_type not in ("submit",):
            field.value = a.get("value", "")
        elif tag == "textarea":
            field.value = ""

    def _option(self, a: dict[str, str]) -> None:
        assert self._select is not None
        _name, field = self._select
        field.offered += (a.get("value", ""),)
        if "selected" in a or field.value is None:
            field.value = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._fields = None
        elif tag == "select":
            self._select = None


def read_forms(app, person, rules, ids) -> dict[str, dict[str, Field]]:  # type: ignore[no-untyped-def]
    """Every form on every page this person may open, by the endpoint it posts to ("*": every field seen), and
    the query arguments of every link, by the endpoint it opens ("GET <endpoint>")."""
    adapter = app.url_map.bind("localhost")
    found: dict[str, dict[str, Field]] = {"*": {}}
    for endpoint, allowed in MATRIX.items():
        rule = rules[endpoint]
        if "GET" not in rule.methods or person.role not in allowed:
            continue
        url = fill(rule, ids)
        parser = _Forms(url)
        parser.feed(person.get(url).get_data(as_text=True))
        for action, fields in parser.forms:
            try:
                target, _args = adapter.match(urlsplit(action).path, method="POST")
            except HTTPException:
                continue
            for name, field in fields.items():
                found.setdefault(str(target), {}).setdefault(name, field)
                found["*"].setdefault(name, field)
        for link in parser.links:
            parts = urlsplit(link)
            try:
                target, _args = adapter.match(parts.path, method="GET")
            except HTTPException:
                continue
            for name, value in parse_qsl(parts.query, keep_blank_values=True):
                kind = QUERY_FIELDS.get(name) or kind_of(name, "input", "text")
                found.setdefault(f"GET {target}", {}).setdefault(name, Field(kind, value))
    return found
