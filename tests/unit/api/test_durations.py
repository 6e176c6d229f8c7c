"""Durations read the way Flagger and Argo Rollouts users write them, and fail loudly otherwise."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferryman.api import parse_duration

pytestmark = pytest.mark.unit

UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500ms", timedelta(milliseconds=500)),
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("6h", timedelta(hours=6)),
        ("1h30m", timedelta(minutes=90)),
        ("1m500ms", timedelta(seconds=60.5)),
        ("0s", timedelta()),
    ],
)
def test_parses_each_unit_and_combinations(text: str, expected: timedelta) -> None:
    """ms, s, m and h parse alone and combined; 'm' is minutes and 'ms' milliseconds."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "30 s", "1.5s", "-1s", "1d", "s", "30S", "1h 30m", "PT30S"])
def test_rejects_malformed_text_naming_it_and_the_form(text: str) -> None:
    """The error quotes the bad text and shows the expected form, so the fix is obvious."""
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    assert repr(text) in str(caught.value)
    assert "e.g. 500ms, 30s, 10m, 1h30m" in str(caught.value)


@given(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(list(UNITS))), min_size=1, max_size=4))
def test_any_sequence_of_groups_sums_its_parts(groups: list[tuple[int, str]]) -> None:
    """A duration is the sum of its number-unit groups, whatever their order."""
    text = "".join(f"{count}{unit}" for count, unit in groups)
    assert parse_duration(text) == sum((count * UNITS[unit] for count, unit in groups), timedelta())


def test_the_largest_durations_the_schema_accepts_fit_in_a_timedelta() -> None:
    """32 characters of six-digit groups is the most the pattern allows; it parses (no OverflowError)."""
    assert parse_duration("999999h999999h999999h999999h1ms") == timedelta(hours=4 * 999999, milliseconds=1)


@pytest.mark.parametrize("text", ["99999999999999h", "9999999h", "999999h999999h999999h999999h999999h"])
def test_durations_too_large_are_refused_with_value_error_naming_the_limit(text: str) -> None:
    """Too many digits, or too long: ValueError quoting the text and the limit, never OverflowError."""
    with pytest.raises(ValueError, match="at most 6 digits each") as caught:
        parse_duration(text)
    assert repr(text) in str(caught.value)
