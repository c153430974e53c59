"""Keyboard alone, focus and colour, in headless Chromium at laptop size (axe-core runs in every journey, see
test_journeys.py): the register and the calendar's postpone form can be completed without a mouse, every stop of
the Tab order shows where the focus is, focus lands on what changed after an HTMX swap, and colour is never the
only way an outcome, a session type or a day is told apart."""
from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Attendance, Attendee, Operation, Session
from app.services import attendance
from tests.browser.journey_kit import VIEWPORTS, axe_violations
from tests.browser.live_server import CHROMIUM, CHROMIUM_ARGS, close_context, live_server, new_context  # noqa: F401
from tests.web.test_calendar import session_of

pytestmark = pytest.mark.browser

# Is the focus visible? GOV.UK draws it as a yellow box-shadow or outline; radios and checkboxes on their label.
FOCUS_VISIBLE = """() => {
  const el = document.activeElement
  if (!el || el === document.body) return null
  const drawn = (s) => (s.boxShadow && s.boxShadow !== 'none') ||
    (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0 && !/rgba\\(\\d+, \\d+, \\d+, 0\\)|transparent/.test(s.outlineColor))
  let shown = drawn(getComputedStyle(el))
  if (!shown && (el.type === 'radio' || el.type === 'checkbox')) {
    const label = el.labels && el.labels[0]
    shown = label && (drawn(getComputedStyle(label, '::before')) || drawn(getComputedStyle(label, '::after')))
  }
  const name = (el.getAttribute('aria-label') || el.innerText || el.value || el.id || el.tagName).trim().slice(0, 60)
  return {shown: !!shown, name: el.tagName.toLowerCase() + ' "' + name + '"'}
}"""


@pytest.fixture
def laptop(live_server: str):  # type: ignore[no-untyped-def]  # noqa: F811
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = new_context(browser, base_url=live_server, **VIEWPORTS["laptop"])
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            yield page
        finally:
            close_context(context)
            browser.close()


def _read(query):  # type: ignore[no-untyped-def]
    db.session.expire_all()
    try:
        return db.session.execute(query).all()
    finally:
        db.session.rollback()


class Keyboard:
    """Tab, type and press keys; remember every focus stop that does not show where the focus is."""

    def __init__(self, page) -> None:  # type: ignore[no-untyped-def]
        self.page = page
        self.invisible: list[str] = []

    def focused(self, selector: str) -> bool:
        return bool(self.page.evaluate("s => !!document.activeElement && document.activeElement.matches(s)", selector))

    def tab_to(self, selector: str, limit: int = 120) -> None:
        for _ in range(limit):
            if self.focused(selector):
                return
            self.page.keyboard.press("Tab")
            stop = self.page.evaluate(FOCUS_VISIBLE)
            if stop and not stop["shown"]:
                self.invisible.append(f"{self.page.url}: {stop['name']}")
        assert self.focused(selector), f"Tab never reached {selector}"

    def tab_through_page(self, limit: int = 400) -> int:
        """Tab from the top of the page to the end (focus leaves the document): no trap, every stop visible."""
        self.page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0) }")
        stops = 0
        for stops in range(1, limit):
            self.page.keyboard.press("Tab")
            stop = self.page.evaluate(FOCUS_VISIBLE)
            if stop is None:
                return stops
            if not stop["shown"]:
                self.invisible.append(f"{self.page.url}: {stop['name']}")
        raise AssertionError(f"still tabbing after {limit} stops: a keyboard trap?")

    def type_date(self, day: int, month: int, year: int) -> None:
        """Type a date into the focused date field, in the order its parts are shown (day or month first, as
        the browser's language has it): tried once with 1 2 2026, then typed over from the first part."""
        page = self.page
        page.keyboard.type("01022026")
        day_first = page.evaluate("() => document.activeElement.value") == "2026-02-01"
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Shift+Tab")
        first, second = (day, month) if day_first else (month, day)
        page.keyboard.type(f"{first:02d}{second:02d}{year}")

    def sign_in(self, username: str) -> None:
        """By keyboard: Tab to *Sign in*, Enter; on HMPPS Auth's page Tab to the user's button, Enter."""
        self.page.goto("/login")
        self.tab_to(".govuk-button--start")
        self.page.keyboard.press("Enter")
        self.page.wait_for_url(lambda url: "/oauth/authorize" in url)
        self.tab_to(f'button[value="{username}"]')
        self.page.keyboard.press("Enter")
        self.page.wait_for_url(lambda url: "/oauth/authorize" not in url and "/login" not in url)


# ---------------------------------------------------------------------------------------------------- register

@pytest.fixture
def register(world):  # type: ignore[no-untyped-def]
    region = world.region("NW", "North West")
    fran = world.facilitator(region, "Fran Lead")
    manager = world.user(region, "treatment_manager", "tm.nw")
    world.user(region, "facilitator", "fac.nw", facilitator=fran)
    people = tuple(world.referral(region, name) for name in ("Alex Able", "Billie Brown", "Charlie Cole"))
    group = world.started(world.group(manager, "BC1", start=date(2026, 3, 9), lead=fran, members=people), manager)
    clock.freeze(datetime(2026, 4, 13, 10, 20))
    session_id = db.session.scalar(select(Session.id).where(Session.group_id == group.id,
                                                           Session.starts_at == datetime(2026, 4, 13, 10)))
    db.session.commit()
    return session_id


def test_the_register_can_be_completed_with_the_keyboard_alone(laptop, register):  # type: ignore[no-untyped-def]
    page = laptop
    keys = Keyboard(page)
    keys.sign_in("fac.nw")
    page.wait_for_url("**/sessions")  # a facilitator lands on My sessions
    keys.tab_to("a.app-register-sessions__link")
    page.keyboard.press("Enter")
    page.locator("#register-count").wait_for()
    assert keys.tab_through_page() > 20
    rows = [int(x) for x in page.locator("li.app-register-row").evaluate_all("rows => rows.map(r => r.dataset.attendee)")]
    alex, billie, charlie = rows

    page.evaluate("() => window.scrollTo(0, 0)")
    # Enter on "Attended": saved, and the focus comes back to the pressed button in the redrawn row
    keys.tab_to(f"#attendee-{alex} button[value=ATTC]")
    page.keyboard.press("Enter")
    page.locator(f"#attendee-{alex}:not(.app-register-row--waiting) button[value=ATTC][aria-pressed=true]").wait_for()
    page.wait_for_function("s => document.activeElement && document.activeElement.matches(s)",
                           arg=f"#attendee-{alex} button[value=ATTC]")
    # A time typed in, then on to the next field at once: when the row is redrawn by that save, the focus stays
    # where the person has gone (it does not jump back to the field that was saved)
    keys.tab_to(f"#arrived_at-{alex}")
    page.keyboard.type("1005")
    if page.locator(f"#arrived_at-{alex}").input_value() == "":
        page.keyboard.type("a")  # a 12-hour clock in this browser: the AM/PM part
    with page.expect_response(lambda r: f"/attendees/{alex}" in r.url and r.request.method == "POST") as saved:
        keys.tab_to(f"#departed_at-{alex}")
    assert saved.value.status == 200
    page.locator(f"#attendee-{alex} .app-register-row__saved").wait_for()
    page.wait_for_function("s => document.activeElement && document.activeElement.matches(s)",
                           arg=f"#departed_at-{alex}")
    # Space on "Did not attend" for the next person
    keys.tab_to(f"#attendee-{billie} button[value=UAAB]")
    page.keyboard.press("Space")
    page.locator(f"#attendee-{billie}:not(.app-register-row--waiting) button[value=UAAB][aria-pressed=true]").wait_for()
    # An acceptable absence: open the reasons with Enter, choose one
    keys.tab_to(f"#attendee-{charlie} summary")
    page.keyboard.press("Enter")
    keys.tab_to(f"#attendee-{charlie} button[value=AAME]")
    page.keyboard.press("Enter")
    page.locator(f"#attendee-{charlie}:not(.app-register-row--waiting) button[value=AAME][aria-pressed=true]").wait_for()
    page.wait_for_function("s => document.activeElement && document.activeElement.matches(s)",
                           arg=f"#attendee-{charlie} button[value=AAME]")
    # Notes, typed and saved from the keyboard
    keys.tab_to(f"#attendee-{charlie} textarea[name=notes]")
    page.keyboard.type("Hospital appointment, letter seen")
    keys.tab_to(f"#attendee-{charlie} button[name=save]")
    with page.expect_response(lambda r: f"/attendees/{charlie}" in r.url and r.request.method == "POST") as saved:
        page.keyboard.press("Enter")
    assert saved.value.status == 200
    page.wait_for_function("s => document.activeElement && document.activeElement.matches(s)",
                           arg=f"#attendee-{charlie} textarea[name=notes]")
    page.locator("#register-count", has_text="3 of 3").wait_for()

    assert keys.invisible == [], f"focus not visible on: {keys.invisible}"
    assert axe_violations(page) == []
    stored = {a: (o, n) for a, o, n in _read(select(Attendance.attendee_id, Attendance.outcome, Attendance.notes))}
    [(arrived,)] = _read(select(Attendance.arrived_at).where(Attendance.attendee_id == alex))
    assert arrived is not None and arrived.strftime("%H:%M") == "10:05"
    assert stored == {alex: ("ATTC", None), billie: ("UAAB", None),
                      charlie: ("AAME", "Hospital appointment, letter seen")}


# ---------------------------------------------------------------------------------------------------- calendar

@pytest.fixture
def calendar_group(world):  # type: ignore[no-untyped-def]
    clock.freeze(datetime(2026, 5, 20, 9, 0))
    region = world.region("NW", "North West")
    manager = world.user(region, "treatment_manager", "tm.nw")
    people = (world.referral(region, "Sam Person"), world.referral(region, "Alex Person"))
    group = world.started(world.group(manager, "BC1", lead=world.facilitator(region, "Fran Lead"), members=people),
                          manager)
    ids = {"group": group.id, "session": session_of(group, 3, 3).id}
    db.session.commit()
    return ids


def test_a_session_can_be_postponed_with_the_keyboard_alone(laptop, rq_worker, calendar_group):  # type: ignore[no-untyped-def]
    page, session_id = laptop, calendar_group["session"]
    keys = Keyboard(page)
    keys.sign_in("tm.nw")
    page.goto(f"/calendar?view=week&date=2026-05-25&scope=group-{calendar_group['group']}")
    assert keys.tab_through_page() > 10
    page.evaluate("() => window.scrollTo(0, 0)")
    # To the next week: the calendar is redrawn and the focus stays on "Next week", ready to go on
    keys.tab_to("#calendar-nav-3")  # Previous week, Today, Next week
    page.keyboard.press("Enter")
    page.locator("#calendar-title", has_text="Week of 1 to 7 June 2026").wait_for()
    page.wait_for_function("() => document.activeElement && document.activeElement.textContent.trim() === 'Next week'")
    keys.tab_to(f"#session-{session_id} a.app-session__action")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/calendar/sessions/{session_id}/postpone")

    keys.tab_to("input[type=date]")
    keys.type_date(8, 6, 2026)
    assert page.locator("input[type=date]").input_value() == "2026-06-08"
    keys.tab_to("button.govuk-button--secondary")  # past the times and the choice, which keep their defaults
    page.keyboard.press("Enter")
    # The preview is swapped in and the focus moves to its heading, so a screen reader reads what will move
    heading = page.locator("#postpone-preview #calendar-dialog-title")
    heading.filter(has_text="Postpone Managing my feelings, part 1 to Mon 8 Jun 2026").wait_for()
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'calendar-dialog-title'")
    assert axe_violations(page) == []
    keys.tab_to("#postpone-preview button[type=submit]")
    page.keyboard.press("Enter")
    page.locator("#postpone-preview h2", has_text="Moving the sessions").wait_for()
    page.wait_for_function("() => document.activeElement && document.activeElement.textContent.includes('Moving')")
    page.locator("#postpone-preview").get_by_text("Done", exact=True).wait_for(timeout=30_000)

    assert keys.invisible == [], f"focus not visible on: {keys.invisible}"
    [(starts_at,)] = _read(select(Session.starts_at).where(Session.id == session_id))
    assert starts_at == datetime(2026, 6, 8, 10)
    [(status,)] = _read(select(Operation.status).where(Operation.kind == "cascade"))
    assert status == "succeeded"


# ------------------------------------------------------------------------------------------------------ colour

@pytest.fixture
def every_outcome(world):  # type: ignore[no-untyped-def]
    """A group whose people between them have every kind of outcome, a catch-up and a one-to-one."""
    region = world.region("NW", "North West")
    manager = world.user(region, "treatment_manager", "tm.nw")
    world.user(region, "lead", "lead.nw")
    names = ("Alex Able", "Billie Brown", "Charlie Cole", "Dee Dunn", "Eli East")
    people = tuple(world.referral(region, name) for name in names)
    group = world.started(world.group(manager, "BC1", start=date(2026, 3, 9), members=people), manager)
    clock.freeze(datetime(2026, 4, 28, 9))
    outcomes = {"Alex Able": "ATTC", "Billie Brown": "AFTC", "Charlie Cole": "UAAB", "Dee Dunn": "AAME"}
    for attendee in db.session.scalars(select(Attendee).join(Session).where(
            Session.group_id == group.id, Session.starts_at < clock.now_local())):
        if attendee.referral.person_name in outcomes:  # Eli's are left to be confirmed
            attendance.record(manager, attendee, outcome=outcomes[attendee.referral.person_name])
    ids = {"group": group.id, "session": session_of(group, 2, 2).id}
    db.session.commit()
    return ids


def _signals(page, selector: str, modifier: str, text: str) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    """For each element matching `selector`: its colour modifier class (the one starting with `modifier`) and
    what else than colour a sighted person sees: its text (`text` selects the part, or the element itself), and
    a pattern if it has one."""
    pairs = page.locator(selector).evaluate_all(
        """(els, [modifier, text]) => els.map(el => {
             const cls = [...el.classList].find(c => c.startsWith(modifier) && !c.endsWith('--now')) || ''
             const part = text ? el.querySelector(text) : el
             const pattern = getComputedStyle(el).backgroundImage !== 'none' ? ' (patterned)' : ''
             return [cls, (part ? part.innerText.trim() : '') + pattern]
           })""", [modifier, text])
    seen: dict[str, set[str]] = {}
    for cls, shown in pairs:
        seen.setdefault(cls, set()).add(shown)
    return seen


def _distinct(seen: dict[str, set[str]]) -> None:
    """Different colours never share the same visible text."""
    owners: dict[str, str] = {}
    for cls, texts in seen.items():
        for text in texts:
            assert owners.setdefault(text, cls) == cls, f"{cls} and {owners[text]} both show {text!r}"


def test_colour_is_never_the_only_signal(laptop, every_outcome):  # type: ignore[no-untyped-def]
    page = laptop
    keys = Keyboard(page)
    keys.sign_in("lead.nw")

    # The progress grid: every outcome colour has its own symbol, and words for screen readers
    page.goto(f"/progress/groups/{every_outcome['group']}")
    grid = _signals(page, "tbody td.app-progress-grid__cell", "app-progress-grid__cell--", "span[aria-hidden]")
    assert {"app-progress-grid__cell--complete", "app-progress-grid__cell--AFTC", "app-progress-grid__cell--UAAB",
            "app-progress-grid__cell--absent", "app-progress-grid__cell--unrecorded"} <= set(grid)
    _distinct(grid)
    hidden = page.locator("tbody td.app-progress-grid__cell .govuk-visually-hidden").all_inner_texts()
    assert all(text.strip() for text in hidden)
    _distinct(_signals(page, ".app-progress-grid-key .app-progress-grid__cell", "app-progress-grid__cell--", ""))
    key = page.locator(".app-progress-grid-key").inner_text()
    for words in ("Attended and complied", "Attended but failed to comply", "Did not attend", "Acceptable absence",
                  "To be confirmed", "Complete in another group"):
        assert words in key

    # The register: each person's outcome in words, and the outcome buttons with a symbol and words
    page.goto(f"/sessions/{every_outcome['session']}")
    tags = _signals(page, ".app-register-row__state .app-outcome", "app-outcome--", "")
    assert len(tags) == 5  # attended, failed to comply, did not attend, absent, to be confirmed
    _distinct(tags)
    buttons = _signals(page, "button.app-register-outcome", "app-register-outcome--", "")
    _distinct({cls: {t.split("\n")[0] for t in texts} for cls, texts in buttons.items()})

    # The calendar: a session's type is written on it; today and bank holidays are labelled
    page.goto(f"/calendar?view=month&date=2026-04-01&scope=group-{every_outcome['group']}")
    sessions = _signals(page, "#calendar .app-calendar__sessions .app-session", "app-session--", ".app-session__type")
    assert {"app-session--group", "app-session--one-to-one"} <= set(sessions)
    _distinct(sessions)
    assert "Bank holiday: Good Friday" in page.locator(".app-calendar__day--bank-holiday").first.inner_text()
    assert "Today" in page.locator(".app-calendar__day--today").inner_text()
