"""The Integration page: backlog, failures with their reason and a retry, disagreements with both values."""
from __future__ import annotations

import pytest
from flask import render_template_string
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, NDeliusAppointment, NDeliusDisagreement, OutboxItem
from app.models.base import utcnow


@pytest.fixture
def north(world):  # type: ignore[no-untyped-def]
    region = world.region("NW", "North West")
    manager = world.user(region, "treatment_manager", "tm.nw")
    world.user(region, "facilitator", "fac.nw")
    person = world.referral(region, "Dana Example", "X123456")
    group = world.started(world.group(manager, code="BC1", members=(person,)), manager)
    appointments = list(db.session.scalars(select(NDeliusAppointment).order_by(NDeliusAppointment.id)))
    refused = appointments[1]
    refused.sync_state, refused.last_error = "needs_attention", "nDelius refused it as a clash (HTTP 409)"
    for row in db.session.scalars(select(OutboxItem).where(OutboxItem.appointment_id == refused.id)):
        row.status, row.last_error, row.processed_at = "needs_attention", refused.last_error, utcnow()
    for appointment in appointments[2:6]:
        appointment.sync_state = "synced"
        db.session.query(OutboxItem).filter_by(appointment_id=appointment.id).update({"status": "done"})
    drift = NDeliusDisagreement(appointment_id=appointments[3].id, region_id=region.id,
                                reference=appointments[3].reference, field="start_time", ours="10:00",
                                ours_at=utcnow(), theirs="09:00", source="nDelius appointments search")
    db.session.add(drift)
    db.session.commit()
    return {"group": group, "refused": refused, "drift": drift, "manager": manager}


def test_managers_see_the_backlog_the_failures_and_the_disagreements(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    page = browser.get("/integration")
    assert page.status_code == 200
    html = page.data.decode()
    assert 'href="/integration"' in html and ">Integration<" in html  # in the service navigation
    assert "22</span> <span class=\"app-stat__label\">waiting to be sent" in html
    assert "1</span> <span class=\"app-stat__label\">need attention" in html
    assert "Dana Example" in html and "nDelius refused it as a clash (HTTP 409)" in html
    assert "Start time" in html and "10:00" in html and "09:00" in html
    assert "nDelius appointments search" in html

    fragment = browser.get("/integration", htmx=True).data.decode()
    assert 'id="integration-summary"' in fragment and "<html" not in fragment and "Dana Example" not in fragment


def test_retry_puts_a_refused_appointment_back_in_the_queue(browser, north, redis):  # type: ignore[no-untyped-def]
    from jobs.enqueue import queue

    browser.sign_in("tm.nw")
    browser.get("/integration")
    response = browser.post(f"/integration/appointments/{north['refused'].id}/retry")
    assert response.status_code == 302
    appointment = db.session.get(NDeliusAppointment, north["refused"].id)
    assert appointment.sync_state == "pending"
    assert db.session.scalar(select(func.count(OutboxItem.id)).where(
        OutboxItem.appointment_id == appointment.id, OutboxItem.status == "needs_attention")) == 0
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "ndelius.retry"))
    assert "ndelius-relay" in queue().job_ids
    assert b"Sending it to nDelius again" in browser.get("/integration").data


def test_retry_needs_the_csrf_token(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    response = browser.post(f"/integration/appointments/{north['refused'].id}/retry", csrf=False)
    assert response.status_code == 400
    assert db.session.get(NDeliusAppointment, north["refused"].id).sync_state == "needs_attention"


def test_a_disagreement_can_be_sent_again_or_dismissed(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    browser.get("/integration")
    browser.post(f"/integration/disagreements/{north['drift'].id}/send-ours")
    drift = db.session.get(NDeliusDisagreement, north["drift"].id)
    assert drift.resolution == "ours sent" and drift.resolved_at is not None
    assert db.session.get(NDeliusAppointment, drift.appointment_id).sync_state == "pending"
    assert db.session.scalar(select(func.count(OutboxItem.id)).where(
        OutboxItem.appointment_id == drift.appointment_id, OutboxItem.status == "pending")) == 1
    assert b"No disagreements." in browser.get("/integration").data


def test_facilitators_cannot_see_the_integration_page(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("fac.nw")
    assert browser.get("/integration").status_code == 403
    assert b'href="/integration"' not in browser.get("/groups").data


def test_sync_tag_says_where_each_session_stands(app):  # type: ignore[no-untyped-def]
    template = '{% from "macros/sync.html" import sync_tag %}{{ sync_tag(state) }}'
    with app.test_request_context():
        shown = {state: render_template_string(template, state=state)
                 for state in ("synced", "pending", "needs_attention", "deleted", None)}
    assert "In nDelius" in shown["synced"] and "govuk-tag--green" in shown["synced"]
    assert "Waiting" in shown["pending"] and "Needs attention" in shown["needs_attention"]
    assert "Removed from nDelius" in shown["deleted"] and shown[None] == ""


def _cells(html: str, heading_id: str) -> list[list[str]]:
    """The rows of the table under the heading with this id, each as its cells' text."""
    import re

    section = html.split(f'id="{heading_id}"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr class="govuk-table__row">(.*?)</tr>', section, re.DOTALL)
    return [[" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row,
                                                                                    re.DOTALL)]
            for row in rows if "<td" in row]


def test_a_referral_that_disagrees_with_ndelius_is_listed_with_both_values(browser, world):  # type: ignore[no-untyped-def]
    """Issue 14.3: a referral whose name and date of birth differ from nDelius's is listed on the Integration
    page, one row per detail, with what the referral said and what nDelius says (used), linked to their page;
    once resolved it is gone."""
    from datetime import date

    from app.integrations.probation_cases import Case, Component
    from app.services import case_data

    region = world.region("NW", "North West")
    world.user(region, "treatment_manager", "tm.nw")
    casey = world.referral(region, "Casey Jones", "X700001")
    casey.date_of_birth = date(1990, 5, 4)
    case_data.record_referral(casey)
    case_data.apply_case(casey, Case("X700001", "Casey Jonas", date(1990, 4, 5), "male", "NW",
                                     (Component(casey.requirement_id, 1, None, None),), ()))
    db.session.commit()

    browser.sign_in("tm.nw")
    html = browser.get("/integration").get_data(as_text=True)
    assert "Referrals that disagree with nDelius (2)" in html
    assert sorted(_cells(html, "case-disagreements")) == [
        ["Casey Jonas", "Date of birth", "1990-05-04", "1990-04-05"],
        ["Casey Jonas", "Name", "Casey Jones", "Casey Jonas"],
    ]
    assert html.count(f'href="/people/{casey.id}#details"') == 2

    for open_ in case_data.open_disagreements(referral_id=casey.id):
        browser.post(f"/people/{casey.id}/disagreements/{open_.id}/resolve", {"note": "Referral corrected"})
    html = browser.get("/integration").get_data(as_text=True)
    assert "Referrals that disagree with nDelius (0)" in html and "None: every referral agrees with nDelius." in html
    assert "Casey Jones" not in html
