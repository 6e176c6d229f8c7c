"""The CRDs in crds/ are generated from ferryman.api, current, structural and self-describing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ferryman.api import GROUP, VERSION
from ferryman.api.crdgen import (
    REPO_ROOT,
    RESOURCES,
    build_crd,
    main,
    openapi_schema,
    rendered_files,
    stale_files,
)

pytestmark = pytest.mark.unit

Schema = dict[str, Any]
TYPE_ESCAPES = ("x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields")


def _nodes(schema: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    """Every schema node with its path, properties as .name, list items as []."""
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if "items" in schema:
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}{{}}")


def _properties(schema: Schema) -> Iterator[tuple[str, Schema]]:
    for path, node in _nodes(schema):
        for name, child in node.get("properties", {}).items():
            yield f"{path}.{name}", child


SCHEMAS = {resource.KIND: openapi_schema(resource) for resource in RESOURCES}


def test_crd_files_are_up_to_date() -> None:
    """crds/ and docs/api.md equal the generator's output; run scripts/gen-crds after changing a model."""
    stale = stale_files(rendered_files(REPO_ROOT))
    assert not stale, f"stale generated files (run scripts/gen-crds): {[str(path) for path in stale]}"


def test_check_mode_names_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--check exits 1 and names the stale file; after generating it exits 0 and writes nothing."""
    assert main(["--check", "--root", str(tmp_path)]) == 1
    assert "modeldeployments.ferryman.dev.yaml is stale" in capsys.readouterr().err
    assert main(["--root", str(tmp_path)]) == 0
    assert main(["--check", "--root", str(tmp_path)]) == 0


def test_generation_is_deterministic() -> None:
    """Two runs render byte-identical files, so the stale check never flaps."""
    assert rendered_files(REPO_ROOT) == rendered_files(REPO_ROOT)


@pytest.mark.parametrize("kind", SCHEMAS)
def test_schema_is_structural(kind: str) -> None:
    """No $ref, no anyOf/oneOf/allOf, no title, and every node has a type or a Kubernetes type escape."""
    for path, node in _nodes(SCHEMAS[kind]):
        assert not {"$ref", "$defs", "anyOf", "oneOf", "allOf", "not", "title"} & set(node), f"{kind}{path}"
        assert "type" in node or any(node.get(key) for key in TYPE_ESCAPES), f"{kind}{path} has no type"
        if node.get("x-kubernetes-int-or-string"):
            assert "type" not in node, f"{kind}{path}: int-or-string must not also declare a type"
        if node.get("type") == "object" and "properties" in node:
            assert "additionalProperties" not in node, f"{kind}{path}: properties and additionalProperties"


@pytest.mark.parametrize("kind", SCHEMAS)
def test_every_property_has_a_description(kind: str) -> None:
    """kubectl explain has something to say about every field (metadata excepted: the server forbids it)."""
    missing = [
        path
        for path, node in _properties(SCHEMAS[kind])
        if path != ".metadata" and not node.get("description")
    ]
    assert not missing, f"{kind} fields without description: {missing}"


@pytest.mark.parametrize("kind", SCHEMAS)
def test_every_spec_list_is_bounded(kind: str) -> None:
    """Every spec list has maxItems, so the API server can bound the cost of CEL rules that iterate it."""
    spec = SCHEMAS[kind]["properties"]["spec"]
    unbounded = [
        path for path, node in _nodes(spec) if node.get("type") == "array" and "maxItems" not in node
    ]
    assert not unbounded, f"{kind} lists without maxItems: {unbounded}"


@pytest.mark.parametrize("kind", SCHEMAS)
def test_cel_rules_have_messages_naming_a_field(kind: str) -> None:
    """Each CEL rule on an object carries a message that starts with the field it is about. (On a scalar
    the API server's error starts with the scalar's own path already.)"""
    rules = [
        rule
        for _, node in _nodes(SCHEMAS[kind])
        if node.get("type") == "object"
        for rule in node.get("x-kubernetes-validations", [])
    ]
    assert rules
    for rule in rules:
        field = rule["message"].split(":")[0].split(" ")[0]
        assert field == "spec" or field.startswith(("spec.", "validation.", "analysis.", "metadata.")), rule


def test_model_deployment_crd_names_columns_and_subresources() -> None:
    """md short name, ferryman category, status subresource and the columns a person at the terminal needs."""
    crd = yaml.safe_load((REPO_ROOT / "crds" / "modeldeployments.ferryman.dev.yaml").read_text())
    assert crd["metadata"]["name"] == f"modeldeployments.{GROUP}"
    names = crd["spec"]["names"]
    assert (names["kind"], names["shortNames"], names["categories"]) == (
        "ModelDeployment",
        ["md"],
        ["ferryman"],
    )
    (version,) = crd["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == (VERSION, True, True)
    assert version["subresources"] == {"status": {}}
    columns = [(column["name"], column["jsonPath"]) for column in version["additionalPrinterColumns"]]
    assert columns[:8] == [
        ("Phase", ".status.phase"),
        ("Weight", ".status.canaryWeight"),
        ("Stable", ".status.stableVersion"),
        ("Canary", ".status.canaryVersion"),
        ("Alias", ".status.alias.name"),
        ("Replicas", ".status.replicas"),
        ("Desired", ".status.desiredReplicas"),
        ("Age", ".metadata.creationTimestamp"),
    ]


@pytest.mark.parametrize("resource", RESOURCES, ids=[resource.KIND for resource in RESOURCES])
def test_printer_columns_point_at_real_fields(resource: Any) -> None:
    """Every printer column's jsonPath exists in the schema, so no column is silently empty forever."""
    schema = openapi_schema(resource)
    for column in build_crd(resource)["spec"]["versions"][0]["additionalPrinterColumns"]:
        node = schema
        for part in column["jsonPath"].strip(".").split("."):
            if part == "creationTimestamp" and node is schema["properties"]["metadata"]:
                break
            field, indexed, _ = part.partition("[")
            node = node["properties"][field]
            if indexed:  # gates[0]: an element of a list
                node = node["items"]


def test_condition_lists_merge_by_type() -> None:
    """status.conditions is a map list keyed by type, so server-side apply merges conditions one by one."""
    for kind, schema in SCHEMAS.items():
        conditions = schema["properties"]["status"]["properties"]["conditions"]
        assert conditions["x-kubernetes-list-type"] == "map", kind
        assert conditions["x-kubernetes-list-map-keys"] == ["type"], kind


@pytest.mark.parametrize("kind", SCHEMAS)
def test_fields_where_null_means_off_are_nullable(kind: str) -> None:
    """A field documented "Null: off" that has a default must be nullable: otherwise the API server prunes
    the null and applies the default, and the user's "off" silently reads as the default."""
    wrong = [
        path
        for path, node in _nodes(SCHEMAS[kind])
        if "Null: off" in node.get("description", "") and "default" in node and not node.get("nullable")
    ]
    assert not wrong, wrong
    if kind == "DriftMonitor":
        tests = SCHEMAS[kind]["properties"]["spec"]["properties"]["tests"]["properties"]
        assert tests["psi"]["nullable"] and tests["js"]["nullable"]
