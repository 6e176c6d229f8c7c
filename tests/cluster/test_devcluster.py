"""The local dev cluster behaves like a real one for the things Ferryman relies on.

Real kube-apiserver, etcd, controller-manager, scheduler and kwok nodes; pods are real local processes
in their node's network namespace, started by the pod runner, reachable at their pod IP.
"""

from __future__ import annotations

import http.client
import http.server
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from ferryman_testing.cluster import DevCluster
from ferryman_testing.polling import wait_for

pytestmark = pytest.mark.cluster

HTTP_PORT = 8080


def apply(cluster: DevCluster, namespace: str, *manifests: dict[str, Any]) -> None:
    cluster.kubectl.run("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(list(manifests)))


def web_container(probe_port: int = HTTP_PORT, marker: str = "") -> dict[str, Any]:
    """python -m http.server bound to the pod IP (downward API), with a real readiness probe."""
    args = ["-m", "http.server", str(HTTP_PORT), "--bind", "$(POD_IP)"]
    if marker:  # a unique argument to find the process by
        args += ["--directory", f"/tmp/{marker}"]
    return {
        "name": "web",
        "image": "python",
        "command": ["python"],
        "args": args,
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "ports": [{"name": "http", "containerPort": HTTP_PORT}],
        "readinessProbe": {"httpGet": {"path": "/", "port": probe_port}, "periodSeconds": 1},
    }


def deployment(name: str, container: dict[str, Any]) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"terminationGracePeriodSeconds": 5, "containers": [container]},
            },
        },
    }


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": "http"}]},
    }


def pods_of(cluster: DevCluster, namespace: str, app: str) -> list[dict[str, Any]]:
    return list(cluster.kubectl.get_json("pods", "-n", namespace, "-l", f"app={app}")["items"])


def condition(pod: dict[str, Any], kind: str) -> str | None:
    for cond in pod.get("status", {}).get("conditions", []):
        if cond["type"] == kind:
            return str(cond["status"])
    return None


def endpoints(cluster: DevCluster, namespace: str, service_name: str) -> list[dict[str, Any]]:
    slices = cluster.kubectl.get_json(
        "endpointslices", "-n", namespace, "-l", f"kubernetes.io/service-name={service_name}"
    )
    return [ep for s in slices["items"] for ep in s.get("endpoints") or []]


def http_get(ip: str, port: int = HTTP_PORT) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection(ip, port, timeout=5)
    conn.request("GET", "/")
    return conn.getresponse()


def test_at_least_two_nodes_are_ready(cluster: DevCluster) -> None:
    """The cluster has two or more kwok Nodes, Ready, each with its own pod CIDR."""
    nodes = cluster.kubectl.get_json("nodes")["items"]
    ready = [n for n in nodes if condition(n, "Ready") == "True"]
    assert len(ready) >= 2
    assert len({n["spec"]["podCIDR"] for n in ready}) == len(ready)


def test_service_endpoints_list_the_pod_ip_and_http_reaches_the_process(
    cluster: DevCluster, namespace: str
) -> None:
    """A ready pod's IP is in its Service's EndpointSlice, and HTTP from the root namespace reaches it."""
    apply(cluster, namespace, deployment("web", web_container()), service("web"))

    pod = wait_for(
        "the web pod to be Ready",
        lambda: next(
            (p for p in pods_of(cluster, namespace, "web") if condition(p, "Ready") == "True"), None
        ),
        timeout=60,
    )
    pod_ip = pod["status"]["podIP"]
    ready_ips = wait_for(
        "a ready endpoint in the Service's EndpointSlice",
        lambda: [
            ep["addresses"][0] for ep in endpoints(cluster, namespace, "web") if ep["conditions"]["ready"]
        ],
        timeout=30,
    )
    assert ready_ips == [pod_ip]
    response = http_get(pod_ip)
    assert response.status == 200
    assert response.getheader("Server", "").startswith("SimpleHTTP")


def test_a_pod_whose_probe_fails_stays_unready(cluster: DevCluster, namespace: str) -> None:
    """Readiness follows the real probe: a probe of a closed port keeps the pod out of ready endpoints."""
    apply(
        cluster, namespace, deployment("closed", web_container(probe_port=HTTP_PORT + 1)), service("closed")
    )

    pod = wait_for(
        "the pod to be Running",
        lambda: next(
            (p for p in pods_of(cluster, namespace, "closed") if p["status"].get("phase") == "Running"), None
        ),
        timeout=60,
    )
    pod_ip = pod["status"]["podIP"]
    # the process serves (once Python has started); only the probe fails
    assert (
        wait_for(
            "the process to answer",
            lambda: http_get(pod_ip).status,
            timeout=30,
            tolerate=(OSError, http.client.HTTPException),
        )
        == 200
    )
    wait_for("the endpoint to be published", lambda: endpoints(cluster, namespace, "closed"), timeout=30)
    for _ in range(5):  # several probe periods
        pod = pods_of(cluster, namespace, "closed")[0]
        assert condition(pod, "Ready") == "False"
        assert not any(ep["conditions"]["ready"] for ep in endpoints(cluster, namespace, "closed"))
        subprocess.run(["sleep", "1"], check=True)


def test_deleting_a_pod_stops_its_process(cluster: DevCluster, namespace: str) -> None:
    """Pod deletion sends the process SIGTERM (then SIGKILL after the grace period) and the pod goes away."""
    marker = f"fm-{uuid.uuid4().hex}"
    subprocess.run(["mkdir", "-p", f"/tmp/{marker}"], check=True)
    apply(cluster, namespace, deployment("doomed", web_container(marker=marker)))
    pod = wait_for(
        "the pod to be Ready",
        lambda: next(
            (p for p in pods_of(cluster, namespace, "doomed") if condition(p, "Ready") == "True"), None
        ),
        timeout=60,
    )
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True, check=False).returncode == 0

    cluster.kubectl.run(
        "delete", "deployment", "doomed", "-n", namespace, "--cascade=foreground", "--timeout=60s"
    )
    wait_for(
        "the process to exit",
        lambda: subprocess.run(["pgrep", "-f", marker], capture_output=True, check=False).returncode == 1,
        timeout=30,
    )
    wait_for(
        "the pod object to go away",
        lambda: (
            not cluster.kubectl.get_json(
                "pods", "-n", namespace, "--field-selector", f"metadata.name={pod['metadata']['name']}"
            )["items"]
        ),
        timeout=30,
    )


def job(name: str, code: str) -> dict[str, Any]:
    container = {"name": "main", "image": "python", "command": ["python", "-c", code]}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {"spec": {"restartPolicy": "Never", "containers": [container]}},
        },
    }


def job_condition(cluster: DevCluster, namespace: str, name: str) -> str | None:
    status = cluster.kubectl.get_json("job", name, "-n", namespace).get("status", {})
    for cond in status.get("conditions", []):
        if cond["type"] in ("Complete", "Failed") and cond["status"] == "True":
            return str(cond["type"])
    return None


def test_job_pods_finish_from_the_exit_code(cluster: DevCluster, namespace: str) -> None:
    """A Job whose process exits 0 completes; one that exits 3 fails (pod phase Succeeded / Failed)."""
    apply(cluster, namespace, job("ok", "print('done')"), job("bad", "raise SystemExit(3)"))
    assert (
        wait_for("job ok to finish", lambda: job_condition(cluster, namespace, "ok"), timeout=60)
        == "Complete"
    )
    assert (
        wait_for("job bad to finish", lambda: job_condition(cluster, namespace, "bad"), timeout=60)
        == "Failed"
    )
    phases = {
        p["metadata"]["labels"]["job-name"]: p["status"]["phase"]
        for p in cluster.kubectl.get_json("pods", "-n", namespace)["items"]
    }
    assert phases == {"ok": "Succeeded", "bad": "Failed"}


@pytest.fixture
def host_server(cluster: DevCluster) -> Iterator[int]:
    """An HTTP server in the root namespace on the host address, as MLflow would be for pods."""
    server = http.server.ThreadingHTTPServer((cluster.host_address, 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_pods_reach_servers_on_the_host_address(
    cluster: DevCluster, namespace: str, host_server: int
) -> None:
    """A pod's process reaches a server that the root namespace runs on the host address."""
    url = f"http://{cluster.host_address}:{host_server}/"
    code = f"import urllib.request; urllib.request.urlopen({url!r}, timeout=5)"
    apply(cluster, namespace, job("fetch", code))
    assert wait_for("job fetch", lambda: job_condition(cluster, namespace, "fetch"), timeout=60) == "Complete"


def bare_pod(name: str, container: dict[str, Any], grace: int = 5) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"terminationGracePeriodSeconds": grace, "containers": [container]},
    }


def container_status(cluster: DevCluster, namespace: str, name: str) -> dict[str, Any]:
    statuses = (
        cluster.kubectl.get_json("pod", name, "-n", namespace).get("status", {}).get("containerStatuses", [])
    )
    return dict(statuses[0]) if statuses else {}


def test_a_crashing_container_is_restarted_with_back_off(cluster: DevCluster, namespace: str) -> None:
    """restartPolicy Always: an exit is recorded in lastState and the process is started again, not busily."""
    crash = {"name": "main", "image": "python", "command": ["python", "-c", "raise SystemExit(7)"]}
    apply(cluster, namespace, bare_pod("crash", crash))
    status = wait_for(
        "two restarts",
        lambda: (s := container_status(cluster, namespace, "crash")).get("restartCount", 0) >= 2 and s,
        timeout=60,
    )
    assert status["lastState"]["terminated"]["exitCode"] == 7
    assert status["restartCount"] < 6  # back-off: 1 s, 2 s, 4 s ... not a busy loop


def test_a_command_that_cannot_start_is_reported_in_the_status(cluster: DevCluster, namespace: str) -> None:
    """A missing executable leaves the pod unready with a message that names the executable."""
    missing = {"name": "main", "image": "python", "command": ["no-such-binary-fm"]}
    apply(cluster, namespace, bare_pod("missing", missing))
    waiting = wait_for(
        "a waiting message",
        lambda: (
            container_status(cluster, namespace, "missing").get("state", {}).get("waiting", {}).get("message")
        ),
        timeout=30,
    )
    assert "no-such-binary-fm" in waiting
    assert "not found" in waiting


def test_a_process_ignoring_sigterm_is_killed_after_the_grace_period(
    cluster: DevCluster, namespace: str
) -> None:
    """Deletion: SIGTERM, then SIGKILL once terminationGracePeriodSeconds have passed."""
    marker = f"fm-{uuid.uuid4().hex}"
    code = f"import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)  # {marker}"
    stubborn = {"name": "main", "image": "python", "command": ["python", "-c", code]}
    apply(cluster, namespace, bare_pod("stubborn", stubborn, grace=2))
    wait_for(
        "the pod to run",
        lambda: (
            cluster.kubectl.get_json("pod", "stubborn", "-n", namespace)["status"].get("phase") == "Running"
        ),
        timeout=30,
    )
    started = time.monotonic()
    cluster.kubectl.run("delete", "pod", "stubborn", "-n", namespace, "--timeout=60s")
    elapsed = time.monotonic() - started
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True, check=False).returncode == 1
    assert 1.5 <= elapsed < 20


def test_a_simulated_pod_is_ready_without_a_process(cluster: DevCluster, namespace: str) -> None:
    """Pods annotated devcluster.ferryman.dev/simulate=true become Ready with an IP but run nothing."""
    marker = f"fm-{uuid.uuid4().hex}"
    pod = bare_pod("ghost", {"name": "main", "image": "x", "command": ["python", "-c", f"# {marker}"]})
    pod["metadata"]["annotations"] = {"devcluster.ferryman.dev/simulate": "true"}
    apply(cluster, namespace, pod)
    ready = wait_for(
        "the simulated pod to be Ready",
        lambda: condition(cluster.kubectl.get_json("pod", "ghost", "-n", namespace), "Ready") == "True",
        timeout=30,
    )
    assert ready
    assert cluster.kubectl.get_json("pod", "ghost", "-n", namespace)["status"]["podIP"].startswith("198.18.")
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True, check=False).returncode == 1


def test_a_failing_liveness_probe_restarts_the_container(cluster: DevCluster, namespace: str) -> None:
    """livenessProbe: after failureThreshold failures the process is stopped and started again."""
    container = web_container()
    container["livenessProbe"] = {
        "httpGet": {"path": "/", "port": HTTP_PORT + 1},
        "periodSeconds": 1,
        "failureThreshold": 2,
    }
    apply(cluster, namespace, bare_pod("unhealthy", container, grace=2))
    status = wait_for(
        "a restart after failed liveness probes",
        lambda: (s := container_status(cluster, namespace, "unhealthy")).get("restartCount", 0) >= 1 and s,
        timeout=30,
    )
    assert status["lastState"]["terminated"]["finishedAt"]


def test_a_startup_probe_gates_readiness_and_restarts_when_it_never_passes(
    cluster: DevCluster, namespace: str
) -> None:
    """startupProbe: readiness waits for it; after failureThreshold failures the container restarts."""
    container = web_container()  # its readiness probe would pass
    container["startupProbe"] = {
        "httpGet": {"path": "/", "port": HTTP_PORT + 1},
        "periodSeconds": 1,
        "failureThreshold": 3,
    }
    apply(cluster, namespace, bare_pod("slow", container, grace=2))
    status = wait_for(
        "a restart after the startup probe gave up",
        lambda: (s := container_status(cluster, namespace, "slow")).get("restartCount", 0) >= 1 and s,
        timeout=30,
    )
    assert status["ready"] is False
    assert condition(cluster.kubectl.get_json("pod", "slow", "-n", namespace), "Ready") == "False"


def test_a_passing_startup_probe_lets_readiness_take_over(cluster: DevCluster, namespace: str) -> None:
    """Once the startup probe passes, the readiness probe decides and the pod becomes Ready."""
    container = web_container()
    container["startupProbe"] = {"httpGet": {"path": "/", "port": HTTP_PORT}, "periodSeconds": 1}
    apply(cluster, namespace, bare_pod("starts", container))
    wait_for(
        "the pod to be Ready",
        lambda: condition(cluster.kubectl.get_json("pod", "starts", "-n", namespace), "Ready") == "True",
        timeout=30,
    )
    assert container_status(cluster, namespace, "starts")["started"] is True
