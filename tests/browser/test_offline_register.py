"""Issue 17: the register works offline for a whole session and nothing tapped is lost. In Chromium, as a
facilitator uses it on a tablet: My sessions opened on a connection keeps the registers; offline, taps wait on
the device (IndexedDB) through a closed browser, a reload or an expired session, the register opens from the
device's copy, and back online every change is saved exactly once and reaches the fake nDelius (through the
outbox relay run by a real worker).

A "browser restart" is a real one: the tablet is a Chromium with its profile in a directory, closed and
launched again on it."""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from app import clock
from app.extensions import db
from app.models import (
    Attendance,
    AttendanceHistory,
    Attendee,
    NDeliusAppointment,
    ProcessedRequest,
    Referral,
    Session,
    SessionFacilitator,
    User,
)
from app.services import attendance, ndelius_sync
from app.web.auth import routes as auth_routes
from jobs.ndelius import queue_relay
from tests.browser.journey_kit import shots_dir
from tests.browser.live_server import close_context, new_persistent_context, sign_in
from tests.fakes.ndelius import start_fake_ndelius

pytestmark = [pytest.mark.browser]

PEOPLE = ("Alex Able", "Billie Brown", "Charlie Cole", "Dee Dunn", "Eli East")
COPIED_AT = datetime(2026, 4, 13, 9, 12)  # My sessions opened on the office wifi
TAPPED_AT = datetime(2026, 4, 13, 10, 20)  # the session started at 10:00, in the basement room
COPY_BANNER = "Offline copy from 09:12 — your changes will be sent when you are back online"


@pytest.fixture(scope="module")
def fake() -> Iterator[Any]:
    server = start_fake_ndelius(hmpps_auth_url=os.environ["HMPPS_AUTH_URL"])  # takes our tokens from HMPPS Auth
    yield server
    server.stop()


@pytest.fixture
def worker_env(fake) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"NDELIUS_URL": fake.url, "HMPPS_AUTH_URL": fake.url}


@pytest.fixture
def register(app, world, fake, monkeypatch):  # type: ignore[no-untyped-def]
    """Fran's Monday 13 April session with five people, already in nDelius; the clock at 09:12."""
    assert fake.wait_idle()
    fake.reset()
    fake.set(now="2026-03-01T09:00")
    monkeypatch.setitem(app.config, "NDELIUS_URL", fake.url)
    region = world.region("NW", "North West")
    fran = world.facilitator(region, "Fran Lead")
    manager = world.user(region, "treatment_manager", "tm.nw")
    world.user(region, "facilitator", "fac.nw", facilitator=fran)
    people = tuple(world.referral(region, name) for name in PEOPLE)
    group = world.group(manager, "BC1", lead=fran, members=people)
    group.location_code = "LOC1"
    db.session.commit()
    world.started(group, manager)
    clock.freeze(datetime(2026, 3, 1, 9))  # the group's appointments go to nDelius before its first session
    assert ndelius_sync.drain(breaker=False).created == len(db.session.scalars(select(NDeliusAppointment)).all())
    clock.freeze(COPIED_AT)
    session_id = db.session.scalar(select(Session.id).where(Session.group_id == group.id,
                                                           Session.starts_at == datetime(2026, 4, 13, 10)))
    db.session.commit()  # SQLite: the test holds no transaction while the server writes
    return session_id


class Tablet:
    """A 10-inch touch tablet whose browser can be closed and launched again (its profile in a directory)."""

    def __init__(self, playwright, profile: Path, base_url: str, shots: Path) -> None:  # type: ignore[no-untyped-def]
        """`shots`: the test's tmp directory (screenshots go under it, or to docs/ with SCREENSHOTS=1)."""
        self.playwright, self.profile, self.base_url, self.shots = playwright, profile, base_url, shots
        self.viewport = {"width": 1024, "height": 768}
        self.context: Any = None
        self.errors: list[str] = []
        self.init_scripts: list[str] = []  # run in every page before its own scripts

    def start(self):  # type: ignore[no-untyped-def]
        self.context = new_persistent_context(self.playwright, str(self.profile), base_url=self.base_url,
                                              viewport=self.viewport, has_touch=True)
        self.context.set_default_timeout(20_000)
        for script in self.init_scripts:
            self.context.add_init_script(script)
        return self.new_page()

    def new_page(self):  # type: ignore[no-untyped-def]
        page = self.context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        return page

    def restart(self):  # type: ignore[no-untyped-def]
        close_context(self.context)
        return self.start()

    def shot(self, page, name: str) -> None:  # type: ignore[no-untyped-def]
        """A screenshot of what the person sees, the size of the screen as the README's set (SCREENSHOTS=1 keeps
        them in docs/screenshots/offline/tablet/)."""
        folder = shots_dir("offline", "tablet" if self.viewport["width"] == 1024 else "laptop", self.shots)
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"))

    def close(self) -> None:
        if self.context is not None:
            close_context(self.context)


@pytest.fixture
def tablet(live_server, tmp_path) -> Iterator[Tablet]:  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        device = Tablet(p, tmp_path / "profile", live_server, tmp_path)
        try:
            yield device
        finally:
            device.close()
    assert device.errors == [], f"JavaScript errors: {device.errors}"


def _sign_in(page, username: str) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, username)


def _keep_registers_for_offline(page) -> None:  # type: ignore[no-untyped-def]
    """The facilitator opens My sessions on a connection: today's and the next 7 days' registers are kept."""
    page.goto("/sessions")
    page.get_by_text("Your registers for today and the next 7 days are kept on this device").wait_for()


def _rows(page) -> list[int]:  # type: ignore[no-untyped-def]
    page.locator("li.app-register-row").first.wait_for()
    return [int(x) for x in page.locator("li.app-register-row").evaluate_all("rows => rows.map(r => r.dataset.attendee)")]


def _tap(page, row: int, outcome: str) -> None:  # type: ignore[no-untyped-def]
    page.locator(f"#attendee-{row} button[value={outcome}]").tap()


def _waiting(page, row: int, label: str) -> None:  # type: ignore[no-untyped-def]
    """The row shows the outcome it is waiting to send: the button pressed, and the words."""
    page.locator(f"#attendee-{row}.app-register-row--waiting .app-offline-waiting",
                 has_text=f"Waiting to send: {label}").wait_for()
    assert page.locator(f"#attendee-{row} button[aria-pressed=true]").get_attribute("data-label") == label
    assert page.locator(f"#attendee-{row} .app-register-row__saved").count() == 0


def _saved(page, row: int) -> None:  # type: ignore[no-untyped-def]
    page.locator(f"#attendee-{row}:not(.app-register-row--waiting) .app-register-row__saved").wait_for()


def _read(query):  # type: ignore[no-untyped-def]
    db.session.expire_all()
    try:
        return db.session.execute(query).all()
    finally:
        db.session.rollback()


def _on_the_server(session_id: int, username: str = "fac.nw") -> dict[str, Any]:
    """What the server keeps: the outcome per attendee, the changes saved by the facilitator (history rows)
    and the idempotency keys claimed for them."""
    outcomes = dict(_read(select(Attendance.attendee_id, Attendance.outcome).join(Attendee)
                          .where(Attendee.session_id == session_id)))
    [(changes,)] = _read(select(func.count()).select_from(AttendanceHistory).join(User, User.id == AttendanceHistory.recorded_by_id)
                         .where(User.username == username))
    [(keys,)] = _read(select(func.count()).select_from(ProcessedRequest).where(ProcessedRequest.scope == "attendance"))
    return {"outcomes": outcomes, "changes": changes, "keys": keys}


_PAUSE = threading.Event()


def _eventually(read, expected, seconds: float = 20):  # type: ignore[no-untyped-def]
    """What `read` gives once it is `expected` (or at the end of the wait): for what the person does not see."""
    deadline = time.monotonic() + seconds
    while (found := read()) != expected and time.monotonic() < deadline:
        _PAUSE.wait(0.2)  # (not time.sleep: it fails under faketime)
    return found


def _outcomes_in_ndelius(fake, session_id: int, expected: dict[int, str]) -> dict[int, str | None]:
    """Run the relay (as the scheduler does) on the real worker and wait until nDelius has the outcomes."""
    references = dict(_read(select(NDeliusAppointment.attendee_id, NDeliusAppointment.reference).join(Attendee)
                            .where(Attendee.session_id == session_id)))

    def codes(fake) -> dict[int, str]:  # type: ignore[no-untyped-def]
        found = {a: (fake.appointments.get(str(references[a])) or {}).get("outcome") for a in references}
        return {a: o["code"] for a, o in found.items() if o}

    queue_relay()
    fake.wait_until(lambda f: codes(f) == expected, timeout=30)
    return codes(fake)


def _offline_with_three_taps(tablet: Tablet, session_id: int):  # type: ignore[no-untyped-def]
    page = tablet.start()
    _sign_in(page, "fac.nw")
    _keep_registers_for_offline(page)
    clock.freeze(TAPPED_AT)
    page.get_by_role("link", name="Introduction to Building Choices").tap()
    rows = _rows(page)
    tablet.context.set_offline(True)
    _tap(page, rows[0], "ATTC")
    _tap(page, rows[1], "UAAB")
    _tap(page, rows[2], "AFTC")
    for row, label in zip(rows, ("Attended", "Did not attend", "Attended but failed to comply"), strict=False):
        _waiting(page, row, label)
    page.locator("#offline-status", has_text="You are offline. 3 changes waiting to be sent").wait_for()
    tablet.shot(page, "01-offline-three-taps")
    assert "0 of 5" in page.inner_text("#register-count")
    assert _on_the_server(session_id)["changes"] == 0
    return page, rows


def _three_waiting_on_the_copy(page, session_id: int, rows: list[int]) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"/sessions/{session_id}")
    page.locator(".app-offline-copy", has_text=COPY_BANNER).wait_for()
    for row, label in zip(rows, ("Attended", "Did not attend", "Attended but failed to comply"), strict=False):
        _waiting(page, row, label)
    page.locator("#offline-status", has_text="You are offline. 3 changes waiting to be sent").wait_for()


EXPECTED = ("ATTC", "UAAB", "AFTC", "ATTC")


def _all_four_saved(page, fake, session_id: int, rows: list[int]) -> None:  # type: ignore[no-untyped-def]
    for row in rows[:4]:
        _saved(page, row)
    page.locator("#register-count", has_text="4 of 5").wait_for()
    page.locator("#offline-status", has_text="You are back online and nothing is waiting to be sent.").wait_for()
    assert page.locator("#offline-status").get_by_role("link").inner_text() == "Open the register as it is now"
    expected = dict(zip(rows, EXPECTED, strict=False))
    assert _on_the_server(session_id) == {"outcomes": expected, "changes": 4, "keys": 4}
    saved_in_order = [a for (a,) in _read(select(AttendanceHistory.attendee_id).order_by(AttendanceHistory.id))]
    assert saved_in_order == rows[:4]  # sent in the order they were tapped
    assert _outcomes_in_ndelius(fake, session_id, expected) == expected


def _back_online_all_four_saved(tablet: Tablet, page, fake, session_id: int, rows: list[int]) -> None:  # type: ignore[no-untyped-def]
    tablet.context.set_offline(False)
    _all_four_saved(page, fake, session_id, rows)


def _signed_out_then_in_again(tablet: Tablet, page, session_id: int, rows: list[int]) -> None:  # type: ignore[no-untyped-def]
    """Back online but signed out: the four changes stay waiting, and go once the person signs in again (in
    another tab: the register stays open)."""
    status = page.locator("#offline-status", has_text="You have been signed out. 4 changes waiting to be sent are "
                                                       "kept on this device: sign in again to send them.")
    status.wait_for()
    tablet.shot(page, "04-signed-out-four-waiting")
    assert _on_the_server(session_id)["changes"] == 0
    for row in rows[:4]:
        assert page.locator(f"#attendee-{row}.app-register-row--waiting").count() == 1
    with tablet.context.expect_page() as opened:
        status.get_by_role("link", name="Sign in again (opens a new tab)").tap()
    _sign_in(opened.value, "fac.nw")


@pytest.mark.both_databases
def test_taps_made_offline_survive_closing_the_page_and_are_saved_once_back_online(  # type: ignore[no-untyped-def]
        tablet, rq_worker, fake, register):
    page, rows = _offline_with_three_taps(tablet, register)
    page.close()
    page = tablet.new_page()  # a new page, still no connection
    _three_waiting_on_the_copy(page, register, rows)
    _tap(page, rows[3], "ATTC")  # one more, on the copy
    _waiting(page, rows[3], "Attended")
    page.locator("#offline-status", has_text="4 changes waiting to be sent").wait_for()
    tablet.shot(page, "02-offline-copy-four-waiting")
    page.evaluate("() => window.scrollTo(0, 0)")  # the README's picture: the copy's banner and the waiting rows
    page.locator(".app-offline-copy", has_text=COPY_BANNER).wait_for()
    tablet.shot(page, "03-offline-register")
    assert _on_the_server(register)["changes"] == 0
    _back_online_all_four_saved(tablet, page, fake, register, rows)


def test_taps_made_offline_survive_a_browser_restart(tablet, rq_worker, fake, register):  # type: ignore[no-untyped-def]
    """Closing the browser also ends the sign-in (its cookie lasts as long as the browser): the changes wait
    for the person to sign in again."""
    page, rows = _offline_with_three_taps(tablet, register)
    page = tablet.restart()  # the whole browser closed, and launched again with no connection
    tablet.context.set_offline(True)
    _three_waiting_on_the_copy(page, register, rows)
    _tap(page, rows[3], "ATTC")
    _waiting(page, rows[3], "Attended")
    tablet.context.set_offline(False)
    _signed_out_then_in_again(tablet, page, register, rows)
    _all_four_saved(page, fake, register, rows)


def test_taps_made_offline_survive_a_reload(tablet, rq_worker, fake, register):  # type: ignore[no-untyped-def]
    tablet.viewport = {"width": 1366, "height": 900}  # on a (touch) laptop this time
    page, rows = _offline_with_three_taps(tablet, register)
    page.reload()  # offline: the copy kept on the device answers
    page.locator(".app-offline-copy", has_text=COPY_BANNER).wait_for()
    for row, label in zip(rows, ("Attended", "Did not attend", "Attended but failed to comply"), strict=False):
        _waiting(page, row, label)
    _tap(page, rows[3], "ATTC")
    _waiting(page, rows[3], "Attended")
    tablet.shot(page, "02-offline-copy-four-waiting")
    _back_online_all_four_saved(tablet, page, fake, register, rows)
    tablet.shot(page, "03-back-online-saved")


def test_taps_made_offline_survive_an_expired_session(tablet, rq_worker, fake, register, monkeypatch):  # type: ignore[no-untyped-def]
    page, rows = _offline_with_three_taps(tablet, register)
    page.close()
    page = tablet.new_page()
    _three_waiting_on_the_copy(page, register, rows)
    _tap(page, rows[3], "ATTC")
    _waiting(page, rows[3], "Attended")
    # Hours in the basement: the session times out on the server (30 minutes idle)
    later = time.time() + 31 * 60
    monkeypatch.setattr(auth_routes, "time", SimpleNamespace(time=lambda: later))
    old_token = page.locator("meta[name=csrf-token]").get_attribute("content")
    posts: list[tuple[str | None, int]] = []
    tablet.context.on("response", lambda r: posts.append((r.request.headers.get("x-csrftoken"), r.status))
                      if "/attendees/" in r.url and r.request.method == "POST" else None)
    tablet.context.set_offline(False)
    _signed_out_then_in_again(tablet, page, register, rows)
    _all_four_saved(page, fake, register, rows)
    # sent with the token of the new sign-in (asked for), never the expired session's, and none refused for it
    assert [status for _, status in posts if status != 302] == [200] * 4
    assert all(token and token != old_token for token, status in posts if status == 200)


# What a tablet going to sleep does to the open register, as far as its scripts can tell: the page is hidden and
# frozen (its "freeze" event), no timer runs, and an "online" or "offline" event while it sleeps is not seen; on
# waking it is shown again ("resume", then visible). Chromium run by Playwright cannot freeze a page for real (it
# ignores Page.setWebLifecycleState for a page that is not hidden, and its pages are never hidden), so the sleep is
# made here: Playwright's clock is paused, and the page's visibility and connection events are held back by
# listeners that run before the page's own (added before any script of the page runs).
_CAN_SLEEP = """(() => {
  const tablet = window.tablet = { asleep: false }
  Object.defineProperty(document, 'visibilityState', { configurable: true,
                                                       get: () => tablet.asleep ? 'hidden' : 'visible' })
  Object.defineProperty(document, 'hidden', { configurable: true, get: () => tablet.asleep })
  for (const type of ['online', 'offline']) {
    window.addEventListener(type, (event) => { if (tablet.asleep) event.stopImmediatePropagation() }, true)
  }
})()"""
_SLEEP = """() => {
  window.tablet.asleep = true
  document.dispatchEvent(new Event('visibilitychange'))
  document.dispatchEvent(new Event('freeze'))
}"""
_WAKE = """() => {
  window.tablet.asleep = false
  document.dispatchEvent(new Event('resume'))
  document.dispatchEvent(new Event('visibilitychange'))
}"""


def test_taps_made_offline_survive_the_tablet_sleeping_and_go_when_it_wakes(  # type: ignore[no-untyped-def]
        tablet, rq_worker, fake, register):
    """The facilitator taps three people in the basement, the tablet goes to sleep on the way upstairs, and the
    wifi comes back while it sleeps (the page never hears of it). Nothing is sent while it sleeps; when it wakes,
    what waited is saved at once (before any retry), once each, in the order tapped, and reaches nDelius."""
    tablet.init_scripts.append(_CAN_SLEEP)
    page, rows = _offline_with_three_taps(tablet, register)
    tablet.context.clock.pause_at(page.evaluate("() => Date.now()") / 1000 + 0.1)  # no timer runs while it sleeps
    page.evaluate("() => App.offline.send()")  # (the last try to send, offline, has ended)
    page.evaluate(_SLEEP)
    tablet.context.set_offline(False)  # back in range, still asleep
    assert page.evaluate("() => navigator.onLine") is True
    for row, label in zip(rows, ("Attended", "Did not attend", "Attended but failed to comply"), strict=False):
        _waiting(page, row, label)
    assert _on_the_server(register)["changes"] == 0
    page.evaluate(_WAKE)  # woken: the clock still stands, so no retry timer sends them, only the waking does
    for row in rows[:3]:
        _saved(page, row)
    page.locator("#register-count", has_text="3 of 5").wait_for()
    clock.freeze(datetime(2026, 4, 13, 10, 40))  # twenty minutes on (the browser's clock follows)
    tablet.context.clock.resume()
    page.locator("#offline-status").wait_for(state="hidden")  # the live register: nothing to say any more
    assert page.locator("html.app-offline").count() == 0
    expected = dict(zip(rows, EXPECTED[:3], strict=False))
    assert _on_the_server(register) == {"outcomes": expected, "changes": 3, "keys": 3}
    saved_in_order = [a for (a,) in _read(select(AttendanceHistory.attendee_id).order_by(AttendanceHistory.id))]
    assert saved_in_order == rows[:3]  # in the order they were tapped
    _tap(page, rows[3], "ATTC")  # awake and online: the next tap is saved at once
    _saved(page, rows[3])
    page.locator("#register-count", has_text="4 of 5").wait_for()
    expected = dict(zip(rows, EXPECTED, strict=False))
    assert _on_the_server(register) == {"outcomes": expected, "changes": 4, "keys": 4}
    assert _outcomes_in_ndelius(fake, register, expected) == expected


def test_a_conflict_made_meanwhile_is_shown_side_by_side_and_nothing_is_lost(  # type: ignore[no-untyped-def]
        tablet, rq_worker, fake, register):
    page, rows = _offline_with_three_taps(tablet, register)
    page.close()
    page = tablet.new_page()
    _three_waiting_on_the_copy(page, register, rows)
    _tap(page, rows[3], "ATTC")
    # Meanwhile, upstairs, the treatment manager records Billie as attended
    manager = db.session.scalar(select(User).filter_by(username="tm.nw"))
    billie = db.session.get(Attendee, rows[1])
    assert attendance.save_row(manager, billie, attendance.RowInput(outcome="ATTC"), seen_version=None,
                               key="upstairs") == "saved"
    tablet.context.set_offline(False)
    for row in (rows[0], rows[2], rows[3]):
        _saved(page, row)
    conflict = page.locator(f"#attendee-{rows[1]} .app-register-conflict")
    conflict.wait_for()
    text = conflict.inner_text()
    assert "someone else changed Billie Brown" in text and "Did not attend" in text and "Attended" in text
    page.locator("#offline-status", has_text="1 change not saved").wait_for()
    conflict.scroll_into_view_if_needed()
    tablet.shot(page, "05-conflict-side-by-side")
    # Still there after the page is opened again: the change waits on the device until the person chooses
    page.reload()
    page.locator(f"#attendee-{rows[1]} .app-register-conflict").wait_for()
    assert _on_the_server(register)["outcomes"][rows[1]] == "ATTC"
    page.locator(f"#attendee-{rows[1]} button", has_text="Use my change").tap()
    _saved(page, rows[1])
    page.locator("#offline-status").wait_for(state="hidden")
    expected = dict(zip(rows, EXPECTED, strict=False))
    assert _on_the_server(register) == {"outcomes": expected, "changes": 4, "keys": 5}
    assert _outcomes_in_ndelius(fake, register, expected) == expected


def test_times_flags_and_notes_wait_too_and_are_saved_in_the_order_they_were_made(  # type: ignore[no-untyped-def]
        tablet, register):
    page = tablet.start()
    _sign_in(page, "fac.nw")
    _keep_registers_for_offline(page)
    clock.freeze(TAPPED_AT)
    page.get_by_role("link", name="Introduction to Building Choices").tap()
    alex = _rows(page)[0]
    tablet.context.set_offline(True)
    _tap(page, alex, "ATTC")
    page.locator(f"#arrived_at-{alex}").fill("10:05")
    page.locator(f"#arrived_at-{alex}").blur()
    page.locator("#offline-status", has_text="2 changes waiting").wait_for()  # the time saves on its own
    page.locator(f"#did_not_engage-{alex}").check()
    page.locator(f"#notes-{alex}").fill("Quiet today")
    page.locator(f"#attendee-{alex} button[name=save]").tap()
    page.locator("#session-notes-text").fill("Fire alarm at 11:00")
    page.get_by_role("button", name="Save session notes").tap()
    status = page.locator("#offline-status", has_text="You are offline. 5 changes waiting to be sent")
    status.wait_for()
    _waiting(page, alex, "Attended")
    page.locator("#session-notes .app-offline-waiting", has_text="Waiting to send").wait_for()
    page.reload()  # all of it is still there on the copy
    page.locator(".app-offline-copy").wait_for()
    status.wait_for()
    assert page.locator(f"#arrived_at-{alex}").input_value() == "10:05"
    assert page.locator(f"#did_not_engage-{alex}").is_checked()
    assert page.locator(f"#notes-{alex}").input_value() == "Quiet today"
    assert page.locator("#session-notes-text").input_value() == "Fire alarm at 11:00"
    tablet.context.set_offline(False)
    _saved(page, alex)
    page.locator("#session-notes", has_text="Session notes saved").wait_for()
    page.locator("#offline-status", has_text="You are back online and nothing is waiting to be sent.").wait_for()
    [(outcome, arrived, dne, notes, version)] = _read(select(
        Attendance.outcome, Attendance.arrived_at, Attendance.did_not_engage, Attendance.notes, Attendance.version)
        .where(Attendance.attendee_id == alex))
    assert (outcome, arrived.strftime("%H:%M"), dne, notes, version) == ("ATTC", "10:05", True, "Quiet today", 4)
    history = _read(select(AttendanceHistory.outcome, AttendanceHistory.arrived_at, AttendanceHistory.did_not_engage,
                           AttendanceHistory.notes).where(AttendanceHistory.attendee_id == alex)
                    .order_by(AttendanceHistory.version))
    assert [(o, a is not None, d, n) for o, a, d, n in history] == [
        ("ATTC", False, False, None), ("ATTC", True, False, None), ("ATTC", True, True, None),
        ("ATTC", True, True, "Quiet today")]
    assert _read(select(Session.notes).where(Session.id == register)) == [("Fire alarm at 11:00",)]


_ON_THE_DEVICE = """() => new Promise((resolve, reject) => {
  // Never wait for ever (page.evaluate has no timeout): a store that does not answer fails the test, saying so
  const late = setTimeout(() => reject(new Error('the device store did not answer within 10 s')), 10000)
  const fail = (error) => { clearTimeout(late); reject(error) }
  const open = indexedDB.open('programme-delivery-offline', 1)
  open.onupgradeneeded = () => open.result.createObjectStore('changes', {keyPath: 'seq', autoIncrement: true})
  open.onerror = () => fail(open.error)
  open.onblocked = () => fail(new Error('the device store is blocked by another connection'))
  open.onsuccess = () => {
    const all = open.result.transaction('changes').objectStore('changes').getAll()
    all.onerror = () => { open.result.close(); fail(all.error) }
    all.onsuccess = () => {
      clearTimeout(late); open.result.close(); resolve(all.result.map(c => [c.owner, c.state]))
    }
  }
})"""


def _on_the_device(page) -> tuple[list, list]:  # type: ignore[no-untyped-def]
    """The changes kept on the device (whose, and their state), and whose copies of registers are there."""
    copies = page.evaluate("() => caches.keys()")
    return page.evaluate(_ON_THE_DEVICE), sorted(c for c in copies if c.startswith("pd-registers-"))


def test_a_shared_tablet_keeps_each_persons_changes_for_them_and_nothing_else(tablet, register):  # type: ignore[no-untyped-def]
    ids = dict(_read(select(User.username, User.id)))
    fran, manager = str(ids["fac.nw"]), str(ids["tm.nw"])
    page = tablet.start()
    _sign_in(page, "fac.nw")
    _keep_registers_for_offline(page)
    clock.freeze(TAPPED_AT)
    page.get_by_role("link", name="Introduction to Building Choices").tap()
    alex = _rows(page)[0]
    page.route("**/attendees/*", lambda route: route.abort("connectionrefused"))  # the server cannot be reached
    _tap(page, alex, "ATTC")
    page.locator("#offline-status", has_text="the service cannot be reached").wait_for()
    # Signing out with a change still waiting asks first
    page.locator(".app-header__sign-out").tap()
    dialog = page.get_by_role("dialog", name="Some changes have not been sent yet")
    dialog.get_by_text("1 change made on this device is not saved yet.").wait_for()
    tablet.shot(page, "06-sign-out-asks")
    dialog.get_by_role("button", name="Stay signed in").tap()
    assert page.url.endswith(f"/sessions/{register}")
    page.locator(".app-header__sign-out").tap()
    dialog.get_by_role("button", name="Sign out and keep the changes on this device").tap()
    page.wait_for_url("**/login")
    assert _on_the_device(page) == ([[fran, "waiting"]], [])  # the change kept, her registers gone
    page.unroute("**/attendees/*")

    # The treatment manager signs in on the same tablet: Fran's change is not sent as theirs, only counted
    posted: list[str] = []
    page.on("request", lambda r: posted.append(r.url) if "/attendees/" in r.url and r.method == "POST" else None)
    _sign_in(page, "tm.nw")
    page.locator("#offline-status", has_text="1 change made on this device by someone else is kept until they "
                                             "sign in again.").wait_for()
    _keep_registers_for_offline(page)
    assert _on_the_device(page) == ([[fran, "waiting"]], [f"pd-registers-{manager}"])
    assert _on_the_server(register)["changes"] == 0
    assert _on_the_server(register, "tm.nw")["changes"] == 0 and not posted  # not even tried as theirs
    page.locator(".app-header__sign-out").tap()  # nothing of theirs waiting: no question
    page.wait_for_url("**/login")
    assert _on_the_device(page) == ([[fran, "waiting"]], [])
    assert posted == []

    # Fran signs in again: her change goes (a new CSRF token, her own session), and the device is clear of it
    _sign_in(page, "fac.nw")
    sent = {"outcomes": {alex: "ATTC"}, "changes": 1, "keys": 1}
    assert _eventually(lambda: _on_the_server(register, "fac.nw"), sent) == sent
    assert _on_the_server(register, "tm.nw")["changes"] == 0
    assert _eventually(lambda: _on_the_device(page)[0], []) == []
    page.locator(".app-header__sign-out").tap()
    page.wait_for_url("**/login")
    assert _on_the_device(page) == ([], [])


def test_offline_my_sessions_opens_from_the_device_and_other_pages_say_they_need_a_connection(  # type: ignore[no-untyped-def]
        tablet, register):
    page = tablet.start()
    _sign_in(page, "fac.nw")
    _keep_registers_for_offline(page)
    later = page.locator("a.app-register-sessions__link:not([data-offline-keep])").first.get_attribute("href")
    tablet.context.set_offline(True)
    page.goto("/sessions")
    page.locator(".app-offline-copy", has_text="Offline copy from 09:12 — registers marked “Kept for offline use” "
                                               "open without a connection").wait_for()
    assert page.locator(".govuk-tag", has_text="Kept for offline use").count() == 2  # today and next Monday
    tablet.shot(page, "07-my-sessions-offline")
    # A register further ahead than 7 days, the printable register: not kept, and they say so
    for url, why in ((later, "You are offline, and this register is not kept on this device."),
                     (f"/sessions/{register}/print", "You are offline. Open it again when you are back online.")):
        page.goto(url)
        page.get_by_role("heading", name="This page needs a connection").wait_for()
        page.get_by_text(why).wait_for()
        assert page.get_by_role("link", name="Register: Introduction to Building Choices, 13 April 2026").count() == 1
    page.evaluate("() => document.fonts.ready")
    assert page.evaluate("() => [...document.fonts].map(f => f.status)") == ["loaded"] * 2  # GDS Transport, offline
    tablet.shot(page, "08-needs-a-connection")
    page.goto("/sessions")
    page.get_by_role("link", name="Groups").tap()  # outside the register: the page says so, nothing breaks
    page.locator("#offline-status", has_text="That page needs a connection: you are offline.").wait_for()
    assert page.url.endswith("/sessions")


def test_a_change_the_server_will_never_take_is_said_and_can_be_deleted(tablet, register):  # type: ignore[no-untyped-def]
    page = tablet.start()
    _sign_in(page, "fac.nw")
    _keep_registers_for_offline(page)
    clock.freeze(TAPPED_AT)
    page.get_by_role("link", name="Introduction to Building Choices").tap()
    alex = _rows(page)[0]
    tablet.context.set_offline(True)
    _tap(page, alex, "ATTC")
    _waiting(page, alex, "Attended")
    # Meanwhile Fran is taken off this session: she may no longer record it
    db.session.execute(delete(SessionFacilitator).where(SessionFacilitator.session_id == register))
    db.session.commit()
    tablet.context.set_offline(False)
    status = page.locator("#offline-status", has_text="1 change cannot be saved: you may no longer record that register.")
    status.wait_for()
    assert page.locator(f"#attendee-{alex}").count() == 1  # the row is left as it was, not replaced by an error
    assert _on_the_device(page)[0] == [[page.evaluate("() => document.querySelector('meta[name=app-user]').content"),
                                        "refused"]]
    status.get_by_role("button", name="Delete it").tap()
    status.wait_for(state="hidden")
    assert _on_the_device(page)[0] == []
    assert _on_the_server(register)["changes"] == 0


_EVERYTHING_STORED = """async () => {
  const texts = []
  for (const name of await caches.keys()) {
    const cache = await caches.open(name)
    for (const request of await cache.keys()) texts.push(request.url + ' ' + await (await cache.match(request)).text())
  }
  const changes = await new Promise((resolve, reject) => {
    const open = indexedDB.open('programme-delivery-offline', 1)
    open.onupgradeneeded = () => open.result.createObjectStore('changes', {keyPath: 'seq', autoIncrement: true})
    open.onerror = () => reject(open.error)
    open.onsuccess = () => {
      const all = open.result.transaction('changes').objectStore('changes').getAll()
      all.onsuccess = () => { open.result.close(); resolve(all.result) }
    }
  })
  return {caches: texts, changes: JSON.stringify(changes)}
}"""


def test_nothing_of_a_person_the_user_may_not_see_is_stored_on_the_device(  # type: ignore[no-untyped-def]
        app, tablet, fake, register, monkeypatch):
    """LAO: Billie is excluded from Fran's view in nDelius. After My sessions keeps the registers and Fran taps
    offline, neither Cache Storage nor IndexedDB holds Billie's name or CRN (Alex's, whom she may see, are there)."""
    crns = dict(_read(select(Referral.person_name, Referral.crn)))
    fake.cases.add(*({"crn": crn, "forename": name.split()[0], "surname": name.split()[1], "dateOfBirth": "1980-01-01",
                      "excluded": ["fac.nw"] if name == "Billie Brown" else []} for name, crn in crns.items()))
    monkeypatch.setitem(app.config, "LAO_CHECKS", True)
    page = tablet.start()
    _sign_in(page, "fac.nw")
    _keep_registers_for_offline(page)
    clock.freeze(TAPPED_AT)
    tablet.context.set_offline(True)
    page.goto(f"/sessions/{register}")
    page.locator(".app-offline-copy", has_text=COPY_BANNER).wait_for()
    restricted = page.locator("li.app-register-row[data-restricted]")
    assert restricted.count() == 1 and restricted.locator("button").count() == 0
    rows = [r for r in _rows(page) if r != int(restricted.get_attribute("data-attendee"))]
    _tap(page, rows[0], "ATTC")
    _waiting(page, rows[0], "Attended")
    stored = page.evaluate(_EVERYTHING_STORED)
    copies = " ".join(t for t in stored["caches"] if "/sessions" in t.split(" ", 1)[0])
    assert f"/sessions/{register}" in copies and "Alex Able" in copies and crns["Alex Able"] in copies
    everything = " ".join(stored["caches"]) + stored["changes"]
    assert "Billie" not in everything and crns["Billie Brown"] not in everything
    assert '"owner"' in stored["changes"]  # the tap is there, with nothing of Billie


def test_signing_out_sends_what_is_waiting_and_clears_the_device_or_deletes_it_when_asked(tablet, register):  # type: ignore[no-untyped-def]
    ids = dict(_read(select(User.username, User.id)))
    page = tablet.start()
    _sign_in(page, "fac.nw")
    _keep_registers_for_offline(page)
    clock.freeze(TAPPED_AT)
    page.get_by_role("link", name="Introduction to Building Choices").tap()
    alex, billie = _rows(page)[:2]
    reachable = threading.Event()
    page.route("**/attendees/*", lambda route: route.continue_() if reachable.is_set()
               else route.abort("connectionrefused"))
    _tap(page, alex, "ATTC")
    page.locator("#offline-status", has_text="the service cannot be reached").wait_for()
    # The connection is back as she signs out: the change is sent first, then she is signed out with no question
    reachable.set()
    page.locator(".app-header__sign-out").tap()
    page.wait_for_url("**/login")
    assert page.get_by_role("dialog").count() == 0
    assert _on_the_server(register)["outcomes"] == {alex: "ATTC"}
    assert _on_the_device(page) == ([], [])
    # Again with a change the server cannot be reached for: she chooses to delete it
    reachable.clear()
    _sign_in(page, "fac.nw")
    _keep_registers_for_offline(page)
    page.goto(f"/sessions/{register}")
    _tap(page, billie, "UAAB")
    page.locator("#offline-status", has_text="the service cannot be reached").wait_for()
    assert _on_the_device(page) == ([[str(ids["fac.nw"]), "waiting"]], [f"pd-registers-{ids['fac.nw']}"])
    page.locator(".app-header__sign-out").tap()
    page.get_by_role("dialog", name="Some changes have not been sent yet").get_by_role(
        "button", name="Sign out and delete the changes").tap()
    page.wait_for_url("**/login")
    assert _on_the_device(page) == ([], [])
    assert _on_the_server(register)["outcomes"] == {alex: "ATTC"}


def test_a_copy_opened_on_a_later_day_says_its_day_and_the_device_clock_says_whether_it_has_started(  # type: ignore[no-untyped-def]
        tablet, register):
    """The browser's clock (Playwright's, following the service clock) decides what the copy shows."""
    page = tablet.start()
    _sign_in(page, "fac.nw")
    _keep_registers_for_offline(page)
    next_week = page.get_by_role("link", name="Understanding myself").get_attribute("href")
    clock.freeze(datetime(2026, 4, 20, 9, 30))  # a week later, before the session, in the basement
    tablet.context.set_offline(True)
    page.goto(next_week)
    banner = page.locator(".app-offline-copy")
    banner.wait_for()
    assert banner.inner_text().strip() == ("Offline copy from 09:12 on Monday 13 April — your changes will be sent "
                                           "when you are back online")
    warning = page.get_by_text("This session has not started yet.")
    warning.wait_for()
    clock.freeze(datetime(2026, 4, 20, 10, 5))
    page.reload()
    banner.wait_for()
    warning.wait_for(state="hidden")
