"""values.yaml and values.schema.json come from one definition and agree."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from ferryman.chartgen.values import CHART_VALUES, Group, render_schema, render_values

pytestmark = pytest.mark.unit


def test_every_key_of_values_yaml_has_its_comment_on_the_line_above() -> None:
    lines = render_values().splitlines()
    keys = [i for i, line in enumerate(lines) if not line.lstrip().startswith("#")]
    assert keys
    assert all(lines[i - 1].lstrip().startswith("# ") for i in keys)


def test_defaults_validate_against_the_schema() -> None:
    jsonschema.validate(yaml.safe_load(render_values()), json.loads(render_schema()))


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"replicaCount": -1}, "replicaCount"),
        ({"leaderElection": {"enabled": True, "leaseDurationSeconds": 1}}, "leaseDurationSeconds"),
        ({"image": {"pullPolicy": "Sometimes"}}, "pullPolicy"),
        ({"monitoring": {"podMonitr": {}}}, "podMonitr"),
        ({"resources": {"requests": {"gpu": 1}}}, "gpu"),
        ({"watchNamespaces": ["team-a", "Team_B"]}, "Team_B"),
        ({"operator": {"prometheusUrl": "prometheus:9090"}}, "prometheus:9090"),
        # Each rendered, then the operator refused it at start or the API server refused the pod.
        ({"operator": {"mlflowTrackingUri": "mlflow.mlflow:5000"}}, "mlflow.mlflow:5000"),
        ({"operator": {"mlflowTokenSecret": {"name": "mlflow", "key": ""}}}, "key"),
        ({"operator": {"mlflowTokenSecret": {"name": "My_Secret", "key": "token"}}}, "My_Secret"),
        ({"serviceAccount": {"create": True, "name": "Bad_SA"}}, "Bad_SA"),
        ({"runAsUser": 2**40}, "runAsUser"),
        ({"resources": {"requests": {"cpu": "lots"}}}, "lots"),
    ],
)
def test_schema_refuses_a_wrong_value_naming_it(override: dict[str, object], field: str) -> None:
    values = {**yaml.safe_load(render_values()), **override}
    with pytest.raises(jsonschema.ValidationError, match=field):
        jsonschema.validate(values, json.loads(render_schema()))


def test_every_value_has_a_description_and_a_type() -> None:
    def walk(group: Group) -> None:
        for member in group.members.values():
            assert member.description
            if isinstance(member, Group):
                walk(member)
            else:
                assert member.schema, member.description

    walk(CHART_VALUES)


def test_numbers_and_ephemeral_storage_are_quantities_too() -> None:
    """cpu: 0.5 and ephemeral-storage were refused, though Kubernetes takes both."""
    values = {
        **yaml.safe_load(render_values()),
        "resources": {"requests": {"cpu": 0.5, "ephemeral-storage": "1Gi"}},
    }
    jsonschema.validate(values, json.loads(render_schema()))
