"""The waiting list, Find a group, allocating and removing through the pages (issue 6)."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import Attendee, Membership, Session
from app.scheduling import Slot
from app.services import membership

TUESDAY = Slot(1, time(10))


@pytest.fixture
def north(world):  # type: ignore[no-untyped-def]
    region = world.region("NW", "North West")
    clock.freeze(datetime(2026, 3, 1, 9))
    people = {
        "jordan": world.referral(region, "Jordan Smith", "N100001"),
        "fay": world.referral(region, "Fay Jones", "N100002", sex="female"),
        "sam": world.referral(region, "Sam Taylor", "N100003", cohort="sexual"),
    }
    for person in people.values():
        person.created_at = datetime(2026, 3, 1, 9, tzinfo=UTC)
    people["sam"].learning_disability = True
    people["sam"].sentence_end_date = date(2027, 2, 1)
    db.session.commit()
    return {
        "region": region,
        "manager": world.user(region, "treatment_manager", "tm.nw"),
        "lead": world.user(region, "lead", "lead.nw"),
        "facilitator": world.user(region, "facilitator", "fac.nw"),
        **people,
    }


@pytest.fixture
def london(world):  # type: ignore[no-untyped-def]
    region = world.region("LDN", "London")
    return {"region": region, "manager": world.user(region, "treatment_manager", "tm.ldn"),
            "person": world.referral(region, "Larry London", "L900001")}


# --------------------------------------------------------------------------------------------- waiting list

def test_the_waiting_list_shows_the_regions_people_awaiting_allocation(browser, north, london, world):  # type: ignore[no-untyped-def]
    membership.allocate(north["manager"], world.group(north["manager"], "G1"), north["jordan"])
    clock.freeze(datetime(2026, 3, 11, 9))
    browser.sign_in("tm.nw")
    page = browser.get("/referrals").data.decode()
    assert "Waiting list" in page and "2 people waiting" in page
    assert "Fay Jones" in page and "N100002" in page and "Sam Taylor" in page
    assert "Jordan Smith" not in page  # allocated
    assert "Larry London" not in page  # another region
    row = page[page.index("Sam Taylor"):page.index("Sam Taylor") + 1200]
    assert "Sexual offence" in row and "Yes" in row and "1 Feb 2027" in row
    assert ">10<" in row  # days waiting since the referral was made


@pytest.mark.parametrize(("query", "shown", "hidden"), [
    ({"sex": "female"}, "Fay Jones", "Sam Taylor"),
    ({"cohort": "sexual"}, "Sam Taylor", "Fay Jones"),
    ({"ldc": "yes"}, "Sam Taylor", "Fay Jones"),
    ({"ldc": "no"}, "Fay Jones", "Sam Taylor"),
    ({"q": "n100002"}, "Fay Jones", "Sam Taylor"),
    ({"q": "taylor"}, "Sam Taylor", "Fay Jones"),
])
def test_the_waiting_list_filters(browser, north, query, shown, hidden):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    page = browser.get("/referrals", query_string=query).data.decode()
    assert shown in page and hidden not in page and "matching your filters" in page


def test_filtering_with_htmx_returns_only_the_results_block(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    response = browser.get("/referrals?sex=female", htmx=True)
    page = response.data.decode()
    assert response.status_code == 200
    assert "<html" not in page and 'id="results"' in page and "Fay Jones" in page and "Sam Taylor" not in page
    assert 'hx-swap-oob="innerHTML"' in page and "1 person waiting matching your filters" in page


def test_nobody_matching_says_so(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    page = browser.get("/referrals?q=nobody-at-all").data.decode()
    assert "Nobody on the waiting list matches your filters." in page


def test_leads_see_the_waiting_list_read_only_and_facilitators_not_at_all(browser, north, world):  # type: ignore[no-untyped-def]
    world.group(north["manager"], "G1")
    browser.sign_in("lead.nw")
    assert b"Fay Jones" in browser.get("/referrals").data
    find = browser.get(f"/referrals/{north['jordan'].id}/groups").data.decode()
    assert "G1" in find and "Allocate" not in find
    assert browser.post(f"/referrals/{north['jordan'].id}/allocate", {"group_id": "1"}).status_code == 403
    other = browser.__class__(browser.app, browser.app.test_client())
    other.sign_in("fac.nw")
    assert other.get("/referrals").status_code == 403
    assert other.get(f"/referrals/{north['jordan'].id}/groups").status_code == 403


def test_waiting_list_is_in_the_navigation_for_managers_and_leads(browser, north):  # type: ignore[no-untyped-def]
    browser.sign_in("tm.nw")
    assert b'href="/referrals"' in browser.get("/groups").data


# ---------------------------------------------------------------------------------------------- find a group

def test_find_a_group_and_allocate_from_it(browser, north, world):  # type: ignore[no-untyped-def]
    group = world.group(north["manager"], "G1", start=date(2026, 3, 24), slots=(TUESDAY,))
    browser.sign_in("tm.nw")
    page = browser.get(f"/referrals/{north['jordan'].id}/groups").data.decode()
    assert "They have not been in a group before, so they start from the beginning." in page
    assert "Groups that can take Jordan Smith (1)" in page

    response = browser.post(f"/referrals/{north['jordan'].id}/allocate", {"group_id": str(group.id)})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/groups/{group.id}")
    shown = browser.get(f"/groups/{group.id}").data.decode()
    assert "Jordan Smith allocated to group G1" in shown and "Members (1 of 12)" in shown


def test_a_refused_allocation_from_find_a_group_says_why(browser, north, world):  # type: ignore[no-untyped-def]
    group = world.group(north["manager"], "G1")
    browser.sign_in("tm.nw")
    response = browser.post(f"/referrals/{north['fay'].id}/allocate", {"group_id": str(group.id)})
    assert response.status_code == 400
    assert b"There is a problem" in response.data
    assert b"Group G1 is a male group and Fay Jones is female" in response.data


def test_a_group_at_the_wrong_point_sent_by_hand_to_find_a_group_is_refused(browser, north, world):  # type: ignore[no-untyped-def]
    """Find a group does not offer it, and a hand-made POST is refused by the service all the same."""
    group = world.started(world.group(north["manager"], "MID", start=date(2026, 1, 6), slots=(TUESDAY,)),
                          north["manager"])
    browser.sign_in("tm.nw")
    assert f'value="{group.id}"' not in browser.get(f"/referrals/{north['jordan'].id}/groups").data.decode()
    response = browser.post(f"/referrals/{north['jordan'].id}/allocate", {"group_id": str(group.id)})
    assert response.status_code == 400
    assert b"they need a group at the start of the programme" in response.data
    assert db.session.scalar(select(func.count(Membership.id))) == 0


def test_another_regions_person_or_group_is_not_found(browser, north, london, world):  # type: ignore[no-untyped-def]
    their_group = world.group(london["manager"], "LDN1")
    browser.sign_in("tm.nw")
    assert browser.get(f"/referrals/{london['person'].id}/groups").status_code == 404
    assert browser.post(f"/referrals/{london['person'].id}/allocate",
                        {"group_id": str(their_group.id)}).status_code == 404
    refused = browser.post(f"/referrals/{north['jordan'].id}/allocate", {"group_id": str(their_group.id)})
    assert refused.status_code == 400 and b"Choose a group" in refused.data
    assert browser.get(f"/groups/{their_group.id}/members/allocate").status_code == 404
    assert db.session.scalar(select(func.count(Membership.id))) == 0


# ------------------------------------------------------------------------------------- group page: allocate

def test_allocating_from_the_group_page_lists_only_people_who_fit(browser, north, world):  # type: ignore[no-untyped-def]
    group = world.group(north["manager"], "G1")
    browser.sign_in("tm.nw")
    show = browser.get(f"/groups/{group.id}").data.decode()
    assert f'href="/groups/{group.id}/members/allocate"' in show
    page = browser.get(f"/groups/{group.id}/members/allocate").data.decode()
    assert "Jordan Smith (N100001)" in page
    assert "Fay Jones" not in page and "Sam Taylor" not in page  # another sex, another cohort

    empty = browser.post(f"/groups/{group.id}/members/allocate", {})
    assert empty.status_code == 400 and b"Choose who to allocate to this group" in empty.data

    done = browser.post(f"/groups/{group.id}/members/allocate", {"referral_id": str(north["jordan"].id)})
    assert done.status_code == 302
    assert membership.active_membership(north["jordan"]).group_id == group.id


def test_a_full_group_has_no_allocate_button_and_refuses(browser, north, world):  # type: ignore[no-untyped-def]
    group = world.group(north["manager"], "G1")
    for _ in range(12):
        membership.allocate(north["manager"], group, world.referral(north["region"]))
    browser.sign_in("tm.nw")
    assert b"Allocate someone" not in browser.get(f"/groups/{group.id}").data
    page = browser.get(f"/groups/{group.id}/members/allocate").data.decode()
    assert "Group G1 is full (12 people)" in page
    response = browser.post(f"/groups/{group.id}/members/allocate", {"referral_id": str(north["jordan"].id)})
    assert response.status_code == 400


# ----------------------------------------------------------------------------------------------------- remove

@pytest.fixture
def running(world, north):  # type: ignore[no-untyped-def]
    group = world.group(north["manager"], "G1", start=date(2026, 3, 3), slots=(TUESDAY,))
    member = membership.allocate(north["manager"], group, north["jordan"]).membership
    world.started(group, north["manager"])
    clock.freeze(datetime(2026, 4, 22, 12))
    return group, member


def test_removing_shows_errors_next_to_the_fields(browser, north, running):  # type: ignore[no-untyped-def]
    group, member = running
    browser.sign_in("tm.nw")
    form = browser.get(f"/groups/{group.id}/members/{member.id}/remove").data.decode()
    assert "Remove Jordan Smith from this group" in form
    assert "taken off the group's 21 future sessions" in form and "6 sessions so far stays" in form
    response = browser.post(f"/groups/{group.id}/members/{member.id}/remove", {"reason": ""})
    page = response.data.decode()
    assert response.status_code == 400
    assert "Choose their new status" in page and "Enter why they are leaving the group" in page
    assert 'class="govuk-error-message"' in page and "govuk-error-summary" in page
    assert membership.active_membership(north["jordan"]) is not None


def test_removing_someone_from_the_group_page(browser, north, running):  # type: ignore[no-untyped-def]
    group, member = running
    browser.sign_in("tm.nw")
    assert f"/groups/{group.id}/members/{member.id}/remove" in browser.get(f"/groups/{group.id}").data.decode()
    response = browser.post(f"/groups/{group.id}/members/{member.id}/remove",
                            {"new_status": "Awaiting allocation", "reason": "Moved house"})
    assert response.status_code == 302
    page = browser.get(f"/groups/{group.id}").data.decode()
    assert "Jordan Smith removed from group G1 (Awaiting allocation)" in page
    assert "can join another group at the same point until 15 July 2026" in page
    assert "People who left this group (1)" in page and "Moved house" in page
    assert f"/referrals/{north['jordan'].id}/groups" in page
    assert db.session.scalar(select(func.count(Attendee.id)).join(Session).where(
        Attendee.referral_id == north["jordan"].id, Attendee.removed_at.is_(None),
        Session.starts_at > clock.now_local())) == 0
    waiting = browser.get("/referrals").data.decode()
    assert "Jordan Smith" in waiting and "Can rejoin until 15 Jul" in waiting
    assert browser.get(f"/groups/{group.id}/members/{member.id}/remove").status_code == 302  # already left


def test_the_find_a_group_page_explains_the_12_week_rule(browser, north, running, world):  # type: ignore[no-untyped-def]
    _, member = running
    membership.remove(north["manager"], member, reason="Moved house", new_status="Awaiting allocation")
    browser.sign_in("tm.nw")
    clock.freeze(datetime(2026, 7, 15, 12))  # day 84
    page = browser.get(f"/referrals/{north['jordan'].id}/groups").data.decode()
    assert "left group G1 84 days ago (Moved house)" in page
    assert "Until <strong>15 July 2026</strong>" in page
    assert "They resume at <strong>1.1 Pre-group one-to-one</strong>" in page  # nothing completed

    clock.freeze(datetime(2026, 7, 16, 12))  # day 85
    page = browser.get(f"/referrals/{north['jordan'].id}/groups").data.decode()
    assert ("They left group G1 85 days ago, more than 12 weeks (84 days), so they restart the programme "
            "from the beginning.") in page


def test_a_membership_of_another_group_is_not_found(browser, north, running, world):  # type: ignore[no-untyped-def]
    _, member = running
    other = world.group(north["manager"], "G2")
    browser.sign_in("tm.nw")
    assert browser.get(f"/groups/{other.id}/members/{member.id}/remove").status_code == 404


def test_facilitators_and_leads_cannot_allocate_or_remove(browser, north, running):  # type: ignore[no-untyped-def]
    group, member = running
    for username in ("fac.nw", "lead.nw"):
        person = browser.__class__(browser.app, browser.app.test_client())
        person.sign_in(username)
        assert person.get(f"/groups/{group.id}/members/allocate").status_code == 403
        assert person.post(f"/groups/{group.id}/members/{member.id}/remove",
                           {"new_status": "Deferred", "reason": "x"}).status_code == 403
        assert b"/members/allocate" not in person.get(f"/groups/{group.id}").data
    assert membership.active_membership(north["jordan"]) is not None


def test_days_waiting_count_from_leaving_a_group(browser, north, running):  # type: ignore[no-untyped-def]
    _, member = running
    membership.remove(north["manager"], member, reason="x", new_status="Awaiting allocation")
    clock.freeze(datetime(2026, 4, 22, 12) + timedelta(days=5))
    browser.sign_in("tm.nw")
    page = browser.get("/referrals?q=jordan").data.decode()
    row = page[page.index("Jordan Smith"):]
    assert ">5<" in row[:1500]


def test_a_long_waiting_list_on_the_allocate_page_is_searchable(browser, north, world):  # type: ignore[no-untyped-def]
    group = world.group(north["manager"], "G1")
    for n in range(60):
        world.referral(north["region"], f"Waiting Person {n:02d}", f"W{n:06d}")
    browser.sign_in("tm.nw")
    page = browser.get(f"/groups/{group.id}/members/allocate").data.decode()
    assert page.count('name="referral_id"') == 50
    assert "11 more people match: search by name or CRN to find them." in page
    found = browser.get(f"/groups/{group.id}/members/allocate?q=w000042").data.decode()
    assert found.count('name="referral_id"') == 1 and "Waiting Person 42 (W000042)" in found
