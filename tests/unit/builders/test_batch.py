"""spec.batch becomes an owned CronJob of Indexed Jobs that score with stable's pinned version."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ferryman.api import ModelDeployment
from ferryman.api.serving import DEFAULT_BATCH_IMAGE, EnvVar
from ferryman.builders.batch import build_batch_cronjob, cronjob_name
from ferryman.builders.batch_status import batch_status, latest_job
from ferryman.config import Settings

pytestmark = pytest.mark.unit

BATCH = {
    "schedule": "0 2 * * *",
    "input": {"uri": "file:///data/customers"},
    "output": {"uri": "file:///data/scores"},
    "parallelism": 4,
    "passthrough": ["id"],
}


def model_deployment(
    batch: dict[str, Any] | None = None, replicas: int = 0, name: str = "churn"
) -> ModelDeployment:
    return ModelDeployment.model_validate(
        {
            "apiVersion": "ferryman.dev/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": name, "namespace": "risk", "uid": "uid-1", "generation": 1},
            "spec": {
                "model": {"uri": "models:/churn@production"},
                "serving": {"replicas": replicas, "image": "registry.example/serving:1"},
                "batch": batch or BATCH,
            },
        }
    )


def job_spec(cronjob: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]
    return spec


def args_of(cronjob: dict[str, Any]) -> list[str]:
    args: list[str] = job_spec(cronjob)["template"]["spec"]["containers"][0]["args"]
    return args


def test_runs_are_indexed_jobs_with_one_shard_per_index_retried_alone() -> None:
    """parallelism 4: completions 4, Indexed, a per-index retry budget, and --shards 4."""
    cronjob = build_batch_cronjob(model_deployment(), "models:/churn/6", "6", Settings())
    spec = job_spec(cronjob)
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 4, 4)
    assert spec["backoffLimitPerIndex"] == 2 and "backoffLimit" not in spec
    assert cronjob["spec"]["schedule"] == "0 2 * * *" and cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert args_of(cronjob)[args_of(cronjob).index("--shards") + 1] == "4"
    assert cronjob["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    # The batch image (the serving code plus pyarrow), not spec.serving.image: that one has no pyarrow.
    assert spec["template"]["spec"]["containers"][0]["image"] == DEFAULT_BATCH_IMAGE


def test_batch_scores_with_stables_pinned_version_not_the_alias_of_the_spec() -> None:
    """The spec follows models:/churn@production; the runs score models:/churn/6, stable's pin."""
    args = args_of(build_batch_cronjob(model_deployment(), "models:/churn/6", "6", Settings()))
    assert args[args.index("--model") + 1] == "models:/churn/6"
    assert args[args.index("--model-version") + 1] == "6"


def test_an_unpinned_stable_uri_is_refused() -> None:
    with pytest.raises(ValueError, match="alias; batch scores a pinned"):
        build_batch_cronjob(model_deployment(), "models:/churn@production", "production", Settings())
    with pytest.raises(ValueError, match="waiting for stable"):
        build_batch_cronjob(model_deployment(), None, "", Settings())


def test_batch_pods_meet_the_restricted_pod_security_standard() -> None:
    pod = job_spec(build_batch_cronjob(model_deployment(), "models:/churn/6", "6", Settings()))["template"][
        "spec"
    ]
    container = pod["containers"][0]
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert container["command"] == ["python3", "-m", "ferryman_serving.batch", "score"]


def test_spark_engine_runs_one_pod_with_local_cores_in_its_own_image() -> None:
    batch = {**BATCH, "engine": "spark", "image": "registry.example/spark-batch:1", "parallelism": 3}
    cronjob = build_batch_cronjob(model_deployment(batch), "models:/churn/6", "6", Settings())
    spec = job_spec(cronjob)
    assert spec["completions"] == 1 and "completionMode" not in spec
    assert spec["template"]["spec"]["containers"][0]["image"] == "registry.example/spark-batch:1"
    assert args_of(cronjob)[-4:] == ["--engine", "spark", "--spark-master", "local[3]"]


def test_spark_without_an_image_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError, match=r"spec.batch.image"):
        model_deployment({**BATCH, "engine": "spark"})


def test_a_bad_schedule_names_spec_batch_schedule() -> None:
    with pytest.raises(ValidationError, match=r"spec.batch.schedule"):
        model_deployment({**BATCH, "schedule": "61 * * * *"})


@pytest.mark.parametrize(
    ("schedule", "says"),
    [
        ("0 0 L * *", "L, W and # are not Kubernetes CronJob syntax"),
        ("0 0 * * MON#2", "L, W and # are not Kubernetes CronJob syntax"),
        ("0 0 LW * *", "L, W and # are not Kubernetes CronJob syntax"),
        ("0 0 * * 7", "write Sunday as 0"),
        ("0 0 * * 5-7", "write Sunday as 0"),
        # a CronJob runs Mon, Wed, Fri; cron's reading (the TrainingJob timer's) added Sunday
        ("0 0 * * 1/2", "a day-of-week step needs a range"),
        ("0 0 * * 0,2/5", "a day-of-week step needs a range"),
    ],
)
def test_a_schedule_only_cron_reads_is_refused_before_the_cronjob_is(schedule: str, says: str) -> None:
    """cronsim reads these; the API server's CronJob parser refuses them: the batch never ran."""
    with pytest.raises(ValidationError, match=says):
        model_deployment({**BATCH, "schedule": schedule})


def test_steps_and_ranges_of_a_cronjob_are_kept() -> None:
    model_deployment({**BATCH, "schedule": "*/7 1-5 * * 1-5"})
    model_deployment({**BATCH, "schedule": "0 0 * * 1-6/2"})
    model_deployment({**BATCH, "schedule": "0 0 1/2 * */2"})


def test_cronjob_names_fit_kubernetes_limit() -> None:
    """Job names add 11 characters to the CronJob's; 52 is the most the API server takes."""
    name = "a" * 55
    assert len(cronjob_name(name)) == 52 and cronjob_name(name) != cronjob_name("a" * 54)
    assert cronjob_name("churn") == "churn-batch"


def test_status_reports_the_latest_run() -> None:
    """The newest Job decides: its result, duration, failed shard pods and rows from its manifest."""
    older = {"metadata": {"name": "churn-batch-1", "creationTimestamp": "2026-01-01T02:00:00Z"}}
    newer = {
        "metadata": {"name": "churn-batch-2", "creationTimestamp": "2026-01-02T02:00:00Z"},
        "status": {
            "startTime": "2026-01-02T02:00:01Z", "completionTime": "2026-01-02T02:01:31Z", "failed": 1,
            "conditions": [{"type": "Complete", "status": "True"}],
        },
    }  # fmt: skip
    job = latest_job([newer, older])
    status = batch_status("churn-batch", "6", "models:/churn/6", job, 1000)
    assert (status.last_job, status.last_result, status.duration_seconds) == (
        "churn-batch-2",
        "Succeeded",
        90.0,
    )
    assert (status.failures, status.rows_scored, status.version_used) == (1, 1000, "6")


def test_a_failed_run_has_a_duration_too() -> None:
    """Kubernetes sets completionTime only when a Job succeeds: a failed run ends at its Failed condition.
    Before, it had no duration and the gauge kept the previous run's."""
    failed = {
        "metadata": {"name": "churn-batch-3", "creationTimestamp": "2026-01-03T02:00:00Z"},
        "status": {
            "startTime": "2026-01-03T02:00:01Z", "failed": 3,
            "conditions": [
                {"type": "FailureTarget", "status": "True", "lastTransitionTime": "2026-01-03T02:00:30Z"},
                {"type": "Failed", "status": "True", "lastTransitionTime": "2026-01-03T02:00:41Z"},
            ],
        },
    }  # fmt: skip
    status = batch_status("churn-batch", "6", "models:/churn/6", failed, None)
    assert (status.last_result, status.duration_seconds) == ("Failed", 40.0)


@pytest.mark.parametrize(
    ("location", "uri", "field"),
    [
        ("input", "ftp://host/customers", "spec.batch.input.uri"),
        ("output", "https://host/scores/", "spec.batch.output.uri"),
    ],
)
def test_a_location_batch_cannot_use_is_refused_naming_the_field(location: str, uri: str, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        model_deployment({**BATCH, location: {"uri": uri}})


def test_s3_and_https_locations_are_accepted() -> None:
    md = model_deployment(
        {**BATCH, "input": {"uri": "https://data.example/c.parquet"}, "output": {"uri": "s3://b/o"}}
    )
    assert md.spec.batch is not None and md.spec.batch.output.uri == "s3://b/o"


def test_batch_pods_get_the_serving_pods_extra_environment() -> None:
    """FERRYMAN_S3_* (from a Secret) reach the batch pods as they reach the serving pods: the same model
    store, and the settings of s3:// input and output."""
    md = model_deployment()
    secret = {"secretKeyRef": {"name": "s3", "key": "secret"}}
    md = md.model_copy(
        update={"spec": md.spec.model_copy(update={"serving": md.spec.serving.model_copy(update={"env": [
            EnvVar(name="FERRYMAN_S3_ENDPOINT_URL", value="http://minio:9000"),
            EnvVar.model_validate({"name": "FERRYMAN_S3_SECRET_ACCESS_KEY", "valueFrom": secret}),
        ]})})}
    )  # fmt: skip
    env = job_spec(build_batch_cronjob(md, "models:/churn/6", "6", Settings()))["template"]["spec"][
        "containers"
    ][0]["env"]
    assert {"name": "FERRYMAN_S3_ENDPOINT_URL", "value": "http://minio:9000"} in env
    assert {"name": "FERRYMAN_S3_SECRET_ACCESS_KEY", "valueFrom": secret} in env
