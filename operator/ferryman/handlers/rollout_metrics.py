"""The operator's own metrics (docs/metrics.md, "Operator metrics"): the phase each ModelDeployment is in.

Read from every watch event of a ModelDeployment, so that the gauge follows what `.status.phase` says
whoever wrote it, and is rebuilt from the initial listing after a restart. The alerts on rollbacks and
stuck rollouts (charts/ferryman/files/prometheus-rules.yaml) are built on it.
"""

from __future__ import annotations

import contextlib
from typing import Any

import kopf
from prometheus_client import Gauge

from ferryman.api import GROUP, VERSION
from ferryman.api.vocabulary import Phase
from ferryman.handlers.operator_metrics import REGISTRY

PLURAL = "modeldeployments"
ROLLOUT_PHASE = Gauge(
    "ferryman_rollout_phase",
    "1 for the phase a ModelDeployment is in (.status.phase), 0 for every other phase.",
    ["namespace", "model_deployment", "phase"],
    registry=REGISTRY,
)


def phase_values(phase: str | None) -> dict[str, int]:
    """One value per phase: 1 for `phase`, 0 for the others (all 0 before the operator wrote a phase)."""
    return {member.value: int(member.value == phase) for member in Phase}


@kopf.on.event(GROUP, VERSION, PLURAL)
async def export_rollout_phase(
    type: str, body: kopf.Body, namespace: str | None, name: str, **_: Any
) -> None:
    """Set the phase gauge of this ModelDeployment; drop its series when it is deleted.

    Async, though it never awaits: it only sets gauges, and a synchronous handler would wait in Kopf's
    thread pool behind handlers that call the API server (one per ModelDeployment event).
    """
    values = phase_values((body.get("status") or {}).get("phase"))
    for phase, value in values.items():
        if type == "DELETED":
            # KeyError: never exported (deleted before its first event was seen).
            with contextlib.suppress(KeyError):
                ROLLOUT_PHASE.remove(namespace, name, phase)
        else:
            ROLLOUT_PHASE.labels(namespace, name, phase).set(value)
