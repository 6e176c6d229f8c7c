"""spec.batch on the local cluster: the CronJob's scheduled Indexed Job scores a Parquet dataset in two
shards with stable's version while a canary runs, and a shard killed mid-run is retried alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kopf.testing import KopfRunner
from prometheus_client.parser import text_string_to_metric_families

from ferryman_serving.model import OnnxModel
from ferryman_testing.kube_cli import Kubectl
from ferryman_testing.manifests import model_deployment
from ferryman_testing.model_deployments import status_of, wait_until_serving
from ferryman_testing.models import FEATURES, make_gradient_boosting_model
from ferryman_testing.operator import operator_metrics
from ferryman_testing.polling import wait_for

# A run waits for the next minute boundary (the schedule is every minute), then scores 1 M rows.
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

ROWS = 1_000_000
FILES = 4
# The canary holds at a pause before its first weight: in progress for as long as the test needs, with no
# metrics to judge (the cluster tier has no Prometheus, and unjudgeable canaries are rolled back).
STRATEGY = {"canary": {"steps": [{"pause": {}}, {"weight": 50}], "interval": "30s"}}


def write_dataset(directory: Path) -> np.ndarray:
    """ROWS rows of 20 float32 features with an id, in FILES Parquet files."""
    directory.mkdir(parents=True)
    matrix = np.random.default_rng(11).standard_normal((ROWS, FEATURES)).astype(np.float32)
    for index, ids in enumerate(np.array_split(np.arange(ROWS), FILES)):
        columns = {"id": pa.array(ids.astype(np.int64))}
        columns.update({f"f{i}": pa.array(matrix[ids, i]) for i in range(FEATURES)})
        pq.write_table(pa.table(columns), directory / f"part-{index}.parquet", row_group_size=65536)
    return matrix


def predictions(model: Path, matrix: np.ndarray) -> np.ndarray:
    """What the online server answers: its session options (one intra-op thread). A default session
    spreads the trees over threads and sums them in another order (answers differ in the last bit)."""
    session = OnnxModel(model, intra_op_threads=1)
    return np.asarray(session.run({"features": matrix}, session.output_names)[0]).reshape(-1)


def batch_deployment(namespace: str, uri: str, data: Path, output: Path) -> dict[str, Any]:
    md = model_deployment("fraud", namespace, uri, strategy=STRATEGY)
    md["spec"]["batch"] = {
        "schedule": "* * * * *",
        "input": {"uri": data.as_uri()},
        "output": {"uri": output.as_uri()},
        "parallelism": 2,
        "passthrough": ["id"],
        "backoffLimitPerIndex": 2,
    }
    return md


def suspend(kubectl: Kubectl, namespace: str, suspended: bool) -> None:
    """spec.suspend is not a field the operator applies, so this patch stays."""
    patch = json.dumps({"spec": {"suspend": suspended}})
    kubectl.run("patch", "cronjob", "fraud-batch", "-n", namespace, "--type=merge", "-p", patch)


def shard_pods(kubectl: Kubectl, namespace: str, job: str) -> list[dict[str, Any]]:
    listing = kubectl.get_json("pods", "-n", namespace, "-l", f"job-name={job}")
    return list(listing["items"])


def running_shard_one(kubectl: Kubectl, namespace: str, job: str) -> str | None:
    for pod in shard_pods(kubectl, namespace, job):
        index = pod["metadata"].get("annotations", {}).get("batch.kubernetes.io/job-completion-index")
        if index == "1" and pod["status"].get("phase") == "Running":
            return str(pod["metadata"]["name"])
    return None


def operator_samples(namespace: str) -> dict[tuple[str, str], float]:
    """The operator's batch samples of this namespace's fraud: (name, result label) -> value."""
    return {
        (sample.name, sample.labels.get("result", "")): sample.value
        for family in text_string_to_metric_families(operator_metrics())
        for sample in family.samples
        if sample.name.startswith("ferryman_batch_")
        and sample.labels.get("namespace") == namespace
        and sample.labels.get("model_deployment") == "fraud"
    }


def canary_in_progress(kubectl: Kubectl, namespace: str, canary: Path) -> bool:
    status = status_of(kubectl, namespace)
    return status.get("phase") == "Paused" and status.get("canaryUri") == canary.as_uri()


def test_scheduled_batch_scores_with_stable_during_a_canary_and_survives_a_killed_shard(
    kubectl: Kubectl, namespace: str, operator: KopfRunner, tmp_path: Path
) -> None:
    """1 M rows, 2 shards, a canary of v2 in progress: the run scores with stable's v1, shard 1 is killed
    mid-run and retried alone, and the output holds every id once with v1's exact predictions."""
    v1 = make_gradient_boosting_model(tmp_path / "v1", trees=100).model_path
    v2 = make_gradient_boosting_model(tmp_path / "v2", trees=20).model_path
    matrix = write_dataset(tmp_path / "data")
    output = tmp_path / "scores"
    kubectl.apply([batch_deployment(namespace, v1.as_uri(), tmp_path / "data", output)])
    stable = wait_until_serving(kubectl, namespace)
    # No run until the canary is in progress: suspended as soon as the operator has made the CronJob,
    # and whatever a minute boundary started before that is removed.
    wait_for(
        "the CronJob", lambda: "fraud-batch" in kubectl.run("get", "cronjobs", "-n", namespace, "-o", "name")
    )
    suspend(kubectl, namespace, True)
    kubectl.apply([batch_deployment(namespace, v2.as_uri(), tmp_path / "data", output)])
    wait_for("the canary in progress", lambda: canary_in_progress(kubectl, namespace, v2), timeout=120)
    kubectl.run("delete", "jobs", "--all", "-n", namespace, "--cascade=foreground", "--wait=true")
    shutil.rmtree(output, ignore_errors=True)
    cronjob = kubectl.get("cronjob", "fraud-batch", namespace)
    args = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--model") + 1] == v1.as_uri()
    suspend(kubectl, namespace, False)

    def first_job() -> str | None:
        jobs = kubectl.get_json("jobs", "-n", namespace)["items"]
        return str(jobs[0]["metadata"]["name"]) if jobs else None

    job = wait_for("the scheduled run", first_job, timeout=90)
    killed = wait_for(
        "shard 1 running", lambda: running_shard_one(kubectl, namespace, job), timeout=60, every=0.2
    )
    kubectl.run("delete", "pod", killed, "-n", namespace, "--grace-period=0", "--wait=false")
    # No more runs: the next minute would replace this run's result while we read it.
    suspend(kubectl, namespace, True)

    def complete() -> dict[str, Any] | None:
        found = kubectl.get("job", job, namespace)
        done = any(
            c["type"] == "Complete" and c["status"] == "True" for c in found["status"].get("conditions", [])
        )
        assert not any(
            c["type"] == "Failed" and c["status"] == "True" for c in found["status"].get("conditions", [])
        )
        return found if done else None

    finished = wait_for("the run to complete", complete, timeout=300, every=1.0)
    assert finished["status"]["failed"] >= 1  # the killed shard counted as a failure
    # The killed pod is gone; index 1 ran again in a new pod, index 0 was not rerun.
    pods = {p["metadata"]["name"]: p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
            for p in shard_pods(kubectl, namespace, job)}  # fmt: skip
    assert killed not in pods and sorted(pods.values()) == ["0", "1"], pods

    manifest = json.loads((output / "manifest.json").read_text())
    assert (manifest["run_id"], manifest["rows"], manifest["shards"]) == (job, ROWS, 2)
    assert manifest["model_version"] == stable["stableVersion"] and manifest["model_uri"] == v1.as_uri()
    scored = pa.concat_tables(pq.read_table(output / part) for part in manifest["parts"]).sort_by("id")
    assert scored.column("id").to_pylist() == list(range(ROWS))
    np.testing.assert_array_equal(scored.column("variable").to_numpy(), predictions(v1, matrix))

    batch = wait_for(
        "status.batch of the run",
        lambda: (
            (b := status_of(kubectl, namespace).get("batch") or {}).get("lastResult") == "Succeeded" and b
        ),
        timeout=60,
    )
    assert (batch["lastJob"], batch["rowsScored"], batch["versionUsed"]) == (
        job,
        ROWS,
        stable["stableVersion"],
    )
    assert batch["failures"] >= 1
    assert canary_in_progress(kubectl, namespace, v2), status_of(kubectl, namespace)  # all along
    # The operator's metrics say the same. A run the minute boundary started before the CronJob was
    # suspended may have finished too, so the counters are checked against each other.
    samples = operator_samples(namespace)
    assert samples[("ferryman_batch_last_run_result", "Succeeded")] == 1.0, samples
    assert samples[("ferryman_batch_last_run_result", "Failed")] == 0.0
    assert samples[("ferryman_batch_last_run_duration_seconds", "")] == batch["durationSeconds"]
    succeeded = samples[("ferryman_batch_runs_total", "Succeeded")]
    assert succeeded >= 1 and samples[("ferryman_batch_rows_scored_total", "")] == ROWS * succeeded
    assert samples[("ferryman_batch_runs_total", "Failed")] == 0.0


def test_a_cronjob_the_api_server_refuses_is_reported_in_status_batch(
    kubectl: Kubectl, namespace: str, operator: KopfRunner, tmp_path: Path
) -> None:
    """The schema takes any resource name; "CPU" makes the CronJob a 422. It failed the timer every 10 s
    with no status, no Event and no condition; serving is not harmed."""
    model = make_gradient_boosting_model(tmp_path / "v1", trees=5).model_path
    md = batch_deployment(namespace, model.as_uri(), tmp_path / "data", tmp_path / "scores")
    del md["spec"]["strategy"]  # no canary: serving stays plain
    md["spec"]["batch"]["resources"] = {"requests": {"CPU": "1"}}
    kubectl.apply([md])
    wait_until_serving(kubectl, namespace)
    batch = wait_for(
        "the refusal in status.batch",
        lambda: (
            (b := status_of(kubectl, namespace).get("batch") or {})
            .get("message", "")
            .startswith("spec.batch: the CronJob built from it was refused")
            and b
        ),
        timeout=60,
    )
    assert "CPU" in batch["message"]
    assert status_of(kubectl, namespace)["phase"] == "Succeeded", "serving goes on"
