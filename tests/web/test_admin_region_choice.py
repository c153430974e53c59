"""Issue 15.9: an admin saw their home region's title over every region's groups, and could not choose a region
on Facilitators, Integration and the calendar. Each of those pages now says which region it shows ("All regions"
or the chosen one) and offers the choice (app.web.region_choice); everyone else sees their own region whatever
they ask for."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Region, Session
from tests.conftest import Browser
from tests.web.regions import build_region


@pytest.fixture
def two_regions(app, world):  # type: ignore[no-untyped-def]
    _, alpha = build_region(world, "AAA", "Alpha")
    _, bravo = build_region(world, "BBB", "Bravo")
    ids = {code: db.session.scalar(select(Region.id).filter_by(code=code)) for code in ("AAA", "BBB")}
    first = db.session.get(Session, bravo["session_id"]).starts_at.date()
    db.session.commit()
    return {"alpha": alpha, "bravo": bravo, "region": ids, "first": first}


def _caption(page: str) -> str:
    return re.search(r'<span class="govuk-caption-l">([^<]*)</span>', page).group(1)


def _signed_in(app, username: str) -> Browser:  # type: ignore[no-untyped-def]
    browser = Browser(app, app.test_client())
    browser.sign_in(username)
    return browser


def test_an_admin_sees_all_regions_or_the_one_they_choose_on_groups_and_facilitators(app, two_regions):  # type: ignore[no-untyped-def]
    admin = _signed_in(app, "admin.aaa")
    bravo = two_regions["region"]["BBB"]
    for url, alpha, bravo_row in (("/groups", "G-Alpha", "G-Bravo"),
                                  ("/facilitators", "Facilitator Alpha", "Facilitator Bravo")):
        everything = admin.get(url)
        assert everything.status_code == 200
        page = everything.get_data(as_text=True)
        assert _caption(page) == "All regions"  # not the admin's home region over every region's rows
        assert alpha in page and bravo_row in page
        assert '<select class="govuk-select" id="region_id" name="region_id">' in page
        chosen = admin.get(f"{url}?region_id={bravo}").get_data(as_text=True)
        assert _caption(chosen) == "Region Bravo"
        assert bravo_row in chosen and alpha not in chosen
        assert f'<option value="{bravo}" selected>Region Bravo</option>' in chosen


def test_everyone_else_sees_their_own_region_whatever_they_ask_for(app, two_regions):  # type: ignore[no-untyped-def]
    manager = _signed_in(app, "treatment_manager.aaa")
    bravo = two_regions["region"]["BBB"]
    for url in ("/groups", "/facilitators", "/integration", "/calendar?scope=region"):
        page = manager.get(url + ("&" if "?" in url else "?") + f"region_id={bravo}").get_data(as_text=True)
        assert "Bravo" not in page, url
        assert 'name="region_id"' not in page, url
    assert _caption(manager.get("/groups").get_data(as_text=True)) == "Region Alpha"


def test_an_admin_chooses_the_region_on_the_integration_page_and_keeps_it_on_every_form(app, two_regions):  # type: ignore[no-untyped-def]
    admin = _signed_in(app, "admin.aaa")
    bravo = two_regions["region"]["BBB"]
    everything = admin.get("/integration").get_data(as_text=True)
    assert _caption(everything) == "All regions"
    assert "nDelius refused Alpha" in everything and "nDelius refused Bravo" in everything
    chosen = admin.get(f"/integration?region_id={bravo}").get_data(as_text=True)
    assert _caption(chosen) == "Region Bravo"
    assert "nDelius refused Bravo" in chosen and "nDelius refused Alpha" not in chosen
    assert f'hx-get="/integration?region_id={bravo}"' in chosen  # the summary polls the same region
    assert f'action="/integration/retry-all?region_id={bravo}"' in chosen
    summary = admin.get(f"/integration?region_id={bravo}", htmx=True).get_data(as_text=True)
    assert '<span class="app-stat__number">1</span> <span class="app-stat__label">need attention</span>' in summary
    retried = admin.post(f"/integration/retry-all?region_id={bravo}")
    assert retried.status_code == 302
    assert retried.headers["Location"] == f"/integration?region_id={bravo}#failures"
    after = admin.get("/integration").get_data(as_text=True)
    assert "nDelius refused Alpha" in after and "nDelius refused Bravo" not in after  # only Bravo's was retried


def test_an_admin_chooses_the_region_on_the_calendar(app, two_regions):  # type: ignore[no-untyped-def]
    admin = _signed_in(app, "admin.aaa")
    bravo, first = two_regions["region"]["BBB"], two_regions["first"]
    clock.freeze(clock.now_local())
    url = f"/calendar?view=month&date={first.isoformat()}&scope=region"
    everything = admin.get(url).get_data(as_text=True)
    assert "Group G-Alpha" in everything and "Group G-Bravo" in everything
    assert '<option value="region" selected>All regions</option>' in everything
    chosen = admin.get(url + f"&region_id={bravo}").get_data(as_text=True)
    assert "Group G-Bravo" in chosen and "G-Alpha" not in chosen and "Facilitator Alpha" not in chosen
    assert '<option value="region" selected>Whole region: Region Bravo</option>' in chosen
    assert f'<input type="hidden" name="region_id" value="{bravo}">' in chosen  # the filters keep it
    assert f"region_id={bravo}" in re.search(r'href="(/calendar\?[^"]*)"[^>]*>Next month', chosen).group(1).replace(
        "&amp;", "&")
