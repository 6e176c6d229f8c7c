"""Credentials from a kubeconfig user's `exec` plugin, run the way kubectl runs it.

Cloud providers' kubeconfigs (`aws eks get-token`, `gke-gcloud-auth-plugin`, `kubelogin`) hold no token:
the user names a command that prints an ExecCredential (client.authentication.k8s.io) with a token or a
client certificate. Kopf's kubeconfig login does not run it, so `log_in` does, for the operator run
outside a cluster and for the `ferryman` commands on a workstation.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import kopf
import yaml

EXEC_TIMEOUT_SECONDS = 60.0
DEFAULT_API_VERSION = "client.authentication.k8s.io/v1"


def current_user(environ: Mapping[str, str]) -> dict[str, Any]:
    """The user of the current context across KUBECONFIG's files (the first definition of a name wins,
    as kubectl merges them); {} when there is no kubeconfig or no such user."""
    listed = environ.get("KUBECONFIG") or "~/.kube/config"  # empty means unset, as for Kopf and kubectl
    paths = [os.path.expanduser(path) for path in listed.split(os.pathsep)]
    current: str | None = None
    contexts: dict[str, Any] = {}
    users: dict[str, Any] = {}
    for path in (path for path in paths if path and os.path.exists(path)):
        with open(path, encoding="utf-8") as file:
            config = yaml.safe_load(file) or {}
        current = current or config.get("current-context")
        for item in config.get("contexts") or []:
            contexts.setdefault(item.get("name"), item.get("context") or {})
        for item in config.get("users") or []:
            users.setdefault(item.get("name"), item.get("user") or {})
    context: dict[str, Any] = contexts.get(current or "", {})
    user: dict[str, Any] = users.get(context.get("user", ""), {})
    return user


def exec_login(info: kopf.ConnectionInfo, user: Mapping[str, Any]) -> kopf.ConnectionInfo:
    """info with the token or client certificate the user's exec plugin prints; info itself when the user
    has no plugin. The ExecCredential's expiry becomes the login's, after which Kopf logs in again."""
    plugin = user.get("exec")
    if not plugin:
        return info
    status = _run(plugin)
    expiry = status.get("expirationTimestamp")
    return kopf.ConnectionInfo(
        server=info.server,
        ca_path=info.ca_path,
        ca_data=info.ca_data,
        insecure=info.insecure,
        token=status.get("token"),
        certificate_data=status.get("clientCertificateData"),
        private_key_data=status.get("clientKeyData"),
        default_namespace=info.default_namespace,
        proxy_url=info.proxy_url,
        trust_env=info.trust_env,
        priority=info.priority,
        expiration=datetime.fromisoformat(expiry) if expiry else None,
    )


def _run(plugin: Mapping[str, Any]) -> dict[str, Any]:
    command = [str(plugin.get("command", "")), *(str(arg) for arg in plugin.get("args") or [])]
    api_version = plugin.get("apiVersion") or DEFAULT_API_VERSION
    request = {"apiVersion": api_version, "kind": "ExecCredential", "spec": {"interactive": False}}
    env = {
        **os.environ,
        **{str(item["name"]): str(item["value"]) for item in plugin.get("env") or []},
        "KUBERNETES_EXEC_INFO": json.dumps(request),
    }
    what = f"the kubeconfig user's exec plugin {command[0]!r}"
    try:
        done = subprocess.run(
            command, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=EXEC_TIMEOUT_SECONDS
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise kopf.LoginError(f"{what} could not run: {type(error).__name__}; check its path") from None
    # Its output is a credential, and its error output and arguments may hold one: none goes into the message.
    if done.returncode != 0:
        raise kopf.LoginError(f"{what} failed (exit {done.returncode}); run it by hand to see why")
    try:
        status: dict[str, Any] = json.loads(done.stdout)["status"]
    except (ValueError, KeyError, TypeError):
        raise kopf.LoginError(f"{what} did not print an ExecCredential with a status") from None
    return status
