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


MONDAYS = ("--earliest-start", "2026-03-23", "--slot", "MONDAY@10:00")


def _run(preview, *args):  # type: ignore[no-untyped-def]
    result = preview(*MONDAYS, *args, "--json")
    assert result.exit_code == 0, result.output
    return {f"{s['module_number']}.{s['session_number']}": (s["starts_at"], s["ends_at"])
            for s in json.loads(result.output)}


def test_no_cascade_moves_only_that_session_and_keeps_its_length(preview):  # type: ignore[no-untyped-def]
    before = _run(preview)
    after = _run(preview, "--now", "2026-05-01T09:00", "--postpone", "3.1=2026-05-13T10:00", "--no-cascade")
    assert after["3.1"] == ("2026-05-13T10:00", "2026-05-13T12:30")
    assert {k: v for k, v in after.items() if k != "3.1"} == {k: v for k, v in before.items() if k != "3.1"}


def test_end_sets_the_postponed_sessions_new_end(preview):  # type: ignore[no-untyped-def]
    after = _run(preview, "--now", "2026-05-01T09:00", "--postpone", "3.1=2026-05-13T10:00", "--end", "13:00",
                 "--no-cascade")
    assert after["3.1"] == ("2026-05-13T10:00", "2026-05-13T13:00")


def test_postpones_apply_in_the_order_given_and_a_later_one_never_pulls_an_earlier_gap_back(preview):  # type: ignore[no-untyped-def]
    now = ("--now", "2026-05-01T09:00")
    first = _run(preview, *now, "--postpone", "3.3=2026-06-15T10:00")  # the team's two-week postponement
    both = _run(preview, *now, "--postpone", "3.3=2026-06-15T10:00", "--postpone", "3.1=2026-05-18T10:00")
    assert both["3.1"][0] == "2026-05-18T10:00" and both["3.2"][0] == "2026-06-01T10:00"
    assert both["3.3"] == first["3.3"] == ("2026-06-15T10:00", "2026-06-15T12:30")  # not pulled back a week
    assert both["7.1"] == first["7.1"]  # the end does not come forward
    assert {k: v for k, v in both.items() if k not in ("3.1", "3.2")} == \
        {k: v for k, v in first.items() if k not in ("3.1", "3.2")}
    # the other way round, the second postpone is against the schedule the first produced
    reversed_order = _run(preview, *now, "--postpone", "3.1=2026-05-18T10:00", "--postpone", "3.3=2026-06-15T10:00")
    assert reversed_order["3.3"][0] == "2026-06-15T10:00" and reversed_order["3.4"][0] == "2026-06-22T10:00"


def test_moving_earlier_with_cascade_re_packs_the_later_sessions(preview):  # type: ignore[no-untyped-def]
    now = ("--now", "2026-05-01T09:00")
    after = _run(preview, *now, "--postpone", "3.3=2026-06-15T10:00", "--postpone", "3.3=2026-06-02T10:00")
    assert after["3.3"][0] == "2026-06-02T10:00" and after["3.4"][0] == "2026-06-08T10:00"


def test_a_past_session_may_be_shortened_but_nothing_else_moves(preview):  # type: ignore[no-untyped-def]
    before = _run(preview)
    after = _run(preview, "--now", "2026-05-01T09:00", "--postpone", "2.1=2026-04-13T10:00", "--end", "12:00")
    assert after["2.1"] == ("2026-04-13T10:00", "2026-04-13T12:00")
    assert {k: v for k, v in after.items() if k != "2.1"} == {k: v for k, v in before.items() if k != "2.1"}


def test_reslot_keeps_the_past_and_regenerates_the_future_on_the_new_days(preview):  # type: ignore[no-untyped-def]
    before = _run(preview)
    after = _run(preview, "--now", "2026-05-12T12:00", "--reslot", "THURSDAY@14:00")
    for key in ("1.1", "2.1", "2.2", "2.3", "3.1"):  # started by 12 May
        assert after[key] == before[key]
    assert after["3.2"] == ("2026-05-14T14:00", "2026-05-14T16:30")  # the first Thursday after 11 May
    assert after["6.3"][0] == "2026-10-01T14:00"
    assert after["7.1"] == ("2026-11-12T14:00", "2026-11-12T15:00")  # 1 Oct + 42 days


def test_two_new_slots_take_turns(preview):  # type: ignore[no-untyped-def]
    after = _run(preview, "--now", "2026-05-12T12:00", "--reslot", "TUESDAY@10:00", "--reslot", "THURSDAY@14:00")
    assert [after[k][0] for k in ("3.2", "3.3", "3.4", "3.5")] == [
        "2026-05-14T14:00", "2026-05-19T10:00", "2026-05-21T14:00", "2026-05-26T10:00"]


def test_restart_from_before_anything_happened_is_generation_from_the_new_date(preview):  # type: ignore[no-untyped-def]
    after = _run(preview, "--now", "2026-03-01T09:00", "--restart-from", "2026-04-01")
    fresh = json.loads(preview("--earliest-start", "2026-04-01", "--slot", "MONDAY@10:00", "--json").output)
    assert after == {f"{s['module_number']}.{s['session_number']}": (s["starts_at"], s["ends_at"]) for s in fresh}
    assert after["1.1"][0] == "2026-04-13T10:00"  # 6 Apr is Easter Monday


def test_restart_from_mid_programme_moves_only_the_future(preview):  # type: ignore[no-untyped-def]
    after = _run(preview, "--now", "2026-05-12T12:00", "--restart-from", "2026-06-15")
    assert after["3.1"][0] == "2026-05-11T10:00"
    assert after["3.2"][0] == "2026-06-15T10:00"
    assert after["3.3"][0] == "2026-06-22T10:00"


@pytest.mark.parametrize(("args", "reason"), [
    (("--now", "2026-05-01T09:00", "--postpone", "2.1=2026-04-13T10:00", "--end", "13:00"), "cannot be made longer"),
    (("--now", "2026-05-01T09:00", "--postpone", "3.1=2026-05-13T10:00", "--end", "09:00"),
     "end time must be after the start"),
    (("--now", "2026-05-01T09:00", "--postpone", "3.1=2026-05-13T10:00", "--end", "10:00"),
     "end time must be after the start"),
    (("--now", "2026-05-01T09:00", "--postpone", "3.1=2026-04-30T10:00"), "in the past"),
    (("--now", "2026-05-01T09:00", "--postpone", "9.1=2026-06-01T10:00"), "no session 9.1"),
    (("--now", "2026-05-01T09:00", "--end", "13:00"), "--end only goes with --postpone"),
    (("--now", "2026-05-01T09:00", "--postpone", "3.1=2026-05-13T10:00", "--postpone", "3.2=2026-05-20T10:00",
      "--end", "13:00"), "--end only goes with a single --postpone"),
    (("--now", "2026-05-01T09:00", "--postpone", "3.1=2026-05-18T10:00", "--postpone", "3.1=2026-04-30T10:00"),
     "in the past"),
    (("--now", "2026-05-01T09:00", "--no-cascade"), "--no-cascade only goes with --postpone"),
    (("--reslot", "TUESDAY@10:00",), "--now is required"),
    (("--now", "2026-05-01T09:00", "--reslot", "TUESDAY@10:00", "--reslot", "TUESDAY@11:00"), "too close"),
    (("--now", "2026-05-01T09:00", "--restart-from", "1 June"), "not a date"),
    (("--now", "2026-05-01 09:00", "--postpone", "3.1=2026-05-13T10:00"), "not a date and time"),
])
def test_refused_requests_give_a_one_line_reason_and_exit_2(preview, args, reason):  # type: ignore[no-untyped-def]
    result = preview(*MONDAYS, *args, "--json")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error:") and result.output.strip().count("\n") == 0
    assert reason in result.output
