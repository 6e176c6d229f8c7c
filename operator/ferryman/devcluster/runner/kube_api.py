"""The runner's calls to the API server, on plain JSON dicts (the shapes of the manifests)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from ferryman.devcluster.runner.service_account import IssuedToken, TokenSource

Pod = dict[str, Any]
STRATEGIC_MERGE = "application/strategic-merge-patch+json"


class PodApi:
    """List/watch pods, write their status, finish their deletion, read env sources."""

    def __init__(self, kubeconfig: Path) -> None:
        configuration = client.Configuration()
        # One connection per pod worker thread at busy moments (default: 5 per CPU, 10 here).
        configuration.connection_pool_maxsize = 64
        api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), client_configuration=configuration
        )
        # Any: with _preload_content=False the typed client returns raw responses, not its models.
        self.core: Any = client.CoreV1Api(api_client)

    def list_pods(self) -> tuple[list[Pod], str]:
        resp = self.core.list_pod_for_all_namespaces(_preload_content=False, _request_timeout=30)
        body = json.loads(resp.data)
        return list(body.get("items", [])), str(body["metadata"]["resourceVersion"])

    def watch_pods(self, resource_version: str) -> Iterator[tuple[str, Pod]]:
        stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
            self.core.list_pod_for_all_namespaces,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=240,
            deserialize=False,
        )
        for event in stream:
            yield event["type"], event["object"]

    def write_status(self, pod: Pod, status: dict[str, Any]) -> None:
        meta = pod["metadata"]
        self.core.patch_namespaced_pod_status(
            meta["name"],
            meta["namespace"],
            {"status": status},
            _content_type=STRATEGIC_MERGE,
            _request_timeout=15,
        )

    def finish_deletion(self, pod: Pod) -> None:
        """The kubelet's last word: delete now, only this incarnation (uid precondition)."""
        meta = pod["metadata"]
        body = {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}}
        try:
            self.core.delete_namespaced_pod(meta["name"], meta["namespace"], body=body, _request_timeout=15)
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise

    def key_value(self, namespace: str, kind: str, name: str, key: str, optional: bool) -> str | None:
        """A ConfigMap/Secret value for env; key '*' returns all pairs as KEY=VALUE lines (envFrom)."""
        try:
            if kind == "configMap":
                data = self.core.read_namespaced_config_map(name, namespace, _preload_content=False).data
                values = json.loads(data).get("data") or {}
            else:
                data = self.core.read_namespaced_secret(name, namespace, _preload_content=False).data
                raw = json.loads(data).get("data") or {}
                values = {k: base64.b64decode(v).decode() for k, v in raw.items()}
        except ApiException as exc:
            if exc.status == 404 and optional:
                return None
            raise
        if key == "*":
            return "\n".join(f"{k}={v}" for k, v in values.items())
        if key not in values and optional:
            return None
        if key not in values:
            raise KeyError(f"{kind} {namespace}/{name} has no key {key!r}")
        return str(values[key])

    def request_token(self, pod: Pod, source: TokenSource) -> IssuedToken:
        """TokenRequest for the pod's ServiceAccount, bound to this pod (invalid once the pod is gone)."""
        meta = pod["metadata"]
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                # Empty: the API server's own audiences, as for the default kube-api-access volume.
                "audiences": [source.audience] if source.audience else [],
                "expirationSeconds": source.expiration_seconds,
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
            },
        }
        requested = time.time()
        response = self.core.create_namespaced_service_account_token(
            pod["spec"].get("serviceAccountName") or "default",
            meta["namespace"],
            body,
            _preload_content=False,
            _request_timeout=15,
        )
        status = json.loads(response.data)["status"]  # never logged: it holds the token
        expires = datetime.fromisoformat(status["expirationTimestamp"].replace("Z", "+00:00"))
        return IssuedToken(status["token"], requested, expires.timestamp())
