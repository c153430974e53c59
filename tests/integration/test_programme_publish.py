"""Publishing a new version of a programme template (issue 15.10): checked, refused with the exact problem,
used by groups created from its date while groups already created keep theirs."""
from __future__ import annotations

import json
from datetime import date, datetime

import pytest

from app import clock
from app.extensions import db
from app.models import AuditEvent, ProgrammeTemplate, Session
from app.services import programme_publish
from app.services.programme_publish import PublishRefused
from tests.template_versions import building_choices, template_versions  # noqa: F401

pytestmark = pytest.mark.usefixtures("template_versions")
TODAY = datetime(2026, 12, 1, 9, 0)


@pytest.fixture(autouse=True)
def _today(app):  # type: ignore[no-untyped-def]
    clock.freeze(TODAY)


def _shorter() -> dict:
    """Building Choices with module 7's sessions cut to one: a new version tells itself apart by its size."""
    data = building_choices()
    data["modules"][-2]["sessions"] = data["modules"][-2]["sessions"][:1]
    return data


def test_groups_created_from_the_valid_from_date_use_the_new_version_and_earlier_groups_keep_theirs(world):  # type: ignore[no-untyped-def]
    region = world.region()
    manager = world.user(region, "treatment_manager")
    before = world.started(world.group(manager, "OLD", start=date(2026, 12, 7)), manager)
    old_sessions = db.session.query(Session).filter_by(group_id=before.id, kind="scheduled").count()

    published = programme_publish.publish(_shorter(), date(2027, 1, 4))
    seed = db.session.get(ProgrammeTemplate, before.template_id)
    assert seed.valid_until == date(2027, 1, 3)
    assert world.group(manager, "STILL-OLD").template_id == seed.id  # created on 1 December

    clock.freeze(datetime(2027, 1, 4, 9, 0))
    after = world.started(world.group(manager, "NEW", start=date(2027, 1, 11)), manager)
    assert after.template_id == published.id
    new_sessions = db.session.query(Session).filter_by(group_id=after.id, kind="scheduled").count()
    assert old_sessions - new_sessions == len(building_choices()["modules"][-2]["sessions"]) - 1
    db.session.refresh(before)
    assert before.template_id == seed.id
    assert db.session.query(Session).filter_by(group_id=before.id, kind="scheduled").count() == old_sessions
    event = db.session.query(AuditEvent).filter_by(action="programme.published").one()
    assert event.after["valid_from"] == "2027-01-04" and event.after["replaces"] == seed.id


def _without_session(module_index: int, session_index: int) -> dict:
    data = building_choices()
    del data["modules"][module_index]["sessions"][session_index]
    return data


def _roles(*changes: tuple[int, str | None]) -> dict:
    data = building_choices()
    for index, role in changes:
        data["modules"][index]["role"] = role
    return data


def _duration(minutes: int) -> dict:
    data = building_choices()
    data["modules"][2]["sessions"][0]["duration_minutes"] = minutes
    return data


def _module_gap() -> dict:
    data = building_choices()
    for module in data["modules"][3:]:
        module["module_number"] += 1
        for session in module["sessions"]:
            session.pop("module_number", None)
    return data


@pytest.mark.parametrize(("data", "problem"), [
    (_module_gap(), "Building Choices: modules must be numbered from 1 without gaps (number 4 is missing)"),
    (_without_session(2, 0), ("module 3 (Managing myself): sessions must be numbered from 1 without gaps "
                             "(number 1 is missing)")),
    (_roles((0, None)), "Building Choices: exactly one module must have role pre_group (found none)"),
    (_roles((1, "post_programme")),
     "Building Choices: exactly one module must have role post_programme (found 2, 7)"),
    (_roles((0, None), (1, "pre_group")), ("Building Choices: the pre_group module must be the first module "
                                          "(it is module 2)")),
    (_duration(0), "session 3.1: duration_minutes must be a positive whole number (got 0)"),
    (_duration(-30), "session 3.1: duration_minutes must be a positive whole number (got -30)"),
    (building_choices(name="Kaizen"), "there is no programme called 'Kaizen' (programmes: Building Choices)"),
    ([1, 2], "the file must hold one JSON object (a programme with its modules)"),
], ids=["module-gap", "session-gap", "no-pre-group", "two-post-programme", "pre-group-not-first",
        "zero-duration", "negative-duration", "unknown-programme", "not-an-object"])
def test_a_version_that_breaks_a_rule_is_refused_with_the_exact_problem_and_nothing_is_stored(app, data, problem):  # type: ignore[no-untyped-def]
    with pytest.raises(PublishRefused) as refused:
        programme_publish.publish(data, date(2027, 1, 4))
    assert str(refused.value) == problem
    db.session.rollback()
    assert db.session.query(ProgrammeTemplate).count() == 1
    assert db.session.query(ProgrammeTemplate).one().valid_until is None


def test_the_date_must_be_today_or_later_and_after_the_latest_version(app):  # type: ignore[no-untyped-def]
    with pytest.raises(PublishRefused, match=r"^the valid-from date 30 November 2026 is in the past \(today is "
                                             r"1 December 2026\)"):
        programme_publish.publish(building_choices(), date(2026, 11, 30))
    programme_publish.publish(building_choices(), date(2027, 1, 4))
    with pytest.raises(PublishRefused) as refused:
        programme_publish.publish(building_choices(), date(2027, 1, 4))
    assert str(refused.value) == ("Building Choices already has a version valid from 4 January 2027: a new version "
                                  "must be valid from a later date")
    today = programme_publish.publish(building_choices(), date(2027, 2, 1))
    assert [v.template.valid_from for v in programme_publish.versions()] == [
        date(2027, 2, 1), date(2027, 1, 4), date(2024, 1, 1)]
    assert [v.status for v in programme_publish.versions()] == ["Not valid yet", "Not valid yet",
                                                                "In use for new groups"]
    assert today.valid_until is None


def _publish(app, tmp_path, data, *args):  # type: ignore[no-untyped-def]
    path = tmp_path / "programme.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return app.test_cli_runner().invoke(args=["programme", "publish", str(path), *args])


def test_cli_publishes_and_says_what_it_published(app, tmp_path):  # type: ignore[no-untyped-def]
    result = _publish(app, tmp_path, _shorter(), "--valid-from", "2027-01-04")
    assert result.exit_code == 0, result.output
    assert result.stdout == ("Published Building Choices valid from 4 January 2027: 7 modules, 25 sessions. Groups "
                             "created from that date use it; groups already created keep theirs.\n")
    listed = app.test_cli_runner().invoke(args=["programme", "versions"])
    assert listed.stdout.splitlines() == [
        "Building Choices: valid from 4 January 2027; 7 modules, 25 sessions, 0 groups; Not valid yet",
        ("Building Choices: valid from 1 January 2024 until 3 January 2027; 7 modules, 27 sessions, 0 groups; "
        "In use for new groups"),
    ]


@pytest.mark.parametrize(("content", "args", "line"), [
    (_module_gap(), ("--valid-from", "2027-01-04"),
     "error: {path}: Building Choices: modules must be numbered from 1 without gaps (number 4 is missing)"),
    (building_choices(), ("--valid-from", "4/1/2027"), ("error: --valid-from must be a date like 2027-04-01, not "
                                                      "'4/1/2027'")),
    ("{not json", ("--valid-from", "2027-01-04"),
     "error: {path} is not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
], ids=["rule", "date", "json"])
def test_cli_refuses_with_one_error_line_and_exit_2(app, tmp_path, content, args, line):  # type: ignore[no-untyped-def]
    result = _publish(app, tmp_path, content, *args)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [line.format(path=tmp_path / "programme.json")]
    assert result.stdout == ""
    assert db.session.query(ProgrammeTemplate).count() == 1
