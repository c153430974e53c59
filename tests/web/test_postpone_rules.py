"""The postpone page and the calendar's drag dialog follow the push rule's choices (SPEC §3): an earlier move
moves only that session unless the person chooses otherwise, and a move that breaks a gap or lands on a bank
holiday needs an explicit confirmation, refused next to the field otherwise."""
from __future__ import annotations

import re
from datetime import datetime

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import Operation
from tests.web import test_calendar
from tests.web.test_calendar import session_of, text

north = test_calendar.north  # the calendar tests' group, as a fixture here too

NOW = datetime(2026, 5, 20, 9, 0)


def _fingerprint(page: str) -> str:
    return re.search(r'name="fingerprint" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def _cascades() -> int:
    return db.session.scalar(select(func.count(Operation.id)).where(Operation.kind == "cascade")) or 0


def test_an_earlier_date_moves_only_that_session_unless_the_person_chooses(browser, north):  # type: ignore[no-untyped-def]
    clock.freeze(NOW)
    browser.sign_in("tm.nw")
    session = session_of(north["group"], 3, 3)  # Mon 1 Jun
    page = text(browser.get(f"/calendar/sessions/{session.id}/postpone?date=2026-05-28&dialog=1", htmx=True))
    assert "Move only Managing my feelings, part 1 to Thu 28 May 2026; programme still ends 30 Nov 2026" in page
    assert page.count('<tr class="govuk-table__row">') == 2
    assert re.search(r'value="no" checked', page)  # the dialog shows the choice it made
    chosen = text(browser.get(f"/calendar/sessions/{session.id}/postpone?date=2026-05-28&cascade=yes&dialog=1",
                              htmx=True))
    assert "Move Managing my feelings, part 1 to Thu 28 May 2026 and move 20 later sessions" in chosen
    assert "they come earlier too and any gap left between them on purpose closes" in chosen
    later = text(browser.get(f"/calendar/sessions/{session.id}/postpone?date=2026-06-08&dialog=1", htmx=True))
    assert "and move 20 later sessions" in later and re.search(r'value="yes" checked', later)
    assert "gap left between them" not in later


@pytest.mark.parametrize("dialog", ["", "1"])
def test_a_move_onto_a_bank_holiday_must_be_confirmed(browser, north, dialog):  # type: ignore[no-untyped-def]
    clock.freeze(NOW)
    browser.sign_in("tm.nw")
    session = session_of(north["group"], 3, 3)
    preview = browser.get(f"/calendar/sessions/{session.id}/postpone?date=2026-05-25&dialog={dialog}", htmx=True)
    page = text(preview)
    assert preview.status_code == 200
    assert "This move breaks the programme's rules" in page
    assert ("'Managing my feelings, part 1' would be on Mon 25 May 2026, a bank holiday (Spring bank holiday)."
            in page)
    assert 'name="confirm"' in page and "Yes, move it anyway" in page
    form = {"date": "2026-05-25", "start": "10:00", "cascade": "no", "fingerprint": _fingerprint(page),
            "dialog": dialog}
    refused = browser.post(f"/calendar/sessions/{session.id}/postpone", form, htmx=True)
    assert refused.status_code == 422
    body = text(refused)
    # the message is next to the checkbox, the plan still shown, nothing stored
    assert re.search(r'<p id="confirm-error" class="govuk-error-message">\s*<span class="govuk-visually-hidden">'
                     r'Error:</span> Confirm that you want to move it anyway, or choose another date', body)
    assert "govuk-form-group--error" in body and "would be on Mon 25 May 2026, a bank holiday" in body
    assert _cascades() == 0
    confirmed = browser.post(f"/calendar/sessions/{session.id}/postpone", {**form, "confirm": "y"}, htmx=True)
    assert confirmed.status_code == 200 and 'class="app-progress"' in confirmed.data.decode()
    assert _cascades() == 1


def test_postponing_the_last_group_session_alone_must_confirm_the_six_weeks_before_the_review(  # type: ignore[no-untyped-def]
        browser, north):
    clock.freeze(NOW)
    browser.sign_in("tm.nw")
    session = session_of(north["group"], 6, 3)  # Mon 19 Oct; the review is on Mon 30 Nov
    page = text(browser.get(f"/calendar/sessions/{session.id}/postpone?date=2026-11-02&cascade=no", htmx=True))
    assert ("'Post-programme review' would be on Mon 30 Nov 2026, 4 weeks after 'Programme completion' on "
            "Mon 2 Nov 2026: the programme keeps 6 weeks before 'Post-programme review'.") in page
    with_cascade = text(browser.get(f"/calendar/sessions/{session.id}/postpone?date=2026-11-02&cascade=yes",
                                    htmx=True))
    assert "This move breaks the programme's rules" not in with_cascade  # the review moves on with it


def test_bringing_the_first_group_session_close_to_the_pre_group_one_to_one_must_be_confirmed(  # type: ignore[no-untyped-def]
        browser, north):
    clock.freeze(datetime(2026, 3, 24, 9, 0))
    browser.sign_in("tm.nw")
    session = session_of(north["group"], 2, 1)  # Mon 13 Apr; the pre-group one-to-one was Mon 23 Mar
    page = text(browser.get(f"/calendar/sessions/{session.id}/postpone?date=2026-04-08", htmx=True))
    assert "2 weeks 2 days after 'Pre-group one-to-one' on Mon 23 Mar 2026: the programme keeps 3 weeks after " \
           "'Pre-group one-to-one'." in page
    refused = browser.post(f"/calendar/sessions/{session.id}/postpone",
                           {"date": "2026-04-08", "start": "10:00", "cascade": "no"})
    assert refused.status_code == 422
    assert "Confirm that you want to move it anyway" in text(refused)
    assert 'href="#confirm"' in text(refused)  # the error summary links to the field
    assert _cascades() == 0
