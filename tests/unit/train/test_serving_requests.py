"""The serving check's requests (one holdout row in the model's input datatype) and its judgement of
each answer."""

from __future__ import annotations

import numpy as np
import pytest

from ferryman.train.serving_check import malformed, one_row_request
from ferryman_serving.model import TensorSpec

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("datatype", "data"), [("FP32", "[1.5,2.0]"), ("FP64", "[1.5,2.0]"), ("INT64", "[1,2]")]
)
def test_request_carries_the_row_in_the_inputs_datatype(datatype: str, data: str) -> None:
    body = one_row_request(TensorSpec("features", datatype, (-1, 2)), np.array([1.5, 2.0], dtype=np.float32))
    assert (
        body
        == (
            f'{{"inputs":[{{"name":"features","datatype":"{datatype}","shape":[1,2],"data":{data}}}]}}'
        ).encode()
    )


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (b'{"outputs": [{"name": "label", "shape": [1], "data": [1]}]}', None),
        (b"not json", "not an inference response"),
        (b'{"outputs": []}', "no outputs"),
        (b'{"outputs": [{"name": "p", "shape": [1, 2], "data": [0.5]}]}', "shape [1, 2] and 1 values"),
        (b'{"outputs": [{"name": "p", "shape": [2], "data": [1, 2]}]}', "shape [2]"),
    ],
)
def test_serving_answers_are_judged_well_formed_or_not(answer: bytes, problem: str | None) -> None:
    found = malformed(answer)
    assert found is None if problem is None else problem in (found or "")
