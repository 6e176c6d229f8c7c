"""Two tracks of a ModelDeployment never share a version label, and derived names always fit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ferryman.api import ModelDeployment
from ferryman.api.modeldeployment import DERIVED_NAME_SUFFIXES, MAX_MODEL_DEPLOYMENT_NAME
from ferryman.builders.naming import deployment_name, track_service_name
from ferryman.builders.rollout_plan import rollout_inputs
from ferryman.builders.serving import ServingTarget, build_serving_deployment, build_track_service
from ferryman.builders.traffic.traefik import mirror_service_name
from ferryman.builders.version_change import version_label_in
from ferryman.config import Settings
from ferryman.rollout import start_rollout

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
STABLE_A7 = {"stableVersion": "7", "stableUri": "models:/a/7", "phase": "Succeeded"}


def canary_md(name: str = "fraud", uri: str = "models:/b/7") -> ModelDeployment:
    return ModelDeployment.model_validate(
        {
            "kind": "ModelDeployment",
            "metadata": {"name": name, "namespace": "risk", "uid": "u1"},
            "spec": {"model": {"uri": uri}, "strategy": {"canary": {"steps": [{"weight": 10}]}}},
        }
    )


@pytest.mark.parametrize(
    ("status", "uri"),
    [
        (STABLE_A7, "models:/b/7"),
        ({"stableVersion": "prod", "stableUri": "models:/a@prod"}, "models:/b@prod"),
    ],
)
def test_a_new_uri_with_the_stable_label_gets_a_distinct_one_and_the_rollout_starts(
    status: dict[str, str], uri: str
) -> None:
    """models:/a/7 then models:/b/7: the state machine refused two tracks labelled 7 (a crash loop)."""
    label = version_label_in(status, uri)
    assert label != status["stableVersion"]
    assert label.startswith(status["stableVersion"] + "-") and len(label) <= 63
    assert version_label_in(status, uri) == label  # the same on every reconcile
    plan = rollout_inputs(canary_md(uri=uri), Settings())[0]  # type: ignore[index]
    decision = start_rollout(plan, status["stableVersion"], label, T0)
    assert decision.canary_deployment_version == label


def test_recorded_labels_are_kept_and_plain_labels_are_unchanged() -> None:
    """A URI already in status keeps its label (no roll of its pods); a fresh number stays as it is."""
    promoted = {"stableVersion": "7-0123abcd", "stableUri": "models:/b/7"}
    assert version_label_in(promoted, "models:/b/7") == "7-0123abcd"
    assert version_label_in(STABLE_A7, "models:/a/8") == "8"
    assert version_label_in({}, "models:/a/7") == "7"
    in_flight = {**STABLE_A7, "canaryVersion": "8", "canaryUri": "models:/a/8"}
    assert version_label_in(in_flight, "models:/c/8") != "8"


def test_the_label_reaches_the_pods_and_status_of_the_track() -> None:
    """with_version_label is what the builders see as the model's version."""
    md = canary_md().with_version_label("7-0123abcd")
    assert md.spec.model.version_label() == "7-0123abcd"
    assert canary_md().spec.model.version_label() == "7"


def test_every_name_derived_from_the_longest_allowed_name_fits_a_dns_label() -> None:
    """The admission limit on metadata.name is what keeps every derived Service and Deployment valid."""
    md = canary_md(name="m" * MAX_MODEL_DEPLOYMENT_NAME)
    name = md.metadata.name
    target = ServingTarget("canary", "models:/b/7", "7", 1)
    derived = [
        deployment_name(name, "stable"),
        track_service_name(name, "canary"),
        mirror_service_name(md),
        build_track_service(md, "stable")["metadata"]["name"],
        build_serving_deployment(md, target, Settings())["metadata"]["name"],
        *(name + suffix for suffix in DERIVED_NAME_SUFFIXES),
    ]
    assert max(len(text) for text in derived) == 63
