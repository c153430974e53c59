"""Bus stopping rules (SPEC §3): the 12-week window, the resume point, and which next sessions fit it."""
from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from app.scheduling.bus_stop import first_incomplete, fit, last_day_to_rejoin, within_window

ORDER = [(1, 1), (2, 1), (2, 2), (2, 3), (3, 1), (3, 2), (3, 3), (3, 4), (3, 5), (3, 6), (3, 7), (4, 1), (4, 2)]


def test_day_84_after_leaving_is_inside_the_window_and_day_85_is_not() -> None:
    left = date(2026, 5, 1)
    assert within_window(left, date(2026, 7, 24))  # 84 days
    assert not within_window(left, date(2026, 7, 25))  # 85 days
    assert last_day_to_rejoin(left) == date(2026, 7, 24)


def test_the_resume_point_is_the_first_template_not_completed_even_with_later_ones_done() -> None:
    done = {(1, 1), (2, 1), (2, 2), (2, 3), (3, 1), (3, 3), (3, 4)}
    assert first_incomplete(ORDER, done) == (3, 2)
    assert first_incomplete(ORDER, set()) == (1, 1)
    assert first_incomplete(ORDER, set(ORDER)) is None


def test_a_group_at_the_resume_point_fits_with_nothing_to_repeat() -> None:
    result = fit(ORDER, (3, 3), (3, 3))
    assert result.fits and result.behind == 0 and result.repeats == ()


def test_a_group_earlier_in_the_same_module_fits_and_says_what_is_repeated() -> None:
    result = fit(ORDER, (3, 3), (3, 1))
    assert result.fits and result.behind == 2 and result.repeats == ((3, 1), (3, 2))


def test_a_group_in_an_earlier_module_or_past_the_resume_point_does_not_fit() -> None:
    assert not fit(ORDER, (3, 1), (2, 3)).fits  # the end of the module before
    assert not fit(ORDER, (3, 3), (3, 4)).fits  # they would miss 3.3
    assert not fit(ORDER, (3, 7), (4, 1)).fits


@given(st.sets(st.sampled_from(ORDER)), st.sampled_from(ORDER))
def test_a_fitting_group_never_skips_a_template_the_person_has_not_completed(done, next_key) -> None:  # type: ignore[no-untyped-def]
    resume = first_incomplete(ORDER, done)
    if resume is None:
        return
    result = fit(ORDER, resume, next_key)
    if result.fits:
        skipped = ORDER[:ORDER.index(next_key)]
        assert all(key in done for key in skipped)
        assert next_key[0] == resume[0]
