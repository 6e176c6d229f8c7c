"""What the operator tells a trainer through its environment (ferryman.api.training_contract), parsed.

Pure: a mapping in, a TrainingContext out. Outside Kubernetes most of it may be missing; only the tracking
URI and the experiment are required, because without them there is nowhere to log.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import TypeAdapter, ValidationError

from ferryman.api import training_contract as contract
from ferryman.api.trainingjob import DataCheck

_CHECKS = TypeAdapter(list[DataCheck])

# Set by the image build or the user; not part of the operator's contract.
ENV_IMAGE = "FERRYMAN_IMAGE"
ENV_GIT_COMMIT = "GIT_COMMIT"


class ContractError(ValueError):
    """The environment is missing something required or holds something unreadable; names the variable."""


@dataclass(frozen=True)
class TrainingContext:
    """One training run's identity and inputs, as the operator (or a person) set them."""

    tracking_uri: str
    experiment: str
    registered_model: str | None = None
    training_job: str | None = None  # NAMESPACE/NAME
    training_job_uid: str | None = None
    data_uri: str | None = None
    data_version: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    data_checks: list[DataCheck] = field(default_factory=list)
    champion_alias: str | None = None
    champion_metric: str | None = None
    image: str | None = None
    git_commit: str | None = None


def context_from_env(
    env: Mapping[str, str],
    experiment: str | None = None,
    registered_model: str | None = None,
    params: Mapping[str, str] | None = None,
) -> TrainingContext:
    """The context from env; the arguments are the script's defaults, which the environment overrides
    (the TrainingJob's spec wins over what the script was written with)."""
    tracking_uri = _get(env, contract.ENV_TRACKING_URI)
    if tracking_uri is None:
        raise ContractError(
            f"{contract.ENV_TRACKING_URI} is not set; set it to the MLflow server URL (the operator sets it "
            "from the TrainingJob's spec.mlflow.trackingUri)"
        )
    chosen_experiment = _get(env, contract.ENV_EXPERIMENT) or experiment
    if chosen_experiment is None:
        raise ContractError(
            f"no experiment: set {contract.ENV_EXPERIMENT} or pass experiment= to training_run()"
        )
    return TrainingContext(
        tracking_uri=tracking_uri,
        experiment=chosen_experiment,
        registered_model=_get(env, contract.ENV_REGISTERED_MODEL) or registered_model,
        training_job=_get(env, contract.ENV_TRAINING_JOB),
        training_job_uid=_get(env, contract.ENV_TRAINING_JOB_UID),
        data_uri=_get(env, contract.ENV_DATA_URI),
        data_version=_get(env, contract.ENV_DATA_VERSION),
        params={**(params or {}), **parse_params(_get(env, contract.ENV_PARAMS))},
        data_checks=parse_data_checks(_get(env, contract.ENV_DATA_CHECKS)),
        champion_alias=_get(env, contract.ENV_CHAMPION_ALIAS),
        champion_metric=_get(env, contract.ENV_CHAMPION_METRIC),
        image=_get(env, ENV_IMAGE),
        git_commit=_get(env, ENV_GIT_COMMIT),
    )


def parse_params(text: str | None) -> dict[str, str]:
    """ENV_PARAMS: a JSON object; values become strings, as MLflow params are."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ContractError(f"{contract.ENV_PARAMS} is not JSON ({error}); write an object") from None
    if not isinstance(value, dict):
        raise ContractError(f"{contract.ENV_PARAMS} must be a JSON object, got {type(value).__name__}")
    return {str(key): item if isinstance(item, str) else json.dumps(item) for key, item in value.items()}


def parse_data_checks(text: str | None) -> list[DataCheck]:
    """ENV_DATA_CHECKS: the JSON list of spec.validation.data entries, camelCase as in the CRD."""
    if not text:
        return []
    try:
        return _CHECKS.validate_json(text)
    except ValidationError as error:
        problems = "; ".join(
            f"[{'.'.join(map(str, issue['loc']))}] {issue['msg']}" for issue in error.errors()
        )
        raise ContractError(f"{contract.ENV_DATA_CHECKS} is not a list of data checks: {problems}") from None


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None
