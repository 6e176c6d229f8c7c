"""The chart's RBAC is derived from the operator's calls; the generated files are current."""

from __future__ import annotations

import inspect
import textwrap

import pytest

from ferryman.chartgen.__main__ import rendered_files, stale_files
from ferryman.chartgen.rbac import (
    CALL_VERBS,
    Rule,
    built_kinds,
    direct_calls,
    leader_election_rules,
    operator_rules,
    registry_webhook_rules,
)
from ferryman.k8s import objects
from ferryman.k8s.resources import KNOWN_KINDS

pytestmark = pytest.mark.unit


def _verbs(group: str, resource: str) -> tuple[str, ...]:
    found = [r.verbs for r in operator_rules() if (r.api_group, r.resource) == (group, resource)]
    return found[0] if found else ()


def test_generated_chart_files_are_current() -> None:
    assert stale_files(rendered_files()) == [], "run python -m ferryman.chartgen"


def test_rules_name_no_wildcard_and_each_resource_once() -> None:
    rules = operator_rules()
    assert all("*" not in (r.api_group, r.resource, *r.verbs) for r in rules)
    keys = [(r.api_group, r.resource) for r in rules]
    assert len(keys) == len(set(keys))


def test_what_the_handlers_call_is_granted_and_nothing_else() -> None:
    # Watched by Kopf and written by the handlers.
    assert _verbs("ferryman.dev", "modeldeployments") == ("get", "list", "watch", "patch")
    assert _verbs("ferryman.dev", "modeldeployments/status") == ("patch",)
    assert _verbs("ferryman.dev", "trainingjobs/status") == ("patch",)
    # Applied (GET for the ownership check, PATCH that may create) and watched by label.
    assert _verbs("apps", "deployments") == ("get", "list", "watch", "create", "patch")
    assert _verbs("apps", "deployments/scale") == ("patch",)
    # Applied, never watched; nobody writes their status.
    assert _verbs("", "services") == ("get", "create", "patch")
    assert _verbs("", "services/status") == ()
    # Kopf posts Events; a training Job found gone is looked up in its Events (did it complete?).
    assert _verbs("", "events") == ("list", "create")
    # Kopf's own: new CRDs, and the namespaces it is told to watch.
    assert _verbs("apiextensions.k8s.io", "customresourcedefinitions") == ("list", "watch")
    assert _verbs("", "namespaces") == ("list", "watch")
    # A schedule lists its runs and deletes the ones beyond its history limits; drift creates retrains.
    assert set(_verbs("ferryman.dev", "trainingjobs")) >= {"list", "watch", "create", "patch", "delete"}
    assert set(_verbs("ferryman.dev", "driftmonitors")) == {"list", "watch", "patch"}
    assert _verbs("", "secrets") == ()
    # Leader election reads, creates and replaces its Lease (in the release namespace only).
    assert _verbs("coordination.k8s.io", "leases") == ("get", "create", "update")
    # The registry webhook Service's EndpointSlice, applied by the leader (in the release namespace only),
    # beside a read of that Service there (watchNamespaces may leave the release namespace out).
    assert _verbs("discovery.k8s.io", "endpointslices") == ("get", "create", "patch")

    def triples(rules: list[Rule]) -> list[tuple[str, str, tuple[str, ...]]]:
        return [(r.api_group, r.resource, r.verbs) for r in rules]

    assert triples(leader_election_rules(operator_rules())) == [
        ("coordination.k8s.io", "leases", ("get", "create", "update"))
    ]
    assert triples(registry_webhook_rules(operator_rules())) == [
        ("discovery.k8s.io", "endpointslices", ("get", "create", "patch")),
        ("", "services", ("get",)),
    ]
    assert sorted(r.resource for r in operator_rules() if r.own_namespace) == ["endpointslices", "leases"]


def test_every_call_of_the_k8s_package_that_talks_to_the_api_server_has_its_verbs() -> None:
    """A new function in ferryman.k8s.objects must be added to CALL_VERBS, or its calls go ungranted."""
    api_calls = {
        name for name, value in vars(objects).items()
        if inspect.isfunction(value) and value.__module__ == objects.__name__ and not name.startswith("_")
        and "_call(" in inspect.getsource(value)
    }  # fmt: skip
    assert api_calls == set(CALL_VERBS)


def test_a_kind_passed_through_a_parameter_is_resolved_from_default_and_callers() -> None:
    source = textwrap.dedent(
        """
        def write(body, kind=k8s.MODEL_DEPLOYMENT):
            k8s.patch_status(kind, "ns", "n", {})

        def elsewhere(body):
            write(body, kind=k8s.TRAINING_JOB)
            k8s.scale(k8s.DEPLOYMENT, "ns", "n", 0, owner_uid=None)
            k8s.apply(build(body), "ferryman")
        """
    )
    assert direct_calls([source]) == {
        ("patch_status", "MODEL_DEPLOYMENT"),
        ("patch_status", "TRAINING_JOB"),
        ("scale", "DEPLOYMENT"),
        ("apply", "*"),
    }


def test_a_call_whose_kind_cannot_be_told_stops_the_generator() -> None:
    with pytest.raises(ValueError, match=r"k8s\.get"):
        direct_calls(["k8s.get(pick_kind(), 'ns', 'n')"])


def test_applied_kinds_are_those_the_builders_write() -> None:
    source = '{"apiVersion": "batch/v1", "kind": "Job", "metadata": {}}; {"kind": "Pod"}'
    assert built_kinds([source]) == {KNOWN_KINDS["batch/v1", "Job"]}
