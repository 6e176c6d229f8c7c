"""Turn pydantic's JSON Schema into a Kubernetes structural OpenAPI v3 schema.

Structural means: every node has a type (or an x-kubernetes escape hatch), no $ref, and no anyOf/oneOf
that introduces types. pydantic writes ``X | None`` as ``anyOf: [X, {type: null}]``; we keep X alone,
because the API server prunes nulls of non-nullable fields and our models treat absent and None alike,
except where X has a default: there null is kept (``nullable``) as the way to turn the default off.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

# Keys pydantic emits that carry no meaning for the API server, or that structural schemas forbid.
_DROPPED = {"title", "$defs", "additionalProperties", "anyOf", "allOf", "$ref", "const", "default"}
_JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number"}


class NotStructuralError(ValueError):
    """The pydantic schema uses a construct a structural schema cannot express."""


def to_structural(schema: Schema, defs: Schema | None = None, path: str = "") -> Schema:
    """The structural equivalent of ``schema``, with every $ref inlined from ``defs``."""
    defs = schema.get("$defs", {}) if defs is None else defs
    node = _flatten(schema, defs, path)
    result: Schema = {key: value for key, value in node.items() if key not in _DROPPED}
    if "default" in node and node["default"] is not None:
        result["default"] = node["default"]
        result["description"] = _with_default(result.get("description", ""), node["default"])
        if _admits_null(schema):
            # `X | None` with a default: null says "off". The API server prunes a null of a field that is
            # not nullable and then applies the default, so `psi: null` would have read as psi 0.2.
            result["nullable"] = True
    _convert_exclusive_bounds(result)
    if "properties" in node:
        result["properties"] = {
            name: to_structural(child, defs, f"{path}.{name}") for name, child in node["properties"].items()
        }
    if "items" in node:
        result["items"] = to_structural(node["items"], defs, f"{path}[]")
    additional = node.get("additionalProperties")
    if isinstance(additional, dict) and not result.get("x-kubernetes-preserve-unknown-fields"):
        result["additionalProperties"] = to_structural(additional, defs, f"{path}{{}}")
    if result.get("x-kubernetes-preserve-unknown-fields"):
        result["type"] = "object"
    if result.get("x-kubernetes-int-or-string"):
        result.pop("type", None)
    elif "type" not in result:
        raise NotStructuralError(f"{path or '<root>'}: no type in {sorted(node)}")
    return result


def _flatten(schema: Schema, defs: Schema, path: str) -> Schema:
    """Resolve $ref, single-member allOf and nullable anyOf into one node; sibling keys win."""
    siblings = {key: value for key, value in schema.items() if key not in ("$ref", "anyOf", "allOf")}
    if "$ref" in schema:
        target = _flatten(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, path)
        return {**target, **siblings}
    members = schema.get("anyOf") or schema.get("allOf")
    if members:
        typed = [member for member in members if member.get("type") != "null"]
        if len(typed) != 1:
            raise NotStructuralError(f"{path or '<root>'}: a union of {len(typed)} types is not structural")
        return {**_flatten(typed[0], defs, path), **siblings}
    if "const" in schema:
        value = schema["const"]
        return {"type": _JSON_TYPES[type(value)], **siblings, "enum": [value]}
    return schema


def _admits_null(schema: Schema) -> bool:
    return any(member.get("type") == "null" for member in schema.get("anyOf") or [])


def _with_default(description: str, default: Any) -> str:
    # `kubectl explain` does not print schema defaults, so the description carries them.
    if default == {} or default == []:
        return description
    shown = str(default).lower() if isinstance(default, bool) else str(default)
    return f"{description} Default: {shown}.".strip()


def _convert_exclusive_bounds(node: Schema) -> None:
    # JSON Schema 2020-12 writes exclusiveMinimum: 0; OpenAPI v3.0 (what CRDs use) wants minimum + true.
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if isinstance(node.get(exclusive), int | float) and not isinstance(node[exclusive], bool):
            node[bound] = node[exclusive]
            node[exclusive] = True
