"""The `podman run` line the pod runner makes of a pod whose image is in local storage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ferryman.devcluster.runner.image_run import container_name, empty_dirs, image_run
from ferryman.devcluster.runner.podspec import PodSpecError

pytestmark = pytest.mark.unit

LABEL = ("dev.ferryman.devcluster", "ferryman")


def serving_pod(**container: Any) -> dict[str, Any]:
    """Shaped like the operator's serving pod: non-root, read-only root, /tmp from an emptyDir."""
    spec = {
        "name": "serving",
        "image": "localhost/ferryman-serving:dev",
        "command": ["python3", "-m", "ferryman_serving"],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        **container,
    }
    return {
        "metadata": {"name": "fraud-abc", "namespace": "ns", "uid": "0123456789abcdef-uid"},
        "spec": {
            "containers": [spec],
            "securityContext": {"runAsNonRoot": True},
            "volumes": [{"name": "tmp", "emptyDir": {}}],
        },
    }


def run_line(pod: dict[str, Any], image_user: str = "65532:65532", **env: str) -> list[str]:
    return image_run(
        pod,
        pod["spec"]["containers"][0],
        env,
        netns_path="/var/run/netns/fm-ferryman-n0",
        cluster_label=LABEL,
        volume_dirs={"tmp": Path("/state/pods/p/volumes/tmp")},
        image_user=image_user,
        host_files=["/models/v1/model.onnx"],
    ).argv


def flag_values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, part in enumerate(argv[:-1]) if part == flag]


def test_serving_pod_runs_in_the_node_namespace_as_the_pod_says() -> None:
    argv = run_line(serving_pod(), FERRYMAN_MODEL_URI="file:///models/v1/model.onnx")
    assert argv[:3] == ["podman", "run", "--rm"]
    assert flag_values(argv, "--network") == ["ns:/var/run/netns/fm-ferryman-n0"]
    assert flag_values(argv, "--name") == [
        container_name(serving_pod(), serving_pod()["spec"]["containers"][0])
    ]
    assert "--read-only" in argv and "--read-only-tmpfs=false" in argv
    assert flag_values(argv, "--cap-drop") == ["ALL"]
    assert flag_values(argv, "--security-opt") == ["no-new-privileges"]
    assert flag_values(argv, "--label") == ["dev.ferryman.devcluster=ferryman"]
    assert flag_values(argv, "--volume") == [
        "/state/pods/p/volumes/tmp:/tmp",
        "/models/v1/model.onnx:/models/v1/model.onnx:ro",
    ]
    assert flag_values(argv, "--pull") == ["never"]
    assert json.loads(flag_values(argv, "--entrypoint")[0]) == ["python3", "-m", "ferryman_serving"]
    assert argv[-1] == "localhost/ferryman-serving:dev"


def test_env_is_passed_by_name_so_no_value_is_on_the_command_line() -> None:
    argv = run_line(serving_pod(), MLFLOW_TRACKING_TOKEN="s3cret", FERRYMAN_MODEL_NAME="fraud")
    assert flag_values(argv, "--env") == ["MLFLOW_TRACKING_TOKEN", "FERRYMAN_MODEL_NAME"]
    assert not any("s3cret" in part for part in argv)


def test_run_as_user_and_group_win_over_the_image_user() -> None:
    pod = serving_pod()
    pod["spec"]["securityContext"].update(runAsUser=1000, runAsGroup=2000)
    assert flag_values(run_line(pod), "--user") == ["1000:2000"]
    pod["spec"]["containers"][0]["securityContext"]["runAsUser"] = 1001
    assert flag_values(run_line(pod), "--user") == ["1001:2000"]


def test_without_run_as_user_the_image_user_applies() -> None:
    assert flag_values(run_line(serving_pod()), "--user") == []


@pytest.mark.parametrize("image_user", ["", "root", "0", "0:0", "nonroot"])
def test_run_as_non_root_refuses_an_image_that_would_run_as_root_or_an_unknown_uid(image_user: str) -> None:
    with pytest.raises(PodSpecError, match="runAsNonRoot"):
        run_line(serving_pod(), image_user=image_user)


def test_args_only_keep_the_image_entrypoint_and_expand_variables() -> None:
    pod = serving_pod(args=["--port", "$(PORT)", "$$(PORT)"])
    del pod["spec"]["containers"][0]["command"]
    argv = run_line(pod, PORT="9000")
    assert "--entrypoint" not in argv
    assert argv[-4:] == ["localhost/ferryman-serving:dev", "--port", "9000", "$(PORT)"]


def test_volume_kinds_the_dev_cluster_cannot_make_are_left_out() -> None:
    pod = serving_pod(volumeMounts=[{"name": "settings", "mountPath": "/etc/settings"}])
    pod["spec"]["volumes"] = [{"name": "settings", "configMap": {"name": "settings"}}]
    assert flag_values(run_line(pod), "--volume") == ["/models/v1/model.onnx:/models/v1/model.onnx:ro"]


def test_the_service_account_volume_is_mounted_read_only_where_client_libraries_look() -> None:
    """The worker writes the projected volume's files (token, ca.crt, namespace) into its directory."""
    mount = {"name": "kube-api-access-x", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
    pod = serving_pod(volumeMounts=[mount])  # no readOnly: a projected volume is read-only regardless
    pod["spec"]["volumes"] = [{"name": "kube-api-access-x", "projected": {"sources": []}}]
    argv = image_run(
        pod,
        pod["spec"]["containers"][0],
        {"KUBERNETES_SERVICE_HOST": "198.19.1.1", "KUBERNETES_SERVICE_PORT": "32764"},
        netns_path="/var/run/netns/fm-ferryman-n0",
        cluster_label=LABEL,
        volume_dirs={"kube-api-access-x": Path("/state/pods/p/volumes/kube-api-access-x")},
        image_user="65532",
    ).argv
    assert flag_values(argv, "--volume") == [
        "/state/pods/p/volumes/kube-api-access-x:/var/run/secrets/kubernetes.io/serviceaccount:ro"
    ]
    assert {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"} <= set(flag_values(argv, "--env"))
    assert not any("198.19.1.1" in part for part in argv)  # values travel in podman's environment


def test_host_path_and_read_only_mounts() -> None:
    pod = serving_pod(volumeMounts=[{"name": "data", "mountPath": "/data", "readOnly": True}])
    pod["spec"]["volumes"] = [{"name": "data", "hostPath": {"path": "/srv/data"}}]
    assert flag_values(run_line(pod), "--volume")[0] == "/srv/data:/data:ro"
    assert empty_dirs(pod) == []


def test_names_differ_per_pod_incarnation_and_fit_podman() -> None:
    first, second = serving_pod(), serving_pod()
    second["metadata"]["uid"] = "fedcba9876543210-uid"
    spec = first["spec"]["containers"][0]
    assert container_name(first, spec) != container_name(second, spec)
    assert len(container_name(first, {"name": "x" * 80})) <= 63
