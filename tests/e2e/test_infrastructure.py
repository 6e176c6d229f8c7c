"""The e2e tier's real parts work together: pods on the dev cluster, Prometheus, and Traefik as the Gateway.

These tests are the ground the progressive-delivery scenarios stand on: Prometheus finds serving pods by
Kubernetes service discovery and labels their series by track, and Traefik splits, switches, matches
and mirrors traffic exactly as the HTTPRoute (or TraefikService) in the API server says.
"""

from __future__ import annotations

import collections
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from ferryman_testing.echo_app import (
    ECHO_PORT,
    echo_deployment,
    echo_service,
    pod_ips,
    requests_served,
    wait_deployment_ready,
    wait_service_endpoints,
)
from ferryman_testing.kube_cli import Kubectl, Manifest
from ferryman_testing.polling import wait_for
from ferryman_testing.prometheus import PrometheusServer
from ferryman_testing.traefik import Gateway

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def echo_pair(kubectl: Kubectl) -> Iterator[str]:
    """Namespace with Deployments + Services echo-a (stable) and echo-b (canary), both ready."""
    namespace = f"e2e-infra-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", namespace)
    try:
        kubectl.apply(
            [
                echo_deployment("echo-a", namespace, track="stable", version="v1"),
                echo_service("echo-a", namespace),
                echo_deployment("echo-b", namespace, track="canary", version="v2"),
                echo_service("echo-b", namespace),
            ]
        )
        for name in ("echo-a", "echo-b"):
            wait_deployment_ready(kubectl, name, namespace)
            wait_service_endpoints(kubectl, name, namespace)
        yield namespace
    finally:
        kubectl.run("delete", "namespace", namespace, "--wait=false", "--ignore-not-found")


def http_route(name: str, namespace: str, gateway: Gateway, rules: list[Manifest]) -> Manifest:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"parentRefs": [gateway.parent_ref], "rules": rules},
    }


def path_rule(prefix: str, backends: dict[str, int], **extra: object) -> Manifest:
    refs = [{"name": name, "port": ECHO_PORT, "weight": weight} for name, weight in backends.items()]
    return {"matches": [{"path": {"type": "PathPrefix", "value": prefix}}], "backendRefs": refs, **extra}


def answers(
    gateway: Gateway, path: str, count: int, headers: dict[str, str] | None = None
) -> collections.Counter[str]:
    """Count the bodies of `count` GETs through the Gateway (each echo answers its own name)."""
    return gateway.count_responses(path, count, headers)


def test_prometheus_discovers_annotated_pods_and_labels_series_by_track(
    prometheus: PrometheusServer, kubectl: Kubectl, echo_pair: str
) -> None:
    """A pod annotated prometheus.io/scrape=true is scraped at <pod IP>:<port><path>, and its series carry
    namespace, pod, model_deployment, track and model_version; a pod without the annotation is not scraped."""
    namespace = echo_pair
    kubectl.apply([echo_deployment("echo-unscraped", namespace, scrape=False)])
    wait_deployment_ready(kubectl, "echo-unscraped", namespace)
    (canary_ip,) = pod_ips(kubectl, "echo-b", namespace)
    before = requests_served(canary_ip)
    with httpx.Client(timeout=5) as client:
        for _ in range(7):
            assert client.get(f"http://{canary_ip}:{ECHO_PORT}/predict").status_code == 200

    promql = f'ferryman_requests_total{{namespace="{namespace}", track="canary"}}'
    (sample,) = prometheus.wait_for_query(
        promql, lambda r: len(r) == 1 and r[0].value == before + 7, timeout=30
    )
    assert sample.labels["model_deployment"] == "echo"
    assert sample.labels["model_version"] == "v2"
    assert sample.labels["pod"].startswith("echo-b-")
    assert sample.labels["instance"] == f"{canary_ip}:{ECHO_PORT}"

    scraped_pods = {
        t["labels"]["pod"] for t in prometheus.active_targets() if t["labels"]["namespace"] == namespace
    }
    assert {p.split("-")[1] for p in scraped_pods} == {"a", "b"}, scraped_pods


def test_weighted_backends_split_traffic_exactly(gateway: Gateway, kubectl: Kubectl, echo_pair: str) -> None:
    """HTTPRoute backend weights 90/10 send exactly 90 of 100 requests to the first backend while Traefik
    keeps its configuration, within one request per configuration reload otherwise; and a change to 0/100
    is live once Traefik's API shows it.

    Why not always exactly 90/10 (seen once: 91/9): Traefik's weighted round robin (wrr.Balancer, v3.7) is
    an earliest-deadline-first schedule, backend i picked at deadlines k/w_i, so the first n picks of a
    balancer give each backend its share n*w_i/W to within one request (100 picks: exactly 90/10). But
    every dynamic configuration Traefik applies rebuilds all its routers and services, and the new
    balancer starts its schedule afresh; any change its providers see causes one, e.g. an earlier test's
    namespace (and HTTPRoute) being deleted while this test runs. A sample that straddles r reloads is
    r+1 schedule prefixes, each within one request of its share: |echo-b - 10| <= r. Not the cause:
    requests before the weights were in force (we wait for Traefik's own API, built with the handlers),
    unready servers (both Services have ready endpoints first, and a Service is one WRR entry whatever its
    endpoints), or connection reuse (the balancer picks per request).
    Reloads are counted with traefik_config_reloads_total from before the route is applied: the first
    reload with the route in it happens before the sample starts, so r is that count minus one.
    """
    namespace = echo_pair
    reloads_before = gateway.traefik.config_reloads()
    kubectl.apply(
        [http_route("split", namespace, gateway, [path_rule("/split", {"echo-a": 90, "echo-b": 10})])]
    )
    gateway.wait_route_accepted(namespace, "split")
    gateway.wait_for_weights(namespace, "split", {"echo-a": 90, "echo-b": 10})

    split = answers(gateway, "/split", 100)
    restarts = gateway.traefik.config_reloads() - reloads_before - 1
    print(f"90/10 split: {dict(split)} with {restarts} configuration reload(s) during the sample")
    assert set(split) == {"echo-a", "echo-b"}, split
    assert abs(split["echo-b"] - 10) <= restarts, f"{split} with {restarts} reload(s) during the sample"

    changed_at = time.monotonic()
    kubectl.apply(
        [http_route("split", namespace, gateway, [path_rule("/split", {"echo-a": 0, "echo-b": 100})])]
    )
    gateway.wait_for_weights(namespace, "split", {"echo-a": 0, "echo-b": 100})
    print(f"weight change live in Traefik after {time.monotonic() - changed_at:.2f} s")

    # Exact whatever the reloads: a weight-0 backend is never added to the balancer.
    assert answers(gateway, "/split", 50) == {"echo-b": 50}


def test_header_and_cookie_matches_route_to_their_backend(
    gateway: Gateway, kubectl: Kubectl, echo_pair: str
) -> None:
    """A/B routing: header x-variant: b, or a cookie variant=b (a RegularExpression match on the Cookie
    header, the Gateway API has no cookie match), sends a request to echo-b; everything else to echo-a."""
    namespace = echo_pair
    path = {"type": "PathPrefix", "value": "/ab"}
    cookie = {"type": "RegularExpression", "name": "cookie", "value": "(^|.*; ?)variant=b(;.*|$)"}
    b_rule = {
        "matches": [
            {"path": path, "headers": [{"type": "Exact", "name": "x-variant", "value": "b"}]},
            {"path": path, "headers": [cookie]},
        ],
        "backendRefs": [{"name": "echo-b", "port": ECHO_PORT}],
    }
    kubectl.apply([http_route("ab", namespace, gateway, [b_rule, path_rule("/ab", {"echo-a": 1})])])
    gateway.wait_route_accepted(namespace, "ab")
    wait_for("both A/B rules live", lambda: len(gateway.route_weights(namespace, "ab")) == 2, timeout=20)

    assert answers(gateway, "/ab", 10, headers={"x-variant": "b"}) == {"echo-b": 10}
    assert answers(gateway, "/ab", 10, headers={"cookie": "session=1; variant=b"}) == {"echo-b": 10}
    assert answers(gateway, "/ab", 10, headers={"x-variant": "a", "cookie": "variant=bb"}) == {"echo-a": 10}
    assert answers(gateway, "/ab", 10) == {"echo-a": 10}


def test_traefikservice_mirroring_copies_requests_without_touching_responses(
    gateway: Gateway, kubectl: Kubectl, echo_pair: str
) -> None:
    """A TraefikService mirroring echo-a to echo-b at 50 %, used as an HTTPRoute backendRef, answers every
    client from echo-a while echo-b receives half of the requests (shadow traffic)."""
    namespace = echo_pair
    mirror = {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "TraefikService",
        "metadata": {"name": "shadow", "namespace": namespace},
        "spec": {
            "mirroring": {
                "name": "echo-a",
                "port": ECHO_PORT,
                "mirrors": [{"name": "echo-b", "port": ECHO_PORT, "percent": 50}],
            }
        },
    }
    rule = {
        "matches": [{"path": {"type": "PathPrefix", "value": "/shadow"}}],
        "backendRefs": [{"group": "traefik.io", "kind": "TraefikService", "name": "shadow"}],
    }
    reloads_before = gateway.traefik.config_reloads()
    kubectl.apply([mirror, http_route("shadow", namespace, gateway, [rule])])
    gateway.wait_route_accepted(namespace, "shadow")
    wait_for("shadow route live", lambda: answers(gateway, "/shadow", 1) == {"echo-a": 1}, timeout=20)
    (shadow_ip,) = pod_ips(kubectl, "echo-b", namespace)
    before = requests_served(shadow_ip)

    assert answers(gateway, "/shadow", 40) == {"echo-a": 40}

    # Traefik mirrors request n of a mirroring handler when (copies so far) * 100 < n * percent: the
    # warm-up request (n = 1) and then every other one, 20 of the 40. Copies are sent asynchronously,
    # after each answer: wait until the sample's 20 have landed. A configuration reload restarts the count
    # (as with the weighted split above): each one may add a copy.
    mirrored = wait_for(
        "the 20 mirrored copies of the sample",
        lambda: (n := requests_served(shadow_ip) - before) >= 20 and n,
        timeout=10,
    )
    restarts = gateway.traefik.config_reloads() - reloads_before - 1
    # + 1 if the warm-up request's copy landed after `before` was read.
    assert mirrored <= 21 + restarts, f"{mirrored} copies of 40 at 50 % ({restarts} reload(s))"


def test_httproute_request_mirror_filter_is_not_implemented_by_traefik(
    gateway: Gateway, kubectl: Kubectl, echo_pair: str
) -> None:
    """Traefik 3.7 reports an HTTPRoute with a RequestMirror filter Accepted and ResolvedRefs but answers 500
    on that rule: shadow traffic on Traefik must use a TraefikService. If this starts failing, Traefik
    implemented the filter: use it."""
    namespace = echo_pair
    rule = path_rule("/reqmirror", {"echo-a": 1})
    rule["filters"] = [
        {
            "type": "RequestMirror",
            "requestMirror": {"backendRef": {"name": "echo-b", "port": ECHO_PORT}, "percent": 50},
        }
    ]
    kubectl.apply([http_route("reqmirror", namespace, gateway, [rule])])
    gateway.wait_route_accepted(namespace, "reqmirror")  # the status claims success
    wait_for("route live", lambda: "HTTP 404" not in answers(gateway, "/reqmirror", 1), timeout=20)

    assert answers(gateway, "/reqmirror", 5) == {"HTTP 500": 5}


def test_prometheus_scrapes_traefik_metrics(
    prometheus: PrometheusServer, gateway: Gateway, kubectl: Kubectl, echo_pair: str
) -> None:
    """Traefik's own metrics (requests per router and code, fine latency buckets) reach Prometheus."""
    namespace = echo_pair
    prometheus.add_static_job("traefik", [gateway.traefik.metrics_target])
    kubectl.apply([http_route("tm", namespace, gateway, [path_rule("/traefik-metrics", {"echo-a": 1})])])
    gateway.wait_route_accepted(namespace, "tm")
    wait_for("route tm live", lambda: 0 in gateway.route_weights(namespace, "tm"), timeout=20)

    assert answers(gateway, "/traefik-metrics", 5) == {"echo-a": 5}
    router = f'router=~"httproute-{namespace}-tm-.*", code="200"'
    prometheus.wait_for_query(
        f"sum(traefik_router_requests_total{{{router}}})", lambda r: bool(r) and r[0].value == 5
    )
    fast = prometheus.query(f'sum(traefik_router_request_duration_seconds_bucket{{{router}, le="0.025"}})')
    assert fast and fast[0].value > 0, "the fine latency buckets are configured (and echo answers in < 25 ms)"
