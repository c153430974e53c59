"""`flask schedule preview`: the fixed interface scripts depend on."""
from __future__ import annotations

import json

import pytest


@pytest.fixture
def preview(app):  # type: ignore[no-untyped-def]
    runner = app.test_cli_runner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(args=["schedule", "preview", *args])

    return run


def test_worked_example_from_the_spec(preview):  # type: ignore[no-untyped-def]
    result = preview("--earliest-start", "2026-03-23", "--slot", "MONDAY@10:00", "--json")
    assert result.exit_code == 0, result.output
    sessions = json.loads(result.output)
    assert len(sessions) == 27
    assert sessions[0] == {"module_number": 1, "session_number": 1, "name": "Pre-group one-to-one",
                           "session_type": "one_to_one", "starts_at": "2026-03-23T10:00",
                           "ends_at": "2026-03-23T11:00"}
    assert [s["starts_at"] for s in sessions[1:5]] == [
        "2026-04-13T10:00", "2026-04-20T10:00", "2026-04-27T10:00", "2026-05-11T10:00"]
    assert sessions[1]["ends_at"] == "2026-04-13T12:30"
    assert sessions[-1]["starts_at"] == "2026-11-30T10:00"


def test_a_bank_holidays_file_replaces_the_apps_data(preview, tmp_path):  # type: ignore[no-untyped-def]
    data = {"england-and-wales": {"division": "england-and-wales", "events": [
        {"title": "Made-up day", "date": "2026-04-13", "notes": "", "bunting": False}]}}
    path = tmp_path / "bh.json"
    path.write_text(json.dumps(data))
    result = preview("--earliest-start", "2026-03-23", "--slot", "MONDAY@10:00", "--bank-holidays", str(path),
                     "--json")
    sessions = json.loads(result.output)
    # 13 Apr is a holiday in this file, Easter Monday and 4 May are not
    assert [s["starts_at"][:10] for s in sessions[1:4]] == ["2026-04-20", "2026-04-27", "2026-05-04"]


@pytest.mark.parametrize("args", [
    ("--earliest-start", "2026-03-23", "--slot", "FUNDAY@10:00"),
    ("--earliest-start", "2026-03-23", "--slot", "MONDAY@25:00"),
    ("--earliest-start", "2026-03-23"),
    ("--earliest-start", "23/03/2026", "--slot", "MONDAY@10:00"),
    ("--earliest-start", "2026-03-23", "--slot", "MONDAY@10:00", "--bank-holidays", "/no/such/file"),
    ("--earliest-start", "2026-03-23", "--slot", "MONDAY@10:00", "--now", "2026-05-01T09:00",
     "--postpone", "2.1=2026-06-01T10:00"),  # a past session cannot be postponed
])
def test_invalid_input_prints_one_line_and_exits_2(preview, args):  # type: ignore[no-untyped-def]
    result = preview(*args, "--json")
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and result.output.startswith("error:")


def test_postponing_with_cascade_moves_later_sessions_past_the_bank_holiday(preview):  # type: ignore[no-untyped-def]
    result = preview("--earliest-start", "2026-03-23", "--slot", "MONDAY@10:00", "--now", "2026-05-01T09:00",
                     "--postpone", "3.1=2026-05-18T10:00", "--json")
    sessions = {(s["module_number"], s["session_number"]): s["starts_at"] for s in json.loads(result.output)}
    assert sessions[(3, 1)] == "2026-05-18T10:00"
    assert sessions[(3, 2)] == "2026-06-01T10:00"  # 25 May is a bank holiday
    assert sessions[(2, 3)] == "2026-04-27T10:00"  # earlier sessions stay
