"""TrainingJob (tj): train, validate against gates, register in MLflow, and optionally move an alias."""

from __future__ import annotations

import re
from typing import ClassVar, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from ferryman.api.base import MAX_LIST, MAX_NAME, MAX_TEXT, MAX_URI, ApiModel, CelRule, Timestamp, cel_rules
from ferryman.api.meta import ApiResource, Condition
from ferryman.api.podtemplate import TrainingPodTemplate
from ferryman.api.schedule import schedule_error

TrainingPhase = Literal[
    "Pending", "Running", "Validating", "AwaitingApproval", "Succeeded", "Rejected", "Failed", "Scheduled"
]
Approval = Literal["auto", "manual"]
DataCheckKind = Literal["rowCount", "nullFraction", "mean", "min", "max", "uniqueFraction"]

# Messages name the field relative to the TrainingJob spec: the same spec is embedded in a DriftMonitor's
# retrain template, and the API server prefixes the full path anyway.
DATA_CHECK_BOUND = CelRule(
    rule="has(self.min) || has(self.max)", message="validation.data: each check needs min, max or both"
)
METRIC_GATE_BOUND = CelRule(
    rule="has(self.min) || has(self.max)",
    message="validation.metrics: each metric gate needs min, max or both",
)
COLUMN_NEEDED = CelRule(
    rule="self.check == 'rowCount' || has(self.column)",
    message="validation.data: every check except rowCount needs a column",
)
CHAMPION_NEEDS_ALIAS = CelRule(
    rule="!has(self.validation) || !has(self.validation.mustBeatChampion) || has(self.promote)",
    message="validation.mustBeatChampion needs promote.alias: the champion is the version that alias names",
)
DATA_CHECK_NAMES_DIFFER = CelRule(
    rule="!has(self.data) || self.data.all(c, self.data.exists_one(d, d.name == c.name))",
    message=(
        "validation.data: give each check its own name (the trainer logs one value per name, "
        "data_check.NAME, so two checks of one name were judged on one of the two values)"
    ),
)
# A root rule, not the spec's: the same spec in a DriftMonitor's retrain template may change.
SPEC_FIXED_ONCE_CREATED = CelRule(
    rule="has(oldSelf.spec.schedule) || self.spec == oldSelf.spec",
    message=(
        "spec: a TrainingJob's spec cannot change once it is created: its Job started from it, and a "
        "Job's template cannot change. To train with a new spec, create a TrainingJob of another name "
        "(or delete this one and create it again). Only a TrainingJob with spec.schedule takes edits: "
        "they apply to its next runs"
    ),
)
# MLflow keeps "latest" (any case) and v1, V2, ... for itself: setting such an alias is refused.
RESERVED_ALIAS_RULE = "self.lowerAscii() != 'latest' && !self.matches('^[vV][0-9]+$')"
RESERVED_ALIAS_MESSAGE = (
    "MLflow reserves the alias latest and version-like aliases (v1, V12); choose another name"
)
ALIAS_PATTERN = r"^[A-Za-z0-9_-]+$"
# Logged as the MLflow metric data_check.NAME: MLflow refuses other characters and path-like names.
DATA_CHECK_NAME_PATTERN = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"
TRACKING_URI_PATTERN = r"^https?://[^\s/?#]+([/?#]\S*)?$"
CRON_PATTERN = r"^(@(hourly|daily|weekly|monthly|yearly)|(\S+\s+){4}\S+)$"


def _require_bound(low: float | None, high: float | None, rule: CelRule) -> None:
    if low is None and high is None:
        raise ValueError(rule.message)


class MlflowSpec(ApiModel):
    """Where the run is tracked and the model registered."""

    tracking_uri: str = Field(
        max_length=MAX_URI,
        pattern=TRACKING_URI_PATTERN,
        description="MLflow tracking server URL (http:// or https://).",
    )

    @field_validator("tracking_uri")
    @classmethod
    def _tracking_uri_parses(cls, uri: str) -> str:
        # The pattern cannot see a broken host such as http://[::1 (the registry client would fail on it).
        try:
            urlsplit(uri).port  # noqa: B018  # parsing the port is what raises for a broken host
        except ValueError as error:
            raise ValueError(
                f"mlflow.trackingUri {uri!r} is not a URL ({error}); e.g. http://mlflow:5000"
            ) from None
        return uri

    experiment: str = Field(max_length=MAX_NAME, description="Experiment the run is logged under.")
    registered_model: str = Field(
        max_length=MAX_NAME, description="Registered model that gets the new version."
    )


class DataSource(ApiModel):
    """The training data."""

    uri: str = Field(max_length=MAX_URI, description="Dataset location (s3://, https://, file:///).")
    version: str | None = Field(
        default=None, max_length=MAX_NAME, description="Dataset version or snapshot id, logged with the run."
    )


class DataCheck(ApiModel, json_schema_extra=cel_rules(COLUMN_NEEDED, DATA_CHECK_BOUND)):
    """A statistic of the training data that must lie within [min, max] before training starts."""

    name: str = Field(
        max_length=63,
        pattern=DATA_CHECK_NAME_PATTERN,
        description="Short name shown in status and logged as data_check.NAME (letters, digits, _ - .).",
    )
    check: DataCheckKind = Field(description="Which statistic to compute.")
    column: str | None = Field(
        default=None, max_length=MAX_NAME, description="Column the statistic is about."
    )
    min: float | None = Field(default=None, description="Smallest acceptable value.")
    max: float | None = Field(default=None, description="Largest acceptable value.")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.check != "rowCount" and self.column is None:
            raise ValueError(COLUMN_NEEDED.message)
        _require_bound(self.min, self.max, DATA_CHECK_BOUND)
        return self


class MetricGate(ApiModel, json_schema_extra=cel_rules(METRIC_GATE_BOUND)):
    """A holdout metric the new model must reach, e.g. {name: auc, min: 0.8}."""

    name: str = Field(max_length=MAX_NAME, description="Metric name as logged to MLflow.")
    min: float | None = Field(default=None, description="Smallest acceptable value.")
    max: float | None = Field(default=None, description="Largest acceptable value.")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        _require_bound(self.min, self.max, METRIC_GATE_BOUND)
        return self


class ChampionGate(ApiModel):
    """The new model must beat the version promote.alias names now, on the same holdout."""

    metric: str = Field(max_length=MAX_NAME, description="Metric compared, as logged to MLflow.")
    min_delta: float = Field(default=0.0, description="Margin by which the challenger must win.")
    greater_is_better: bool = Field(default=True, description="False for losses and error metrics.")


class ValidationSpec(ApiModel, json_schema_extra=cel_rules(DATA_CHECK_NAMES_DIFFER)):
    """Gates between training and registration; a failed gate leaves the job Rejected."""

    data: list[DataCheck] = Field(default_factory=list, max_length=MAX_LIST, description="Data checks.")
    metrics: list[MetricGate] = Field(default_factory=list, max_length=MAX_LIST, description="Metric gates.")
    must_beat_champion: ChampionGate | None = Field(default=None, description="Champion comparison.")

    @model_validator(mode="after")
    def _data_check_names_differ(self) -> Self:
        names = [check.name for check in self.data]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"{DATA_CHECK_NAMES_DIFFER.message}; repeated: {', '.join(repeated)}")
        return self


class PromoteSpec(ApiModel):
    """Move a registry alias to the new version once every gate passed."""

    alias: str = Field(
        max_length=MAX_NAME,
        pattern=ALIAS_PATTERN,
        description="Alias to move, e.g. production.",
        json_schema_extra=cel_rules(
            CelRule(rule=RESERVED_ALIAS_RULE, message=f"promote.alias: {RESERVED_ALIAS_MESSAGE}")
        ),
    )
    approval: Approval = Field(
        default="auto",
        description=(
            "auto: the alias moves as soon as every gate passed. manual: the TrainingJob waits in phase "
            "AwaitingApproval until `ferryman approve tj NAME` (or the annotation ferryman.dev/action: "
            "approve); `ferryman reject tj NAME` (action: reject) leaves it Rejected."
        ),
    )
    staging_alias: str | None = Field(
        default=None,
        max_length=MAX_NAME,
        pattern=ALIAS_PATTERN,
        json_schema_extra=cel_rules(
            CelRule(rule=RESERVED_ALIAS_RULE, message=f"promote.stagingAlias: {RESERVED_ALIAS_MESSAGE}")
        ),
        description=(
            "Alias moved first, as soon as every gate passed (e.g. staging), before alias; with manual "
            "approval it moves before the wait, and alias only after approval."
        ),
    )

    @field_validator("alias", "staging_alias")
    @classmethod
    def _not_reserved(cls, alias: str | None) -> str | None:
        if alias is not None and (alias.lower() == "latest" or re.fullmatch(r"[vV][0-9]+", alias)):
            raise ValueError(f"{alias!r}: {RESERVED_ALIAS_MESSAGE}")
        return alias


class TrainingJobSpec(ApiModel, json_schema_extra=cel_rules(CHAMPION_NEEDS_ALIAS)):
    """What to train, where to log it, and which gates it must pass."""

    template: TrainingPodTemplate = Field(
        description="Pod template of the training Job, as in a Kubernetes Job's spec.template."
    )
    mlflow: MlflowSpec = Field(description="Tracking server, experiment and registered model.")
    data: DataSource | None = Field(default=None, description="Training data.")
    params: dict[str, str] = Field(
        default_factory=dict, max_length=64, description="Hyperparameters, passed to the trainer and logged."
    )
    validation: ValidationSpec = Field(
        default_factory=ValidationSpec,
        description="Gates before registration and promotion.",
        json_schema_extra={"default": {}},
    )
    promote: PromoteSpec | None = Field(default=None, description="Alias to move; unset only registers.")
    backoff_limit: int = Field(default=1, ge=0, le=20, description="Retries of a failed training pod.")
    active_deadline_seconds: int | None = Field(default=None, ge=1, description="Time limit of one run.")
    schedule: str | None = Field(
        default=None,
        max_length=128,
        pattern=CRON_PATTERN,
        description=(
            "Cron schedule (five fields, UTC, or @hourly/@daily/@weekly/@monthly/@yearly) for recurring "
            "runs: at each time this TrainingJob creates a child TrainingJob NAME-<minutes since 1970> with "
            "the same spec (without schedule), unless the previous run has not finished. Unset runs once."
        ),
    )
    successful_runs_history_limit: int = Field(
        default=3, ge=0, le=100, description="With schedule: Succeeded runs kept (older ones deleted)."
    )
    failed_runs_history_limit: int = Field(
        default=1,
        ge=0,
        le=100,
        description="With schedule: Failed or Rejected runs kept (older ones deleted).",
    )

    @field_validator("schedule")
    @classmethod
    def _schedule_is_cron(cls, schedule: str | None) -> str | None:
        error = None if schedule is None else schedule_error(schedule)
        if error is not None:
            raise ValueError(error)
        return schedule

    @model_validator(mode="after")
    def _champion_has_alias(self) -> Self:
        if self.validation.must_beat_champion is not None and self.promote is None:
            raise ValueError(CHAMPION_NEEDS_ALIAS.message)
        return self


class GateResult(ApiModel):
    """The outcome of one data check or metric gate."""

    name: str = Field(max_length=MAX_NAME, description="Check or gate name.")
    passed: bool = Field(description="Whether it passed.")
    value: float | None = Field(default=None, description="Measured value.")
    message: str | None = Field(default=None, max_length=MAX_TEXT, description="Value against its limit.")


class TrainingJobStatus(ApiModel):
    """Progress and outcome of the training run."""

    phase: TrainingPhase | None = Field(default=None, description="Where the run stands.")
    job_name: str | None = Field(default=None, max_length=63, description="The Kubernetes Job running it.")
    run_id: str | None = Field(default=None, max_length=MAX_NAME, description="MLflow run id.")
    model_version: str | None = Field(default=None, max_length=63, description="Registered model version.")
    metrics: dict[str, float] = Field(default_factory=dict, description="Metrics the run logged.")
    gates: list[GateResult] = Field(default_factory=list, description="Gate outcomes.")
    started_at: Timestamp | None = Field(default=None, description="When the run started.")
    completed_at: Timestamp | None = Field(default=None, description="When the run finished.")
    last_schedule_time: Timestamp | None = Field(
        default=None, description="With schedule: the last scheduled time handled (run started or skipped)."
    )
    next_schedule_time: Timestamp | None = Field(
        default=None, description="With schedule: the next run's time."
    )
    active_run: str | None = Field(
        default=None,
        max_length=MAX_NAME,
        description="With schedule: the child TrainingJob not finished yet.",
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=16,
        description="Complete, Failed and Rejected.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    observed_generation: int | None = Field(default=None, description="metadata.generation observed.")
    message: str | None = Field(default=None, max_length=MAX_TEXT, description="Human-readable summary.")


class TrainingJob(ApiResource):
    """Trains a model, checks it against gates, registers it in MLflow and optionally promotes it."""

    KIND: ClassVar[str] = "TrainingJob"
    PLURAL: ClassVar[str] = "trainingjobs"
    SINGULAR: ClassVar[str] = "trainingjob"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("tj",)
    ROOT_RULES: ClassVar[tuple[CelRule, ...]] = (SPEC_FIXED_ONCE_CREATED,)

    kind: str = Field(default="TrainingJob", description="TrainingJob")
    spec: TrainingJobSpec = Field(description="Desired state.")
    status: TrainingJobStatus | None = Field(default=None, description="Observed state.")
