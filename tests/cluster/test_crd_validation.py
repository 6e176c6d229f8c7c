"""A real API server enforces the generated CRDs: schema, CEL rules, defaults, status and printer columns.

Uses the same invalid objects as tests/unit/api/test_invalid_objects.py, so the CEL rules in crds/ and
the pydantic validators are held to one list. Objects are sent with a server-side dry run unless a test
needs them stored (those go to the test's own namespace).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.unit.api.cases import InvalidObject, load_base_objects, load_invalid_objects

from ferryman.api import DriftMonitor, ModelDeployment, TrainingJob
from ferryman_testing import FERRYMAN_CRDS
from ferryman_testing.cluster import DevCluster
from ferryman_testing.kube_cli import install_crds
from ferryman_testing.model_deployments import PRINTER_COLUMNS

pytestmark = pytest.mark.cluster

CASES = load_invalid_objects("default")
MODELS = {"ModelDeployment": ModelDeployment, "TrainingJob": TrainingJob, "DriftMonitor": DriftMonitor}


def _attempt(cluster: DevCluster, *args: str, stdin: str | None = None) -> tuple[bool, str]:
    """Run kubectl; (True, stdout) on success, (False, the error) when refused: refusals are the point."""
    try:
        return True, cluster.kubectl.run(*args, stdin=stdin)
    except RuntimeError as refused:
        return False, str(refused)


def _dry_run(cluster: DevCluster, body: dict[str, Any]) -> tuple[bool, str]:
    return _attempt(cluster, "create", "--dry-run=server", "-o", "json", "-f", "-", stdin=json.dumps(body))


@pytest.fixture(scope="module")
def crds(cluster: DevCluster) -> DevCluster:
    """The generated CRDs, applied as they are in crds/, and Established (so their CEL fits the budget)."""
    install_crds(cluster.kubectl, *FERRYMAN_CRDS)
    return cluster


@pytest.mark.parametrize("kind", MODELS)
def test_server_accepts_valid_object_and_defaults_it_like_pydantic(crds: DevCluster, kind: str) -> None:
    """A minimal valid object is accepted, and the server fills in the same defaults as the model does."""
    body = load_base_objects("default")[kind]
    accepted, output = _dry_run(crds, body)
    assert accepted, output
    stored = json.loads(output)["spec"]
    from_pydantic = MODELS[kind].model_validate(body).spec.model_dump(by_alias=True, exclude_none=True)
    assert _without_empty_collections(stored) == _without_empty_collections(from_pydantic)


def test_a_null_threshold_stays_null_and_turns_the_test_off(crds: DevCluster) -> None:
    """docs: `psi: null` turns PSI off. The server used to prune the null and default it to 0.2."""
    body = load_base_objects("default")["DriftMonitor"]
    body["spec"]["tests"] = {"psi": None, "js": 0.15}
    accepted, output = _dry_run(crds, body)
    assert accepted, output
    stored = json.loads(output)
    assert stored["spec"]["tests"]["psi"] is None and stored["spec"]["tests"]["js"] == 0.15
    tests = DriftMonitor.model_validate(stored).spec.tests
    assert tests.psi is None and tests.js == 0.15


def _without_empty_collections(value: Any) -> Any:
    # The models default lists and maps to empty ones (callers need no None checks); the schema leaves
    # them out. Both mean "none", so compare without them.
    if not isinstance(value, dict):
        return value
    cleaned = {key: _without_empty_collections(item) for key, item in value.items()}
    return {key: item for key, item in cleaned.items() if item not in ([], {})}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_server_refuses_invalid_object_naming_field(crds: DevCluster, case: InvalidObject) -> None:
    """The API server refuses each invalid object with an error that names the field and the fix."""
    accepted, error = _dry_run(crds, case.body)
    assert not accepted, f"{case.id} was accepted"
    assert f"{case.field}: " in error, error
    assert case.says_server in error, error


def _stored_model_deployment(cluster: DevCluster, namespace: str, name: str) -> None:
    body = load_base_objects(namespace)["ModelDeployment"]
    body["metadata"]["name"] = name
    cluster.kubectl.run("create", "-f", "-", stdin=json.dumps(body))


def _patch_status(cluster: DevCluster, namespace: str, name: str, status: dict[str, Any]) -> tuple[bool, str]:
    patch = json.dumps({"status": status})
    return _attempt(
        cluster, "-n", namespace, "patch", "md", name, "--subresource=status", "--type=merge", "-p", patch
    )


def test_status_subresource_and_printer_columns(crds: DevCluster, namespace: str) -> None:
    """Status is written through its subresource, and `kubectl get md` shows phase, weight and versions."""
    _stored_model_deployment(crds, namespace, "columns")
    status = {"phase": "Progressing", "canaryWeight": 25, "stableVersion": "6", "canaryVersion": "7"}
    patched, output = _patch_status(crds, namespace, "columns", status)
    assert patched, output
    table = crds.kubectl.run("-n", namespace, "get", "md", "columns").splitlines()
    assert table[0].split() == PRINTER_COLUMNS
    assert table[1].split()[:5] == ["columns", "Progressing", "25", "6", "7"]


def test_status_schema_refuses_unknown_phase(crds: DevCluster, namespace: str) -> None:
    """The status schema is enforced too: a phase outside the enum (an operator bug) is refused."""
    _stored_model_deployment(crds, namespace, "bad-status")
    patched, error = _patch_status(crds, namespace, "bad-status", {"phase": "Exploded"})
    assert not patched
    assert "status.phase" in error, error


def test_kubectl_explain_shows_model_descriptions(crds: DevCluster) -> None:
    """kubectl explain is useful: a nested field prints the description written in the pydantic model."""
    explained = crds.kubectl.run("explain", "modeldeployments.spec.strategy.canary.steps")
    assert "Weights and pauses in order" in explained


def test_a_training_jobs_spec_is_fixed_once_created_unless_it_is_a_schedule(
    crds: DevCluster, namespace: str
) -> None:
    """A Job's template cannot change, so neither can the spec it was made from: an edit is refused
    saying what to do, not silently left unapplied. Metadata may change; a schedule's spec may too."""
    once, schedule = (load_base_objects(namespace)["TrainingJob"] for _ in range(2))
    once["metadata"]["name"], schedule["metadata"]["name"] = "once", "nightly"
    schedule["spec"]["schedule"] = "@daily"
    for body in (once, schedule):
        crds.kubectl.run("create", "-f", "-", stdin=json.dumps(body))

    def patched(name: str, patch: dict[str, Any]) -> tuple[bool, str]:
        body = json.dumps(patch)
        return _attempt(crds, "-n", namespace, "patch", "tj", name, "--type=merge", "-p", body)

    image_edit = {"spec": {"template": {"spec": {"containers": [{"name": "train", "image": "trainer:2"}]}}}}
    for edit in ({"spec": {"params": {"trees": "20"}}}, image_edit):
        accepted, error = patched("once", edit)
        assert not accepted, f"{edit} was accepted"
        assert "spec: a TrainingJob's spec cannot change once it is created" in error, error
        assert "create a TrainingJob of another name" in error, error
    assert patched("once", {"metadata": {"annotations": {"ferryman.dev/action": "approve"}}})[0]
    for edit in ({"spec": {"params": {"trees": "20"}}}, image_edit):
        accepted, error = patched("nightly", edit)
        assert accepted, error
