"""Client faults get a 4xx with {"error": "..."} that says what was wrong; never a 500, never a crash."""

from __future__ import annotations

import json

import httpx
import pytest

from ferryman_testing.models import FEATURES
from ferryman_testing.servers import ServingProcess

pytestmark = pytest.mark.serving


def features(
    shape: list[int], datatype: str = "FP32", name: str = "features", value: object = 0.5
) -> dict[str, object]:
    count = shape[0] * shape[1] if len(shape) == 2 else shape[0]
    return {"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": [value] * count}]}


CASES = [
    ("POST", "/v2/models/nope/infer", features([1, FEATURES]), 404, "'nope' is not served here"),
    ("POST", "/v2/models/fraud/versions/99/infer", features([1, FEATURES]), 404, "serves version '7'"),
    ("GET", "/v2/models/nope", None, 404, "serves 'fraud'"),
    ("GET", "/v2/nothing/here", None, 404, "no such path"),
    ("GET", "/elsewhere", None, 404, "the API lives under /v2"),
    ("POST", "/v2/models/fraud/infer", features([1, FEATURES - 1]), 400, "expects [-1, 20]"),
    ("POST", "/v2/models/fraud/infer", features([FEATURES]), 400, "has shape [20]"),
    ("POST", "/v2/models/fraud/infer", features([1, FEATURES], "FP64"), 400, "model expects FP32"),
    (
        "POST",
        "/v2/models/fraud/infer",
        features([1, FEATURES], "BYTES"),
        400,
        "BYTES data must be JSON strings",
    ),
    (
        "POST",
        "/v2/models/fraud/infer",
        features([1, FEATURES], "BYTES", value="0.5"),
        400,
        "model expects FP32",
    ),
    ("POST", "/v2/models/fraud/infer", features([1, FEATURES], name="x"), 400, "has no input 'x'"),
    ("POST", "/v2/models/fraud/infer", {"inputs": []}, 400, "non-empty list"),
    (
        "POST",
        "/v2/models/fraud/infer",
        {**features([1, FEATURES]), "outputs": [{"name": "z"}]},
        400,
        "no output",
    ),
    ("GET", "/v2/models/fraud/infer", None, 405, "use POST"),
    ("POST", "/v2/health/ready", None, 405, "use GET"),
    # A wrong method on a path that does not exist: "use GET" sent clients to a 404.
    ("POST", "/v2/repository/index", None, 404, "no such path"),
    ("DELETE", "/v2/nonexistent", None, 404, "no such path"),
    ("DELETE", "/v2/models/zz", None, 404, "zz"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), CASES)
def test_client_faults_get_a_4xx_that_explains(
    gb_server: ServingProcess, method: str, path: str, body: object, status: int, message: str
) -> None:
    """Each fault gets its status and a JSON error naming the problem."""
    answer = httpx.request(method, f"{gb_server.url}{path}", json=body)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]


def _nested(depth: int, inner: str) -> str:
    return "[" * depth + inner + "]" * depth


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # numpy built a 40-dimensional object array, whose flat iterator stops at 32: a RuntimeError.
        (
            '{"inputs": [{"name": "features", "shape": [1, 2], "datatype": "BYTES", "data": '
            + _nested(40, '"a"')
            + "}]}",
            "data is nested 40 deep; a tensor has at most 32 dimensions",
        ),
        # orjson reads 1024 levels but writes 255: showing the bad value in the message raised.
        (
            '{"parameters": {"binary_data_output": '
            + _nested(300, "")
            + '}, "inputs": [{"name": "features", '
            '"shape": [1, 20], "datatype": "FP32", "data": ' + str([0.5] * 20) + "}]}",
            "binary_data_output must be JSON true or false, not a list nested too deep to show",
        ),
    ],
)
def test_values_nested_deeper_than_numpy_or_orjson_go_are_a_400(
    gb_server: ServingProcess, body: str, message: str
) -> None:
    answer = httpx.post(f"{gb_server.url}/v2/models/fraud/infer", content=body.encode())
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["error"]


def test_malformed_json_is_a_400(gb_server: ServingProcess) -> None:
    answer = httpx.post(f"{gb_server.url}/v2/models/fraud/infer", content=b'{"inputs": [')
    assert answer.status_code == 400 and "not valid JSON" in answer.json()["error"]


def test_body_over_the_limit_is_a_413(gb_server: ServingProcess) -> None:
    """The gb server allows 64 KiB; a 100 KiB body is refused with the setting's name."""
    answer = httpx.post(f"{gb_server.url}/v2/models/fraud/infer", content=b" " * 100_000)
    assert answer.status_code == 413
    assert "FERRYMAN_MAX_BODY_BYTES" in answer.json()["error"]


def test_chunked_body_over_the_limit_is_a_413(gb_server: ServingProcess) -> None:
    """Without Content-Length (chunked upload) the limit still holds."""

    def chunks() -> object:
        for _ in range(100):
            yield b" " * 1000

    answer = httpx.post(f"{gb_server.url}/v2/models/fraud/infer", content=chunks())
    assert answer.status_code == 413


def test_bad_binary_header_length_is_a_400(gb_server: ServingProcess) -> None:
    answer = httpx.post(
        f"{gb_server.url}/v2/models/fraud/infer",
        content=b"{}",
        headers={"Inference-Header-Content-Length": "abc"},
    )
    assert answer.status_code == 400 and "non-negative integer" in answer.json()["error"]


def test_a_binary_header_length_sent_twice_is_a_400(gb_server: ServingProcess) -> None:
    """Two values could be read differently by a proxy (the first) and this server (it took the last)."""
    body = features([1, FEATURES])
    header = json.dumps(body).encode()
    answer = httpx.post(
        f"{gb_server.url}/v2/models/fraud/infer",
        content=header,
        headers=[
            ("Inference-Header-Content-Length", "2"),
            ("Inference-Header-Content-Length", str(len(header))),
        ],
    )
    assert answer.status_code == 400 and "sent twice" in answer.json()["error"]


def test_server_survives_the_faults(gb_server: ServingProcess) -> None:
    """After all of the above the same process is still ready."""
    assert gb_server.process.poll() is None
    assert httpx.get(f"{gb_server.url}/v2/health/ready").status_code == 200
