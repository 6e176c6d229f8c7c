"""The operator's phase gauge follows .status.phase of every watched ModelDeployment."""

from __future__ import annotations

import asyncio

import kopf
import pytest

from ferryman.handlers.rollout_metrics import REGISTRY, export_rollout_phase, phase_values

pytestmark = pytest.mark.unit


def _value(namespace: str, name: str, phase: str) -> float | None:
    labels = {"namespace": namespace, "model_deployment": name, "phase": phase}
    return REGISTRY.get_sample_value("ferryman_rollout_phase", labels)


def _event(kind: str, phase: str | None) -> None:
    body = kopf.Body({"metadata": {"name": "fraud", "namespace": "shop"}, "status": {"phase": phase}})
    asyncio.run(export_rollout_phase(type=kind, body=body, namespace="shop", name="fraud"))


def test_one_phase_is_1_and_every_other_0() -> None:
    assert phase_values("Paused") == {
        "Pending": 0, "Progressing": 0, "Paused": 1, "Promoting": 0,
        "Succeeded": 0, "RolledBack": 0, "Degraded": 0,
    }  # fmt: skip
    assert set(phase_values(None).values()) == {0}


def test_the_gauge_moves_with_the_status_and_goes_with_the_object() -> None:
    _event("ADDED", "Progressing")
    assert _value("shop", "fraud", "Progressing") == 1
    _event("MODIFIED", "RolledBack")
    assert (_value("shop", "fraud", "Progressing"), _value("shop", "fraud", "RolledBack")) == (0, 1)
    _event("DELETED", "RolledBack")
    assert _value("shop", "fraud", "RolledBack") is None
    _event("DELETED", "RolledBack")  # a second delete (a relist) is not an error
