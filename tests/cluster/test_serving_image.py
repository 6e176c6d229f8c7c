"""A ModelDeployment's serving pod runs the real serving image in the dev cluster, when it names the build.

A ModelDeployment with spec.serving.image localhost/ferryman-serving:dev: the pod runner finds that image in
local podman storage and runs it (docs/local-cluster.md): entrypoint, user, read-only root and the /tmp
emptyDir as the operator's pod spec says. scripts/test builds the images before this tier.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from typing import Any

import httpx
import pytest
from kopf.testing import KopfRunner

from ferryman.devcluster import podman
from ferryman.devcluster.cluster import runner_pid
from ferryman.devcluster.runner.image_run import container_name
from ferryman.devcluster.settings import DevClusterSettings
from ferryman_testing.cluster import start_dev_cluster
from ferryman_testing.kube_cli import Kubectl
from ferryman_testing.manifests import model_deployment
from ferryman_testing.model_deployments import wait_until_serving
from ferryman_testing.polling import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

SERVING_IMAGE = "localhost/ferryman-serving:dev"  # what scripts/build-images builds


def podman_json(*args: str) -> Any:
    result = subprocess.run(
        podman.command(*args), env=podman.env(), capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(result.stdout)


def containers_of_cluster(cluster: Any) -> list[str]:
    listed = podman_json("ps", "--all", "--format", "json", "--filter", f"label={podman.CLUSTER_LABEL}")
    return [name for entry in listed for name in entry["Names"]]


def test_the_serving_pod_runs_the_built_image_as_its_spec_says(
    cluster: Any, kubectl: Kubectl, namespace: str, model_uri: str, operator: KopfRunner
) -> None:
    if not podman.image_exists(SERVING_IMAGE):
        pytest.fail(f"{SERVING_IMAGE} is not in local podman storage: run scripts/build-images")
    kubectl.apply([model_deployment("fraud", namespace, model_uri, serving={"image": SERVING_IMAGE})])
    wait_until_serving(kubectl, namespace)
    (pod,) = kubectl.get_json("pods", "-n", namespace)["items"]
    (spec,) = pod["spec"]["containers"]
    assert spec["image"] == SERVING_IMAGE

    (container,) = podman_json("inspect", container_name(pod, spec))
    assert container["State"]["Running"]
    assert container["Config"]["User"] == "65532:65532"
    assert container["HostConfig"]["ReadonlyRootfs"] is True
    assert container["Path"] == "python3" and container["Args"] == ["-m", "ferryman_serving"]
    top = subprocess.run(
        podman.command("top", container_name(pod, spec), "huser"),
        env=podman.env(), capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert set(top.stdout.split()[1:]) == {"65532"}, top.stdout  # the host's view of every process's uid

    url = f"http://{pod['status']['podIP']}:8080"
    assert httpx.get(f"{url}/v2/models/fraud/ready", timeout=5).json() == {"name": "fraud", "ready": True}

    kubectl.run("delete", "modeldeployment", "fraud", "-n", namespace, "--wait=true", "--timeout=60s")
    wait_for(
        "the pod's container to be removed",
        lambda: container_name(pod, spec) not in containers_of_cluster(cluster),
        timeout=60,
    )


def serving_pod(model_uri: str) -> dict[str, Any]:
    """The serving image in a bare Pod, as the operator would run it (its own user, read-only root)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "served"},
        "spec": {
            "terminationGracePeriodSeconds": 5,
            "securityContext": {"runAsNonRoot": True},
            "containers": [
                {
                    "name": "serving",
                    "image": SERVING_IMAGE,
                    "env": [
                        {"name": "FERRYMAN_MODEL_URI", "value": model_uri},
                        {"name": "FERRYMAN_MODEL_NAME", "value": "fraud"},
                        # Its own address only: other pods of the node's namespace serve on :8080 too.
                        {"name": "FERRYMAN_HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    ],
                    "readinessProbe": {
                        "httpGet": {"path": "/v2/health/ready", "port": 8080},
                        "periodSeconds": 1,
                    },
                    "securityContext": {"readOnlyRootFilesystem": True},
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                }
            ],
            "volumes": [{"name": "tmp", "emptyDir": {}}],
        },
    }


def test_a_killed_runners_container_is_replaced_by_the_next_runner(
    cluster: Any, kubectl: Kubectl, namespace: str, model_uri: str
) -> None:
    """SIGKILL of the runner leaves its container running; the next runner removes it and starts the pod
    again (one container, not two), as it does with host processes."""
    if not podman.image_exists(SERVING_IMAGE):
        pytest.fail(f"{SERVING_IMAGE} is not in local podman storage: run scripts/build-images")
    kubectl.run("apply", "-n", namespace, "-f", "-", stdin=json.dumps(serving_pod(model_uri)))
    kubectl.run("wait", "-n", namespace, "--for=condition=Ready", "pod/served", "--timeout=60s")
    pod = kubectl.get_json("pod", "served", "-n", namespace)
    name = container_name(pod, pod["spec"]["containers"][0])
    (before,) = podman_json("inspect", name)

    settings = DevClusterSettings()
    pid = runner_pid(settings)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    start_dev_cluster()  # `up` finds the runner gone and starts a new one

    def replaced() -> bool:
        (now,) = podman_json("inspect", name)
        return bool(now["Id"] != before["Id"] and now["State"]["Running"])

    wait_for("a new container for the pod", replaced, timeout=60, tolerate=(subprocess.CalledProcessError,))
    kubectl.run("wait", "-n", namespace, "--for=condition=Ready", "pod/served", "--timeout=60s")
    assert [n for n in containers_of_cluster(cluster) if n == name] == [name]
    kubectl.run("delete", "pod", "served", "-n", namespace, "--wait=true", "--timeout=60s")
    assert name not in containers_of_cluster(cluster)
