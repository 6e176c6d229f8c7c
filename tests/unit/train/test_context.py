"""The contract environment as a trainer reads it: what is required, what defaults, what is refused."""

from __future__ import annotations

import json

import pytest

from ferryman.api import training_contract as contract
from ferryman.train.context import ContractError, context_from_env, parse_data_checks, parse_params
from ferryman.train.environment import choose_seed
from ferryman.train.run import lineage_tags, training_run

pytestmark = pytest.mark.unit

MINIMAL = {contract.ENV_TRACKING_URI: "http://127.0.0.1:5000", contract.ENV_EXPERIMENT: "exp"}


def test_only_tracking_uri_and_experiment_are_required() -> None:
    context = context_from_env(MINIMAL)
    assert (context.tracking_uri, context.experiment) == ("http://127.0.0.1:5000", "exp")
    assert context.registered_model is None and context.params == {} and context.data_checks == []


def test_missing_tracking_uri_names_the_variable() -> None:
    with pytest.raises(ContractError, match="MLFLOW_TRACKING_URI is not set"):
        context_from_env({contract.ENV_EXPERIMENT: "exp"})


def test_missing_experiment_names_the_variable_and_the_argument() -> None:
    with pytest.raises(ContractError, match=r"FERRYMAN_EXPERIMENT or pass experiment="):
        context_from_env({contract.ENV_TRACKING_URI: "http://127.0.0.1:5000"})


def test_environment_overrides_the_scripts_defaults() -> None:
    """The TrainingJob's spec wins over what the script was written with; unset keys keep the defaults."""
    env = {**MINIMAL, contract.ENV_PARAMS: '{"C": "0.5"}', contract.ENV_REGISTERED_MODEL: "from-env"}
    context = context_from_env(
        env, experiment="default", registered_model="default", params={"C": "1", "n": "3"}
    )
    assert context.experiment == "exp" and context.registered_model == "from-env"
    assert context.params == {"C": "0.5", "n": "3"}


def test_params_json_values_become_strings() -> None:
    assert parse_params('{"a": "x", "b": 2, "c": [1]}') == {"a": "x", "b": "2", "c": "[1]"}


@pytest.mark.parametrize(("text", "message"), [("{", "is not JSON"), ("[1]", "must be a JSON object")])
def test_bad_params_name_the_variable(text: str, message: str) -> None:
    with pytest.raises(ContractError, match=f"FERRYMAN_PARAMS {message}"):
        parse_params(text)


def test_data_checks_are_read_in_the_crds_camel_case() -> None:
    (check,) = parse_data_checks('[{"name": "n", "check": "nullFraction", "column": "a", "max": 0.1}]')
    assert (check.check, check.column, check.min, check.max) == ("nullFraction", "a", None, 0.1)


def test_bad_data_checks_name_the_entry_and_the_problem() -> None:
    with pytest.raises(ContractError, match=r"FERRYMAN_DATA_CHECKS .*\[0\].*min, max or both"):
        parse_data_checks('[{"name": "n", "check": "rowCount"}]')


def test_seed_comes_from_params_or_is_chosen() -> None:
    assert choose_seed("17") == 17
    assert 0 <= choose_seed(None) < 2**31
    with pytest.raises(ValueError, match="param seed must be an integer, got 'x'"):
        choose_seed("x")
    with pytest.raises(ValueError, match=r"param seed must be from 0 to 2\*\*32 - 1, got -1"):
        choose_seed("-1")  # numpy raised its own ValueError later, from fix_seed


@pytest.mark.parametrize("seed", ["abc", "-1", "4294967296"])
def test_a_bad_seed_param_is_a_contract_error_naming_the_variable(seed: str) -> None:
    """It was a ValueError: exit code 1, which the Job retries to no end, instead of the contract's 78."""
    env = {**MINIMAL, contract.ENV_PARAMS: json.dumps({"seed": seed})}
    with (
        pytest.raises(ContractError, match=r"FERRYMAN_PARAMS \(spec.params\): param seed must"),
        training_run(env=env),
    ):
        pass


def test_a_bad_seed_from_the_script_names_the_script_not_the_variable() -> None:
    """With no FERRYMAN_PARAMS at all, the message blamed FERRYMAN_PARAMS (spec.params)."""
    with (
        pytest.raises(ContractError, match=r"^training_run\(params=\.\.\.\): param seed must"),
        training_run(env=MINIMAL, params={"seed": "abc"}),
    ):
        pass


def test_lineage_tags_carry_the_training_job_and_leave_out_what_is_unknown() -> None:
    env = {**MINIMAL, contract.ENV_TRAINING_JOB: "ns/tj", contract.ENV_TRAINING_JOB_UID: "u-1",
           contract.ENV_DATA_URI: "s3://b/d.csv", "FERRYMAN_IMAGE": "img:1"}  # fmt: skip
    tags = lineage_tags(context_from_env(env), commit=None)
    assert tags[contract.RUN_TAG_TRAINING_JOB] == "ns/tj"
    assert tags[contract.RUN_TAG_TRAINING_JOB_UID] == "u-1"
    assert tags[contract.RUN_TAG_DATA_URI] == "s3://b/d.csv"
    assert tags[contract.RUN_TAG_IMAGE] == "img:1"
    assert contract.RUN_TAG_GIT_COMMIT not in tags and contract.RUN_TAG_DATA_VERSION not in tags
