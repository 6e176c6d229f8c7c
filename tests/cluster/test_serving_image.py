"""A ModelDeployment's serving pod runs the real serving image in the dev cluster, when it was built.

scripts/build-images tags the build with the default image name of a ModelDeployment, so the pod runner
finds it in local podman storage and runs it (docs/local-cluster.md): entrypoint, user, read-only root
and the /tmp emptyDir as the operator's pod spec says. scripts/test builds the images before this tier.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import httpx
import pytest
from kopf.testing import KopfRunner

from ferryman.api import DEFAULT_SERVING_IMAGE
from ferryman.devcluster import podman
from ferryman.devcluster.runner.image_run import container_name
from ferryman_testing.kube_cli import Kubectl
from ferryman_testing.manifests import model_deployment
from ferryman_testing.model_deployments import wait_until_serving
from ferryman_testing.polling import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]


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
    if not podman.image_exists(DEFAULT_SERVING_IMAGE):
        pytest.fail(f"{DEFAULT_SERVING_IMAGE} is not in local podman storage: run scripts/build-images")
    kubectl.apply([model_deployment("fraud", namespace, model_uri)])
    wait_until_serving(kubectl, namespace)
    (pod,) = kubectl.get_json("get", "pods", "-n", namespace, "-o", "json")["items"]
    (spec,) = pod["spec"]["containers"]
    assert spec["image"] == DEFAULT_SERVING_IMAGE

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
