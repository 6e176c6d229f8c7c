"""The service proxy: list-watch Services and EndpointSlices, program every namespace of the machine.

It does what kube-proxy does on each node of a real cluster, for the root namespace (test clients,
Traefik, Prometheus) and for every node namespace (pods): DNAT rules in our nftables table and a
/32 route per ClusterIP in use. It runs as threads of the pod runner, so `up` starts it and `down`
stops it. Every sync rewrites the whole table in one nft transaction: there are tens of Services here,
not thousands, and a full rewrite can never leave a half-updated rule set behind.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

from ferryman.devcluster import network
from ferryman.devcluster.network import HOST_ADDRESS, SERVICE_CIDR, NodeNetwork
from ferryman.devcluster.proxy import nftables
from ferryman.devcluster.proxy.rules import Frontend, frontends, nft_script, routed_ips

log = logging.getLogger("ferryman.devcluster.proxy")
Obj = dict[str, Any]
SETTLE_SECONDS = 0.05  # gather the burst of events of one change (a Service and its slice) into one sync
RESYNC_SECONDS = 60.0  # rewrite everything now and then, even with no event
RETRY_SECONDS = 1.0


class ServiceProxy:
    def __init__(self, kubeconfig: Path, nets: dict[str, NodeNetwork]) -> None:
        api_client = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        # Any: with _preload_content=False the typed client returns raw responses, not its models.
        self.core: Any = client.CoreV1Api(api_client)
        self.discovery: Any = client.DiscoveryV1Api(api_client)
        # Where each namespace sends a ClusterIP before DNAT: the root namespace to `lo` from the host
        # address (the one address every pod can answer), a node namespace towards the root.
        self.targets: list[tuple[str | None, tuple[str, ...]]] = [(None, ("dev", "lo", "src", HOST_ADDRESS))]
        self.targets += [(n.netns, ("via", n.root_address, "dev", "eth0")) for n in nets.values()]
        self.services: dict[str, Obj] = {}
        self.slices: dict[str, Obj] = {}
        # Which of the two lists have completed: syncing before both would briefly drop every route of
        # a restarted runner (the unreachable routes keep the machine sealed until then).
        self.listed: set[str] = set()
        self.lock = threading.Lock()
        self.dirty = threading.Event()
        self.stopping = threading.Event()
        self.applied: list[Frontend] | None = None

    def start(self) -> None:
        watched = [
            ("services", self.core.list_service_for_all_namespaces, self.services),
            ("endpointslices", self.discovery.list_endpoint_slice_for_all_namespaces, self.slices),
        ]
        for name, list_call, store in watched:
            threading.Thread(target=self._watch, args=(name, list_call, store), daemon=True).start()
        threading.Thread(target=self._sync_loop, daemon=True, name="service-proxy").start()

    def stop(self) -> None:
        self.stopping.set()
        self.dirty.set()

    def _watch(self, name: str, list_call: Callable[..., Any], store: dict[str, Obj]) -> None:
        """List, then watch from that version; relist after any error (API server restarts included)."""
        while not self.stopping.is_set():
            try:
                body = json.loads(list_call(_preload_content=False, _request_timeout=30).data)
                with self.lock:
                    store.clear()
                    store.update({_key(item): item for item in body.get("items", [])})
                    self.listed.add(name)
                self.dirty.set()
                stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
                    list_call,
                    resource_version=body["metadata"]["resourceVersion"],
                    allow_watch_bookmarks=True,
                    timeout_seconds=240,
                    deserialize=False,
                )
                for event in stream:
                    self._on_event(event["type"], event["object"], store)
                    if self.stopping.is_set():
                        return
            except Exception as exc:  # expired version, connection reset: relist and go on
                log.warning("service proxy watch interrupted (%s); relisting", exc)
                self.stopping.wait(RETRY_SECONDS)

    def _on_event(self, kind: str, obj: Obj, store: dict[str, Obj]) -> None:
        if kind == "ERROR":
            raise RuntimeError(f"watch error: {obj.get('message', obj)}")
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            return  # BOOKMARK
        with self.lock:
            if kind == "DELETED":
                store.pop(_key(obj), None)
            else:
                store[_key(obj)] = obj
        self.dirty.set()

    def _sync_loop(self) -> None:
        while not self.stopping.is_set():
            if not self.dirty.wait(RESYNC_SECONDS):
                self.applied = None  # nothing happened for a while: rewrite anyway, in case of tampering
            if self.stopping.is_set():
                return
            self.stopping.wait(SETTLE_SECONDS)
            self.dirty.clear()
            try:
                self.sync()
            except Exception as exc:
                log.warning("service proxy sync failed (%s); retrying", exc)
                self.applied = None
                self.stopping.wait(RETRY_SECONDS)
                self.dirty.set()

    def sync(self) -> None:
        with self.lock:
            if len(self.listed) < 2:
                return
            fronts = frontends(list(self.services.values()), list(self.slices.values()))
        if fronts == self.applied:
            return
        started = time.monotonic()
        script = nft_script(fronts, SERVICE_CIDR)
        cluster_ips = routed_ips(fronts)
        for netns, target in self.targets:
            nftables.apply(netns, script)  # rules first: a new route never points at a missing rule
            network.sync_service_routes(netns, cluster_ips, target)
        self.applied = fronts
        log.info(
            "service proxy: %d ClusterIPs, %d of %d ports with ready backends, %d namespaces, %.0f ms",
            len(cluster_ips),
            sum(1 for f in fronts if f.backends),
            len(fronts),
            len(self.targets),
            (time.monotonic() - started) * 1000,
        )


def _key(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"
