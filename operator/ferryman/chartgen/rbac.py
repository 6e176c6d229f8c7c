"""The operator's RBAC rules, derived from what its code calls: ``python -m ferryman.chartgen`` writes them.

Three sources, each read from the code rather than listed by hand:
- the Kopf registry (``ferryman.handlers`` imported): every watched resource needs list and watch, and
  the resources with change or timer handlers also need patch (Kopf's finalizer and progress annotations);
- the handlers' source: every ``k8s.<call>(k8s.<KIND>, ...)`` names its kind, and each call needs the verbs
  in ``CALL_VERBS``; ``k8s.apply(manifest)`` applies what the builders build, so every ``"kind": "..."``
  a builder writes is applied;
- Kopf's own needs: Events it posts for ``kopf.event``/``kopf.warn``, the CRD watch with which it
  notices CRDs installed after it started, and the Namespace watch it runs when given namespaces.
No wildcards: one rule per (group, resource) with exactly the verbs found.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import kopf
from kopf._core.intents.handlers import ResourceHandler  # the registry's own type; not re-exported

import ferryman.builders
import ferryman.handlers
from ferryman.k8s.resources import KNOWN_KINDS, ResourceKind

# What each call of ferryman.k8s needs, per (subresource, verbs). "" is the object itself.
CALL_VERBS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    # Server-side apply: a GET first (ownership check), then a PATCH that creates what is absent.
    "apply": (("", ("get", "create", "patch")),),
    "get": (("", ("get",)),),
    "patch_status": (("status", ("patch",)),),
    "patch_metadata": (("", ("patch",)),),
    # The owner check reads the object, then the scale subresource is patched.
    "scale": (("", ("get",)), ("scale", ("patch",))),
    "list_objects": (("", ("list",)),),
    "delete": (("", ("delete",)),),
    "create": (("", ("create",)),),
    "replace": (("", ("update",)),),
}
VERB_ORDER = ("get", "list", "watch", "create", "update", "patch", "delete")
KOPF_WATCH_VERBS = ("list", "watch")
# Change and timer handlers: Kopf patches the object (finalizer, progress annotations, diff base).
KOPF_HANDLED_VERBS = ("patch",)
# kopf.event / kopf.warn post core v1 Events in the object's namespace.
EVENTS = ("", "events", ("create",))
# Kopf watches CRDs so that a CRD installed after startup (e.g. Gateway API) is noticed without a restart.
CRD_WATCH = ("apiextensions.k8s.io", "customresourcedefinitions", ("list", "watch"))
# Watching named namespaces (FERRYMAN_NAMESPACES), Kopf lists and watches Namespaces; refused, it retries
# for about a minute before it starts any handler (seen in the cluster tier). Granted in both modes so that
# changing watchNamespaces never brings that minute back.
NAMESPACE_WATCH = ("", "namespaces", ("list", "watch"))
CLUSTER_SCOPED_RESOURCES = frozenset({"customresourcedefinitions", "namespaces"})
# The leader election Lease and the registry webhook Service's EndpointSlice live in the operator's own
# namespace: granted there only (a Role in the release namespace), never in the watched namespaces or
# cluster-wide.
OWN_NAMESPACE_RESOURCES = frozenset({"leases", "endpointslices"})


@dataclass(frozen=True)
class Rule:
    api_group: str
    resource: str
    verbs: tuple[str, ...]

    @property
    def cluster_scoped(self) -> bool:
        return self.resource in CLUSTER_SCOPED_RESOURCES

    @property
    def own_namespace(self) -> bool:
        return self.resource in OWN_NAMESPACE_RESOURCES

    def as_manifest(self) -> dict[str, list[str]]:
        return {"apiGroups": [self.api_group], "resources": [self.resource], "verbs": list(self.verbs)}


def _group(kind: ResourceKind) -> str:
    return "" if kind.api_version == "v1" else kind.api_version.split("/")[0]


def _kind_by_constant() -> dict[str, ResourceKind]:
    """``k8s.DEPLOYMENT`` and friends: the names the handlers use for kinds."""
    import ferryman.k8s

    return {name: value for name, value in vars(ferryman.k8s).items() if isinstance(value, ResourceKind)}


def _sources(package: object) -> list[str]:
    """The source of every module of a package."""
    root = Path(getattr(package, "__file__", "")).parent
    return [path.read_text() for path in sorted(root.rglob("*.py"))]


def direct_calls(sources: Iterable[str]) -> set[tuple[str, str]]:
    """(call, kind constant) of every ``k8s.<call>(...)`` in the sources; the constant is "*" for apply
    (the kind is the manifest's). A kind passed in as a parameter (``write_status(..., kind=...)``) is
    resolved to the parameter's default and every ``k8s.<KIND>`` the function's callers pass."""
    trees = [ast.parse(source) for source in sources]
    found: set[tuple[str, str]] = set()
    for tree in trees:
        for node, function in _calls_in_functions(tree, tree):
            if _is_k8s_attribute(node.func):
                found.update(_call_kinds(node, function, trees))
    return found


def _calls_in_functions(node: ast.AST, function: ast.AST) -> Iterator[tuple[ast.Call, ast.AST]]:
    """Every call under node, with the innermost function (or the module) it is in."""
    for child in ast.iter_child_nodes(node):
        inner = child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
        if isinstance(child, ast.Call):
            yield child, function
        yield from _calls_in_functions(child, inner)


def _call_kinds(node: ast.Call, function: ast.AST, trees: list[ast.Module]) -> set[tuple[str, str]]:
    assert isinstance(node.func, ast.Attribute)
    call = node.func.attr
    if call not in CALL_VERBS:
        return set()
    if call == "apply":
        return {(call, "*")}
    first = node.args[0]
    if _is_k8s_attribute(first):
        assert isinstance(first, ast.Attribute)
        return {(call, first.attr)}
    if not (isinstance(first, ast.Name) and isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)):
        raise ValueError(f"k8s.{call} at line {node.lineno}: cannot tell which kind it is called with")
    kinds = _kinds_passed_to(function, first.id, trees)
    if not kinds:
        raise ValueError(f"k8s.{call} in {function.name}: no kind found for parameter {first.id}")
    return {(call, kind) for kind in kinds}


def _kinds_passed_to(
    function: ast.FunctionDef | ast.AsyncFunctionDef, parameter: str, trees: list[ast.Module]
) -> set[str]:
    """k8s.<KIND> constants that reach `parameter`: its default and whatever callers pass."""
    arguments = function.args
    names = [a.arg for a in [*arguments.posonlyargs, *arguments.args]]
    defaults = dict(zip(names[len(names) - len(arguments.defaults) :], arguments.defaults, strict=True))
    candidates: list[ast.expr] = [defaults[parameter]] if parameter in defaults else []
    index = names.index(parameter) if parameter in names else None
    for tree in trees:
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _called_name(node.func) == function.name):
                continue
            candidates += [k.value for k in node.keywords if k.arg == parameter]
            if index is not None and index < len(node.args):
                candidates.append(node.args[index])
    return {c.attr for c in candidates if _is_k8s_attribute(c) and isinstance(c, ast.Attribute)}


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def _is_k8s_attribute(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "k8s"


def built_kinds(sources: Iterable[str]) -> set[ResourceKind]:
    """Every kind a builder writes into a manifest: a dict literal with a "kind" constant, and an
    "apiVersion" constant or an expression (our own kinds use the API_VERSION constant); kind names are
    unique among the kinds we write."""
    by_name = {kind.kind: kind for kind in KNOWN_KINDS.values()}
    kinds: set[ResourceKind] = set()
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.Dict):
                continue
            pairs = {
                key.value: value.value
                for key, value in zip(node.keys, node.values, strict=True)
                if isinstance(key, ast.Constant) and isinstance(value, ast.Constant)
            }
            key = (pairs.get("apiVersion"), pairs.get("kind"))
            has_api_version = any(isinstance(k, ast.Constant) and k.value == "apiVersion" for k in node.keys)
            if key in KNOWN_KINDS:
                kinds.add(KNOWN_KINDS[key])
            elif has_api_version and "apiVersion" not in pairs and str(pairs.get("kind")) in by_name:
                kinds.add(by_name[str(pairs["kind"])])
    return kinds


def _plural(handler: ResourceHandler) -> tuple[str, str]:
    """(group, plural) of a handler's resource: our handlers name it as group, version, plural."""
    selector = handler.selector
    assert selector is not None and selector.group is not None
    plural = selector.plural or selector.any_name
    assert isinstance(plural, str), f"handler {handler.id} names no resource plural"
    return selector.group, plural


def _kopf_needs(registry: kopf.OperatorRegistry) -> dict[tuple[str, str], set[str]]:
    needs: dict[tuple[str, str], set[str]] = defaultdict(set)
    handled = [*registry._changing.get_all_handlers(), *registry._spawning.get_all_handlers()]
    for handler in [*registry._watching.get_all_handlers(), *handled]:
        needs[_plural(handler)].update(KOPF_WATCH_VERBS)
    for handler in handled:
        needs[_plural(handler)].update(KOPF_HANDLED_VERBS)
    return needs


def operator_rules() -> list[Rule]:
    """Every rule the operator needs, sorted by group and resource, verbs in a fixed order."""
    needs = _kopf_needs(kopf.get_default_registry())
    constants = _kind_by_constant()
    applied = built_kinds(_sources(ferryman.builders))
    for call, constant in direct_calls(_sources(ferryman.handlers)):
        kinds = applied if constant == "*" else {constants[constant]}
        for kind in kinds:
            for subresource, verbs in CALL_VERBS[call]:
                resource = f"{kind.plural}/{subresource}" if subresource else kind.plural
                needs[_group(kind), resource].update(verbs)
    for group, resource, verbs in (EVENTS, CRD_WATCH, NAMESPACE_WATCH):
        needs[group, resource].update(verbs)
    unknown = {verb for verbs in needs.values() for verb in verbs} - set(VERB_ORDER)
    if unknown:  # never silently drop a verb the code needs
        raise ValueError(f"verbs without a place in VERB_ORDER: {sorted(unknown)}")
    return [
        Rule(group, resource, tuple(verb for verb in VERB_ORDER if verb in verbs))
        for (group, resource), verbs in sorted(needs.items())
    ]


def leader_election_rules(rules: Iterable[Rule]) -> list[Rule]:
    """The Role for the Lease, in the operator's namespace (the chart creates it with leader election)."""
    return [rule for rule in rules if rule.resource == "leases"]


def registry_webhook_rules(rules: Iterable[Rule]) -> list[Rule]:
    """The Role for the registry webhook Service's EndpointSlice, in the operator's namespace (the chart
    creates it with the webhook), with a read of that Service there (handlers.webhook_service), which the
    namespaced rules do not cover when watchNamespaces leaves the operator's namespace out."""
    return [*(rule for rule in rules if rule.resource == "endpointslices"), Rule("", "services", ("get",))]
