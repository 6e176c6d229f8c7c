"""Argo CD's view of Ferryman's objects: the health checks in gitops/argocd/*.lua, run with lupa (Lua 5.4).

Argo CD runs each script with the object as the global `obj` and reads the table it returns
(`status`, `message`). `record` keeps a live object with the health it must have as a fixture of the chart
tier's Lua tests, when FERRYMAN_CAPTURE_ARGOCD_FIXTURES names a directory (docs/gitops.md says how).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lupa import LuaRuntime

from ferryman_testing import REPO_ROOT

HEALTH_CHECKS = REPO_ROOT / "gitops" / "argocd"
FIXTURES = REPO_ROOT / "tests" / "chart" / "argocd_fixtures"
CAPTURE_VARIABLE = "FERRYMAN_CAPTURE_ARGOCD_FIXTURES"
# What the operator never reads back and what changes every run: left out of a captured fixture.
VOLATILE_METADATA = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "namespace")


@dataclass(frozen=True)
class Health:
    status: str
    message: str


def health(obj: dict[str, Any]) -> Health:
    """What Argo CD shows for obj: its kind's script run on a fresh Lua state."""
    script = (HEALTH_CHECKS / f"{obj['kind'].lower()}.lua").read_text()
    lua = LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = _to_lua(lua, obj)
    result = lua.execute(script)
    return Health(str(result["status"]), str(result["message"] or ""))


def _to_lua(lua: LuaRuntime, value: Any) -> Any:
    """JSON to Lua as Argo CD converts it: objects and arrays become tables (arrays 1-based)."""
    if isinstance(value, dict):
        return lua.table_from({key: _to_lua(lua, item) for key, item in value.items()})
    if isinstance(value, list):
        return lua.table_from([_to_lua(lua, item) for item in value])
    return value


def record(obj: dict[str, Any], name: str, expected: str) -> Health:
    """The object's health; with FERRYMAN_CAPTURE_ARGOCD_FIXTURES set, also written there as a fixture."""
    directory = os.environ.get(CAPTURE_VARIABLE)
    if directory:
        metadata = {k: v for k, v in obj["metadata"].items() if k not in VOLATILE_METADATA}
        fixture = {"expected": expected, "object": {**obj, "metadata": metadata}}
        path = Path(directory) / f"{obj['kind'].lower()}-{name}.json"
        path.write_text(json.dumps(fixture, indent=2, sort_keys=True) + "\n")
    return health(obj)
