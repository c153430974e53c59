"""Completion per person (SPEC §4): only ATTC completes a session template."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.scheduling import (
    ProgrammeSpec,
    completed_templates,
    completion_percent,
    module_completion,
    programme_complete,
)

OUTCOMES = ["ATTC", "AFTC", "UAAB", "AAME", "AARE", "AAFC", "AAEM", "AACL", "AAAA", None]


def test_only_attended_and_complied_completes_a_session_template() -> None:
    outcomes = [((2, 1), "AFTC"), ((2, 2), "UAAB"), ((2, 3), None), ((3, 1), "AAME"), ((1, 1), "ATTC")]
    assert completed_templates(outcomes) == {(1, 1)}


def test_a_catch_up_attended_after_a_missed_session_completes_the_template() -> None:
    original_then_catch_up = [((3, 2), "UAAB"), ((3, 2), "AFTC"), ((3, 2), "ATTC")]
    assert completed_templates(original_then_catch_up) == {(3, 2)}
    assert completed_templates([((3, 2), "ATTC"), ((3, 2), "UAAB")]) == {
        (3, 2)
    }  # a later miss does not undo it


def test_a_module_is_complete_only_when_all_its_sessions_are(building_choices: ProgrammeSpec) -> None:
    completed = {(1, 1), (2, 1), (2, 2)}
    modules = module_completion(building_choices, completed)
    assert modules == {1: True, 2: False, 3: False, 4: False, 5: False, 6: False, 7: False}
    modules = module_completion(building_choices, completed | {(2, 3)})
    assert modules[2] is True


def test_completion_percent_rounds_down_over_all_27_templates(building_choices: ProgrammeSpec) -> None:
    assert completion_percent(building_choices, set()) == 0
    assert completion_percent(building_choices, {(1, 1)}) == 3  # 1/27 = 3.7%
    assert completion_percent(building_choices, {(1, 1), (2, 1)}) == 7  # 2/27 = 7.4%
    everything = {spec.key for spec in building_choices.sessions()}
    assert completion_percent(building_choices, everything - {(7, 1)}) == 96  # 26/27 = 96.3%
    assert completion_percent(building_choices, everything) == 100


def test_the_programme_is_complete_when_every_module_is(building_choices: ProgrammeSpec) -> None:
    everything = {spec.key for spec in building_choices.sessions()}
    assert programme_complete(building_choices, everything)
    assert not programme_complete(building_choices, everything - {(7, 1)})


def test_templates_from_another_programme_do_not_count(building_choices: ProgrammeSpec) -> None:
    assert completion_percent(building_choices, {(9, 9), (1, 1)}) == 3
    assert not programme_complete(building_choices, {(9, 9)})


@given(data=st.data())
def test_completion_measures_agree(building_choices: ProgrammeSpec, data: st.DataObject) -> None:
    keys = [spec.key for spec in building_choices.sessions()]
    outcomes = data.draw(st.lists(st.tuples(st.sampled_from(keys), st.sampled_from(OUTCOMES)), max_size=80))
    completed = completed_templates(outcomes)
    assert completed == {key for key, outcome in outcomes if outcome == "ATTC"}
    percent = completion_percent(building_choices, completed)
    assert percent == (100 * len(completed)) // len(keys)
    assert (percent == 100) == programme_complete(building_choices, completed)
    assert programme_complete(building_choices, completed) == all(
        module_completion(building_choices, completed).values()
    )
    more = completed_templates([*outcomes, (data.draw(st.sampled_from(keys)), "ATTC")])
    assert completion_percent(building_choices, more) >= percent  # attending never lowers progress
