"""Stable's autoscaler (an HPA, or a KEDA ScaledObject with the operator's autoscaler `keda`): hand
spec.replicas over to it, apply it, remove it when unwanted.

The pure rules (what the autoscaler looks like, how a canary follows it, the promotion floor) live in
builders/autoscaling.py and builders/keda.py; this module only reads the Deployments and talks to the API
server.
"""

from __future__ import annotations

from typing import Any

from ferryman import k8s
from ferryman.api import ModelDeployment
from ferryman.api.vocabulary import Phase
from ferryman.builders.autoscaling import (
    TrackReplicas,
    build_autoscaler,
    canary_replicas_to_follow,
    floor_to_keep,
    handover_field_manager,
    may_have_an_autoscaler,
    promotion_floor,
    replica_counts,
    replicas_handover,
)
from ferryman.builders.naming import Track, deployment_name
from ferryman.builders.serving import controlling_model_deployment
from ferryman.config import Settings
from ferryman.rollout import Decision

FLOOR_KEY = "promotionMinReplicas"
# How often a running rollout re-reads stable's replica count between its own steps (which may be
# minutes apart in a pause): the canary follows the HPA within this.
FOLLOW_SECONDS = 5.0
JUDGED_PHASES = frozenset({Phase.PROGRESSING, Phase.PAUSED})


def prepare_stable_for_autoscaler(md: ModelDeployment, config: Settings) -> dict[str, Any] | None:
    """Before the stable Deployment is applied without replicas: keep its count through the hand-over.

    Returns the stable Deployment as it is now (None when absent or autoscaling is off).
    """
    if md.spec.serving.autoscaling is None:
        return None
    stable = _deployment(md, "stable")
    handover = replicas_handover(stable, config.field_manager)
    if handover is not None:
        k8s.apply(handover, handover_field_manager(config.field_manager))
    return stable


def apply_autoscaler(md: ModelDeployment, config: Settings, floor: int | None = None) -> None:
    """Stable's autoscaler when the spec asks for autoscaling; one this object made earlier goes otherwise
    (or when the operator now makes the other kind: KEDA's HPA would take the name of Ferryman's)."""
    if not may_have_an_autoscaler(md):
        return
    wanted = None
    if md.spec.serving.autoscaling is not None:
        wanted = build_autoscaler(md, config, floor)
    wanted_kind = k8s.kind_of(wanted) if wanted is not None else None
    if wanted_kind is not k8s.HORIZONTAL_POD_AUTOSCALER:
        _delete_own(md, k8s.HORIZONTAL_POD_AUTOSCALER)
    if wanted_kind is not k8s.SCALED_OBJECT:
        _delete_own(md, k8s.SCALED_OBJECT)
    if wanted is not None:
        k8s.apply(wanted, config.field_manager)


def _delete_own(md: ModelDeployment, kind: k8s.ResourceKind) -> None:
    namespace, name = md.metadata.namespace, deployment_name(md.metadata.name, "stable")
    existing = k8s.get(kind, namespace, name)  # None also when the kind is not served (KEDA not installed)
    if existing is None:
        return
    owner = controlling_model_deployment(existing)
    if owner is not None and owner[1] == md.metadata.uid:
        k8s.delete(kind, namespace, name, existing["metadata"]["uid"])


def track_replicas(md: ModelDeployment, decision: Decision, previous: dict[str, Any]) -> TrackReplicas | None:
    """Under an autoscaler: both tracks' replicas now and the promotion floor the decision needs."""
    autoscaling = md.spec.serving.autoscaling
    if autoscaling is None:
        return None
    stable, _ready = replica_counts(_deployment(md, "stable"))
    canary, _ready = replica_counts(_deployment(md, "canary"))
    floor = floor_to_keep(
        promoting=decision.state.phase is Phase.PROMOTING,
        canary_pods_remain=decision.state.canary_retire_at is not None,
        previous_floor=previous.get(FLOOR_KEY),
        start_floor=promotion_floor(autoscaling, stable, canary),
    )
    return TrackReplicas(stable=stable, canary=canary, floor=floor)


def follow_stable(md: ModelDeployment, previous: dict[str, Any]) -> None:
    """Between rollout steps: resize the canary to its share of what stable's HPA chose since."""
    if md.spec.serving.autoscaling is None:
        return
    stable, _ready = replica_counts(_deployment(md, "stable"))
    canary, _ready = replica_counts(_deployment(md, "canary"))
    wanted = canary_replicas_to_follow(
        judging=previous.get("phase") in JUDGED_PHASES,
        canary_weight=int(previous.get("canaryWeight") or 0),
        stable=stable,
        canary=canary,
    )
    if wanted is not None:
        name = deployment_name(md.metadata.name, "canary")
        k8s.scale(k8s.DEPLOYMENT, md.metadata.namespace, name, wanted, owner_uid=md.metadata.uid)


def _deployment(md: ModelDeployment, track: Track) -> dict[str, Any] | None:
    return k8s.get(k8s.DEPLOYMENT, md.metadata.namespace, deployment_name(md.metadata.name, track))
