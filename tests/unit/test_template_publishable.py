"""What a programme version must satisfy before it is published (issue 15.10)."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.scheduling import ModuleSpec, ProgrammeSpec, SessionSpec, TemplateError, check_publishable


def _programme(sessions_per_module: list[int], numbers: list[int] | None = None,
               roles: dict[int, str] | None = None) -> ProgrammeSpec:
    numbers = numbers or list(range(1, len(sessions_per_module) + 1))
    roles = roles if roles is not None else {numbers[0]: "pre_group", numbers[-1]: "post_programme"}
    return ProgrammeSpec("P", tuple(
        ModuleSpec(n, f"Module {n}", roles.get(n), 0, 0, tuple(
            SessionSpec(n, s, f"Session {n}.{s}", "group", 150) for s in range(1, count + 1)))
        for n, count in zip(numbers, sessions_per_module, strict=True)))


@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.integers(1, 6), min_size=2, max_size=8))
def test_consecutive_numbers_with_one_pre_group_first_and_one_post_programme_last_are_publishable(counts):  # type: ignore[no-untyped-def]
    check_publishable(_programme(counts))


@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.integers(1, 6), min_size=3, max_size=8), st.data())
def test_a_missing_module_number_is_named(counts, data):  # type: ignore[no-untyped-def]
    missing = data.draw(st.integers(2, len(counts)))
    numbers = [n for n in range(1, len(counts) + 2) if n != missing]
    with pytest.raises(TemplateError, match=rf"^P: modules must be numbered from 1 without gaps \(number "
                                            rf"{missing} is missing\)$"):
        check_publishable(_programme(counts, numbers))


def test_a_module_without_sessions_is_refused() -> None:
    with pytest.raises(TemplateError, match=r"^module 2 \(Module 2\) has no sessions$"):
        check_publishable(_programme([1, 0, 1]))


def test_an_unknown_role_is_refused() -> None:
    with pytest.raises(TemplateError, match=r"^module 2 \(Module 2\): role must be pre_group or post_programme"):
        check_publishable(_programme([1, 1, 1], roles={1: "pre_group", 2: "extra", 3: "post_programme"}))


def test_the_post_programme_module_must_be_last() -> None:
    with pytest.raises(TemplateError, match=r"^P: the post_programme module must be the last module \(it is "
                                            r"module 2\)$"):
        check_publishable(_programme([1, 1, 1], roles={1: "pre_group", 2: "post_programme"}))
