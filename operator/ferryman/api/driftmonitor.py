"""DriftMonitor (dm): watch live feature distributions against the training reference; retrain on drift."""

from __future__ import annotations

from typing import ClassVar, Literal, Self

from pydantic import Field, model_validator

from ferryman.api.base import MAX_NAME, MAX_TEXT, OBJECT_NAME_PATTERN, ApiModel, CelRule, Timestamp, cel_rules
from ferryman.api.durations import Duration, PositiveDuration
from ferryman.api.meta import ApiResource, Condition
from ferryman.api.trainingjob import TrainingJobSpec

DriftPhase = Literal["Pending", "Collecting", "Healthy", "Drifted", "Retraining", "Degraded"]
MAX_FEATURES = 256


class ModelDeploymentRef(ApiModel):
    """A ModelDeployment in the same namespace."""

    name: str = Field(
        max_length=MAX_NAME, pattern=OBJECT_NAME_PATTERN, description="Name of the ModelDeployment."
    )


class DriftTests(ApiModel):
    """Per-feature thresholds; a feature drifts when any enabled score crosses its threshold."""

    psi: float | None = Field(
        default=0.2,
        ge=0,
        description=(
            "Population Stability Index threshold (0.2 is the usual alarm), compared with PSI less the part "
            "that sampling noise explains. Null: off."
        ),
    )
    js: float | None = Field(
        default=0.1,
        ge=0,
        le=1,
        description=(
            "Jensen-Shannon distance threshold (base 2, 0..1), compared with the distance less the part that "
            "sampling noise explains. Null: off."
        ),
    )
    p_value: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description=(
            "G-test of the binned counts against the reference sample: a feature drifts when its p-value is "
            "below pValue divided by the number of series tested (Bonferroni). Unset: off. Catches small "
            "shifts that PSI and JS miss once enough samples are in (docs/drift.md)."
        ),
    )
    prediction: bool = Field(default=True, description="Also test the prediction histogram.")


class PerformanceTest(ApiModel):
    """Concept drift from delayed labels (POST .../feedback on the serving pods, docs/serving.md)."""

    min_accuracy: float = Field(
        gt=0, le=1, description="The stable version's accuracy over the window must stay at or above this."
    )
    min_labels: int = Field(
        default=100, ge=1, description="Labelled rows needed in the window before accuracy is judged."
    )


class TemplateMetadata(ApiModel):
    """Labels and annotations given to each TrainingJob created from the template."""

    labels: dict[str, str] | None = Field(default=None, description="Labels of created TrainingJobs.")
    annotations: dict[str, str] | None = Field(
        default=None, description="Annotations of created TrainingJobs."
    )


RETRAIN_RUNS_ONCE = CelRule(
    rule="!has(self.spec.schedule)",
    message=(
        "spec.onDrift.retrain.trainingJobTemplate.spec.schedule: a retrain runs once when drift is "
        "confirmed; remove schedule (recurring training belongs in a TrainingJob of its own)"
    ),
)


class TrainingJobTemplate(ApiModel, json_schema_extra=cel_rules(RETRAIN_RUNS_ONCE)):
    """The TrainingJob to create when drift is confirmed."""

    metadata: TemplateMetadata | None = Field(default=None, description="Labels and annotations.")
    spec: TrainingJobSpec = Field(description="Spec of the created TrainingJob.")

    @model_validator(mode="after")
    def _runs_once(self) -> Self:
        if self.spec.schedule is not None:
            raise ValueError(RETRAIN_RUNS_ONCE.message)
        return self


class RetrainSpec(ApiModel):
    """Retrain by creating a TrainingJob."""

    training_job_template: TrainingJobTemplate = Field(description="TrainingJob to create on drift.")


class OnDrift(ApiModel):
    """What to do once drift is confirmed."""

    retrain: RetrainSpec | None = Field(default=None, description="Create a TrainingJob; unset only reports.")
    cooldown: Duration = Field(default="6h", description="Least time between two retrains.")


# Two specs that judge nothing and would report Healthy forever. Defaulted fields are guarded with has():
# the API server checks rules before nested defaults are filled in (ferryman.api.base.CelRule).
SOMETHING_TO_TEST = CelRule(
    rule=(
        "has(self.performance) || !has(self.features) || size(self.features) > 0 || "
        "!has(self.tests) || !has(self.tests.prediction) || self.tests.prediction"
    ),
    message=(
        "spec.features: an empty list, with tests.prediction false and no performance, tests nothing; "
        "name features, or leave features out to test every feature of the profile"
    ),
)
# The drift monitor's own series: never a profile feature (the serving image refuses such a profile).
OWN_SERIES = ("prediction", "accuracy")
FEATURES_ARE_PROFILE_FEATURES = CelRule(
    rule="!has(self.features) || self.features.all(f, f != 'prediction' && f != 'accuracy')",
    message=(
        "spec.features: list features of the reference profile; the prediction is tested with "
        "tests.prediction and accuracy with spec.performance"
    ),
)
SOME_SCORE_ON = CelRule(
    rule=(
        # A null (nullable) field reads as absent to has().
        "has(self.performance) || !has(self.tests) || "
        "has(self.tests.psi) || has(self.tests.js) || has(self.tests.pValue)"
    ),
    message=(
        "spec.tests: psi and js are null and pValue is unset, so no feature can drift; keep one of them "
        "(or judge accuracy with spec.performance)"
    ),
)


class DriftMonitorSpec(
    ApiModel, json_schema_extra=cel_rules(SOMETHING_TO_TEST, SOME_SCORE_ON, FEATURES_ARE_PROFILE_FEATURES)
):
    """Which deployment to watch, how, and what to do on drift."""

    model_deployment_ref: ModelDeploymentRef = Field(description="The ModelDeployment to watch.")
    window: PositiveDuration = Field(
        default="10m", description="Window of live traffic compared with the reference."
    )
    interval: PositiveDuration = Field(default="1m", description="How often the scores are computed.")
    features: list[str] | None = Field(
        default=None,
        max_length=MAX_FEATURES,
        description="Features to test; unset tests every feature of the reference profile.",
    )
    tests: DriftTests = Field(
        default_factory=DriftTests, description="Thresholds.", json_schema_extra={"default": {}}
    )
    min_samples: int = Field(
        default=500, ge=1, description="Live samples needed in the window before judging."
    )
    performance: PerformanceTest | None = Field(
        default=None,
        description='Accuracy from delayed labels as one more drift signal (series "accuracy"); unset: off.',
    )
    consecutive: int = Field(
        default=2, ge=1, le=100, description="Windows in a row a feature must drift before it counts."
    )
    on_drift: OnDrift | None = Field(
        default=None, description="Action on confirmed drift; unset only reports."
    )

    @model_validator(mode="after")
    def _judges_something(self) -> Self:
        if self.features and any(name in OWN_SERIES for name in self.features):
            raise ValueError(FEATURES_ARE_PROFILE_FEATURES.message)
        if self.performance is None:
            if self.features == [] and not self.tests.prediction:
                raise ValueError(SOMETHING_TO_TEST.message)
            tests = self.tests
            if tests.psi is None and tests.js is None and tests.p_value is None:
                raise ValueError(SOME_SCORE_ON.message)
        return self

    def monitors_all_features(self) -> bool:
        return self.features is None


class FeatureScore(ApiModel):
    """Drift scores of one feature (or of the prediction) over the last window."""

    feature: str = Field(max_length=MAX_NAME, description="Feature name, or 'prediction'.")
    psi: float | None = Field(default=None, description="Population Stability Index, sampling noise removed.")
    js: float | None = Field(default=None, description="Jensen-Shannon distance, sampling noise removed.")
    p_value: float | None = Field(default=None, description="G-test p-value (tests.pValue set).")
    accuracy: float | None = Field(
        default=None, description='Accuracy from delayed labels (series "accuracy").'
    )
    samples: int = Field(default=0, ge=0, description="Live samples in the window.")
    drifted: bool = Field(default=False, description="Whether a threshold was exceeded this window.")
    consecutive: int = Field(default=0, ge=0, description="Drifting windows in a row.")


class RetrainRecord(ApiModel):
    """The most recent retrain this monitor started."""

    at: Timestamp = Field(description="When the TrainingJob was created.")
    training_job: str = Field(max_length=MAX_NAME, description="Name of the created TrainingJob.")
    features: list[str] = Field(default_factory=list, description="Features whose drift caused it.")


class DriftMonitorStatus(ApiModel):
    """The last scores and what the monitor did about them."""

    phase: DriftPhase | None = Field(default=None, description="Where the monitor stands.")
    feature_scores: list[FeatureScore] = Field(default_factory=list, description="Scores per feature.")
    drifted_features: list[str] = Field(default_factory=list, description="Features with confirmed drift.")
    stable_version: str | None = Field(
        default=None,
        max_length=MAX_TEXT,
        description="The stable version the scores are about; streaks restart when another takes over.",
    )
    last_check_time: Timestamp | None = Field(default=None, description="When scores were last computed.")
    last_retrain: RetrainRecord | None = Field(default=None, description="The most recent retrain.")
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=16,
        description="Ready and Drifted.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    observed_generation: int | None = Field(default=None, description="metadata.generation observed.")
    message: str | None = Field(default=None, max_length=MAX_TEXT, description="Human-readable summary.")


class DriftMonitor(ApiResource):
    """Compares live feature distributions with the training reference and retrains on confirmed drift."""

    KIND: ClassVar[str] = "DriftMonitor"
    PLURAL: ClassVar[str] = "driftmonitors"
    SINGULAR: ClassVar[str] = "driftmonitor"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("dm",)

    kind: str = Field(default="DriftMonitor", description="DriftMonitor")
    spec: DriftMonitorSpec = Field(description="Desired state.")
    status: DriftMonitorStatus | None = Field(default=None, description="Observed state.")
