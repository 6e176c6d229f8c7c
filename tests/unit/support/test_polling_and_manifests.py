"""The test support's one polling contract and its one ModelDeployment builder."""

from __future__ import annotations

import itertools

import pytest

from ferryman.api import ModelDeployment
from ferryman_testing.manifests import model_deployment
from ferryman_testing.polling import NotYet, WaitTimeout, wait_for

pytestmark = pytest.mark.unit


def test_wait_for_returns_the_first_truthy_value() -> None:
    calls = itertools.count()
    assert wait_for("the third call", lambda: next(calls) >= 2 and "ready", timeout=5, every=0.001) == "ready"


def test_wait_for_fails_naming_what_and_the_last_value_seen() -> None:
    def weights() -> bool:
        raise NotYet("in force: 91/9")

    with pytest.raises(WaitTimeout, match=r"for the weights \(last seen: NotYet\('in force: 91/9'\)\)"):
        wait_for("the weights", weights, timeout=0.01)


def test_exceptions_from_the_probe_propagate_unless_tolerated() -> None:
    with pytest.raises(ZeroDivisionError):
        wait_for("a crashing probe", lambda: 1 / 0, timeout=5)
    with pytest.raises(WaitTimeout, match="ZeroDivisionError"):
        wait_for("a tolerated error", lambda: 1 / 0, timeout=0.01, every=0.001, tolerate=(ZeroDivisionError,))


def test_model_deployment_builder_gives_a_valid_object() -> None:
    """Every option combined still validates against the API model the CRD is generated from."""
    manifest = model_deployment(
        "fraud",
        "ns",
        "file:///models/v2/model.onnx",
        replicas=2,
        serving={"podAnnotations": {"a": "b"}},
        strategy={"shadow": {"mirrorPercent": 50, "duration": "5m"}},
        parent_ref={"name": "gw", "namespace": "gws"},
        hostname="ns.ferryman.test",
        gateway={"mirrorWith": "TraefikService"},
    )
    parsed = ModelDeployment.model_validate(manifest)
    assert parsed.spec.serving.replicas == 2
    assert manifest["spec"]["traffic"]["gateway"]["hostnames"] == ["ns.ferryman.test"]
    assert manifest["spec"]["traffic"]["gateway"]["mirrorWith"] == "TraefikService"
    assert "traffic" not in model_deployment("fraud", "ns", "file:///m.onnx")["spec"]
