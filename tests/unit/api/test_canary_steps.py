"""Canary steps: the validator accepts exactly the step lists the rule describes, for any list."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ferryman.api import ACTION_ANNOTATION, CanaryStrategy, ModelDeployment

pytestmark = pytest.mark.unit

steps_strategy = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "weight": st.integers(-5, 105),
            "pause": st.one_of(st.just({}), st.just({"duration": "1m"})),
        },
    ),
    min_size=0,
    max_size=8,
)


def _is_valid(steps: list[dict[str, Any]]) -> bool:
    """The rule restated plainly: 1+ steps, each weight xor pause, weights in 1..100, strictly rising."""
    if not steps or any(("weight" in step) == ("pause" in step) for step in steps):
        return False
    weights = [step["weight"] for step in steps if "weight" in step]
    in_range = all(1 <= weight <= 100 for weight in weights)
    return bool(weights) and in_range and all(a < b for a, b in itertools.pairwise(weights))


@given(steps_strategy)
def test_validator_accepts_exactly_the_valid_step_lists(steps: list[dict[str, Any]]) -> None:
    """For any list of steps, validation succeeds if and only if the plain-language rule holds."""
    try:
        CanaryStrategy.model_validate({"steps": steps})
    except ValidationError:
        accepted = False
    else:
        accepted = True
    assert accepted == _is_valid(steps)


def test_falling_weight_error_shows_the_offending_pair() -> None:
    """The pydantic message adds the measured values to the CEL message: which weight followed which."""
    with pytest.raises(ValidationError, match=r"\(got 25 after 50\)"):
        CanaryStrategy.model_validate({"steps": [{"weight": 50}, {"pause": {}}, {"weight": 25}]})


@pytest.mark.parametrize(("value", "action"), [(None, None), ("promote", "promote"), ("abort", "abort")])
def test_requested_action_reads_the_annotation(value: str | None, action: str | None) -> None:
    """ferryman.dev/action promote|abort|resume is read from the annotations; absent means none."""
    annotations = {} if value is None else {ACTION_ANNOTATION: value}
    md = ModelDeployment.model_validate(
        {"metadata": {"name": "m", "annotations": annotations}, "spec": {"model": {"uri": "models:/m/1"}}}
    )
    assert md.requested_action() == action


def test_unknown_action_names_the_annotation_and_choices() -> None:
    """A typo in the annotation gets an error naming the annotation, the value and the valid actions."""
    md = ModelDeployment.model_validate(
        {
            "metadata": {"name": "m", "annotations": {ACTION_ANNOTATION: "promot"}},
            "spec": {"model": {"uri": "models:/m/1"}},
        }
    )
    with pytest.raises(
        ValueError, match=r"ferryman.dev/action='promot': expected one of promote, abort, resume"
    ):
        md.requested_action()
