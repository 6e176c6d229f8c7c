"""Load invalid_objects.yaml: objects both pydantic and the API server must refuse."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CASES_FILE = Path(__file__).with_name("invalid_objects.yaml")


@dataclass(frozen=True)
class InvalidObject:
    id: str
    kind: str
    body: dict[str, Any]
    field: str
    says_pydantic: str
    says_server: str


def _body(kind: str, name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "ferryman.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def load_base_objects(namespace: str = "default") -> dict[str, dict[str, Any]]:
    """The valid object of each kind that the cases start from."""
    bases = yaml.safe_load(CASES_FILE.read_text())["bases"]
    return {kind: _body(kind, f"valid-{kind.lower()}", namespace, spec) for kind, spec in bases.items()}


def load_invalid_objects(namespace: str = "default") -> list[InvalidObject]:
    document = yaml.safe_load(CASES_FILE.read_text())
    cases = []
    for case in document["cases"]:
        spec = {**document["bases"][case["kind"]], **case["spec"]}
        name = case.get("name", f"invalid-{case['id']}"[:55])
        body = _body(case["kind"], name, namespace, spec)
        says = case.get("says")
        cases.append(
            InvalidObject(
                id=case["id"],
                kind=case["kind"],
                body=body,
                field=case["field"],
                says_pydantic=case.get("says_pydantic", says),
                says_server=case.get("says_server", says),
            )
        )
    return cases
