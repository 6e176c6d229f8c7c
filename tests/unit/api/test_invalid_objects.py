"""The pydantic models refuse every object in invalid_objects.yaml, naming the field and the fix.

The same objects are applied to a real API server in tests/cluster/test_crd_validation.py, so the
CRD's CEL rules and the models' validators are held to one list.
"""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from ferryman.api import DriftMonitor, ModelDeployment, TrainingJob
from ferryman.api.meta import ApiResource
from tests.unit.api.cases import InvalidObject, load_base_objects, load_invalid_objects

pytestmark = pytest.mark.unit

MODELS: dict[str, type[ApiResource]] = {
    "ModelDeployment": ModelDeployment,
    "TrainingJob": TrainingJob,
    "DriftMonitor": DriftMonitor,
}
CASES = load_invalid_objects()


def _pydantic_path(field: str) -> str:
    """spec.steps[0].weight -> spec.steps.0.weight, the way pydantic joins an error location."""
    return re.sub(r"\[(\d+)\]", r".\1", field)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_model_refuses_invalid_object_naming_field(case: InvalidObject) -> None:
    """Each invalid object fails validation at the expected field, with the expected explanation."""
    with pytest.raises(ValidationError) as caught:
        MODELS[case.kind].model_validate(case.body)
    errors = [(".".join(str(part) for part in error["loc"]), error["msg"]) for error in caught.value.errors()]
    # A rule on the whole object (it needs the name and the spec) has no location; its message starts
    # with the field, as the API server's root CEL rules do.
    assert any(
        (location == _pydantic_path(case.field) or (location == "" and f"{case.field}: " in message))
        and case.says_pydantic in message
        for location, message in errors
    ), f"expected an error at {case.field} saying {case.says_pydantic!r}, got {errors}"


def test_cases_cover_every_kind() -> None:
    """The shared list exercises all three resources, so none of their rules goes untested."""
    assert {case.kind for case in CASES} == set(MODELS)


def test_base_objects_are_valid() -> None:
    """The objects the cases start from are valid, so each case fails for its stated reason only."""
    for kind, body in load_base_objects().items():
        MODELS[kind].model_validate(body)
