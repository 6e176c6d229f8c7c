"""ModelDeployment (md): serve a model version and roll new versions out safely."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal, Self

from pydantic import AfterValidator, Field, model_validator

from ferryman.api.analysis import AnalysisResult, EvidenceRecord
from ferryman.api.base import (
    MAX_NAME,
    MAX_TEXT,
    MAX_URI,
    SERVICE_NAME_PATTERN,
    ApiModel,
    CelRule,
    Timestamp,
    cel_rules,
)
from ferryman.api.batch import BatchSpec, BatchStatus
from ferryman.api.meta import ApiResource, Condition, ObjectMeta
from ferryman.api.model_source import ModelSource
from ferryman.api.serving import ServingSpec
from ferryman.api.strategy import StrategySpec
from ferryman.api.traffic import TrafficSpec
from ferryman.api.vocabulary import OutcomeField, PauseReasonField, PhaseField, StrategyKindField

ManualAction = Literal["promote", "abort", "resume"]
ACTION_ANNOTATION = "ferryman.dev/action"
"""Annotation a person (or `ferryman promote|abort|resume`) sets to steer a rollout by hand."""
MANUAL_ACTIONS: tuple[ManualAction, ...] = ("promote", "abort", "resume")

ROUTED_STRATEGY_NEEDS_GATEWAY = CelRule(
    rule=(
        "!has(self.strategy) || (!has(self.strategy.shadow) && !has(self.strategy.abTest)) || "
        "(has(self.traffic) && has(self.traffic.mode) && self.traffic.mode == 'gateway')"
    ),
    message=(
        "spec.strategy: shadow and abTest need spec.traffic.mode: gateway "
        "(a replica ratio can neither mirror requests nor match headers)"
    ),
)


# Names the operator derives from a ModelDeployment's name (builders/naming.py, traffic.py,
# rollout_objects.py). Each is a Service name, a DNS label of at most 63 characters, so the longest
# suffix sets how long the ModelDeployment's own name may be. The rule sits on the object's root (the
# API server lets no rule live under metadata), so its message names the field itself.
DERIVED_NAME_SUFFIXES = ("-stable", "-canary", "-preview", "-mirror")
DNS_LABEL_MAX = 63
MAX_MODEL_DEPLOYMENT_NAME = DNS_LABEL_MAX - max(len(suffix) for suffix in DERIVED_NAME_SUFFIXES)
NAME_FITS_DERIVED_OBJECTS = CelRule(
    rule=f"size(self.metadata.name) <= {MAX_MODEL_DEPLOYMENT_NAME}",
    message=(
        f"metadata.name: at most {MAX_MODEL_DEPLOYMENT_NAME} characters: the operator derives Service "
        f"names such as NAME-preview from it, which must fit in {DNS_LABEL_MAX}; choose a shorter name"
    ),
)

NAME_IS_A_SERVICE_NAME = CelRule(
    rule=f"self.metadata.name.matches('{SERVICE_NAME_PATTERN}')",
    message=(
        "metadata.name: lower-case letters, digits and '-', starting with a letter (no dots): the "
        "operator names Services after it, and a Service name is a DNS label (RFC 1035)"
    ),
)

# spec.batch runs an Indexed Job whose pods are named <Job>-<index>, a DNS label (63); the Job is
# <CronJob>-<minutes since 1970> (8 digits until 2160) and the CronJob NAME-batch, at most 52 (builders/
# batch.py). Up to 10 shards that always fits; from 11 the index takes 2 digits and NAME at most 45.
MAX_SHARDS_FOR_ANY_NAME = 10
MAX_NAME_FOR_MANY_SHARDS = 45
BATCH_SHARDS_FIT_NAME = CelRule(
    rule=(
        f"!has(self.spec.batch) || !has(self.spec.batch.parallelism) || "
        f"self.spec.batch.parallelism <= {MAX_SHARDS_FOR_ANY_NAME} || "
        f"size(self.metadata.name) <= {MAX_NAME_FOR_MANY_SHARDS}"
    ),
    message=(
        f"spec.batch.parallelism: more than {MAX_SHARDS_FOR_ANY_NAME} shards need a ModelDeployment name of "
        f"at most {MAX_NAME_FOR_MANY_SHARDS} characters (each shard's pod is named after the batch Job and "
        "its index, at most 63 characters); use a shorter name or fewer shards"
    ),
)


def _name_fits_derived_objects(name: str) -> str:
    if len(name) > MAX_MODEL_DEPLOYMENT_NAME:
        raise ValueError(NAME_FITS_DERIVED_OBJECTS.message)
    if not re.fullmatch(SERVICE_NAME_PATTERN, name):
        raise ValueError(NAME_IS_A_SERVICE_NAME.message)
    return name


class ModelDeploymentMeta(ObjectMeta):
    """Object metadata, with the name short enough for every object derived from it."""

    name: Annotated[str, AfterValidator(_name_fits_derived_objects)] = Field(
        description="Name of the object, unique in its namespace."
    )


class ModelDeploymentSpec(ApiModel, json_schema_extra=cel_rules(ROUTED_STRATEGY_NEEDS_GATEWAY)):
    """The model to serve, how to serve it, and how new versions roll out."""

    model: ModelSource = Field(
        description="The model to serve; changing it (or its alias moving) starts a rollout."
    )
    serving: ServingSpec = Field(
        default_factory=ServingSpec,
        description="Serving pods: replicas, image, resources.",
        json_schema_extra={"default": {}},
    )
    traffic: TrafficSpec = Field(
        default_factory=TrafficSpec,
        description="How traffic is split between stable and candidate.",
        json_schema_extra={"default": {}},
    )
    strategy: StrategySpec | None = Field(
        default=None,
        description="How a new version rolls out; unset replaces the old version by a plain rolling update.",
    )
    batch: BatchSpec | None = Field(
        default=None,
        description="Score a dataset on a schedule with the version stable serves (serving.replicas: 0 "
        "makes the deployment batch-only).",
    )

    @model_validator(mode="after")
    def _routed_strategy_has_gateway(self) -> Self:
        routed = self.strategy is not None and self.strategy.kind in ("shadow", "abTest")
        if routed and self.traffic.mode != "gateway":
            raise ValueError(ROUTED_STRATEGY_NEEDS_GATEWAY.message)
        return self


class TrackedAlias(ApiModel):
    """The registry alias a `models:/NAME@ALIAS` spec tracks, and the version it named at the last look."""

    name: str = Field(max_length=MAX_TEXT, description="The alias (e.g. production).")
    model: str = Field(max_length=MAX_TEXT, description="The registered model.")
    version: str | None = Field(
        default=None, max_length=MAX_TEXT, description="The version the alias named when last asked."
    )


class RegistryRecord(ApiModel):
    """What the operator last wrote to the registry for this ModelDeployment (each write happens once)."""

    tag: Literal["rejected", "promoted"] = Field(
        description="rejected: the version got ferryman.dev/rejected (and the alias went back to stable); "
        "promoted: the version got ferryman.dev/promoted."
    )
    version: str = Field(max_length=MAX_TEXT, description="The registry version tagged.")
    rollout_started_at: str = Field(max_length=MAX_TEXT, description="The rollout that decided it.")


class ModelDeploymentStatus(ApiModel):
    """What the operator observed and did; the whole rollout state lives here so it resumes after restarts."""

    phase: PhaseField | None = Field(default=None, description="Where the rollout stands.")
    stable_version: str | None = Field(
        default=None, max_length=MAX_TEXT, description="Version serving users."
    )
    canary_version: str | None = Field(default=None, max_length=MAX_TEXT, description="Candidate version.")
    stable_uri: str | None = Field(
        default=None, max_length=MAX_URI, description="Resolved URI of the stable model."
    )
    canary_uri: str | None = Field(
        default=None, max_length=MAX_URI, description="Resolved URI of the candidate."
    )
    canary_weight: int = Field(default=0, ge=0, le=100, description="Percent of traffic on the candidate.")
    current_step: int | None = Field(default=None, ge=0, description="Index into strategy.canary.steps.")
    step_started_at: Timestamp | None = Field(default=None, description="When the current step began.")
    rollout_started_at: Timestamp | None = Field(default=None, description="When the current rollout began.")
    failed_checks: int = Field(default=0, ge=0, description="Failed analyses in this rollout so far.")
    analysis_errors: int = Field(
        default=0, ge=0, description="Metric reads that failed in a row (Prometheus unreachable)."
    )
    strategy: StrategyKindField | None = Field(
        default=None, description="Strategy of the current rollout (canary, blueGreen, ...)."
    )
    window_started_at: Timestamp | None = Field(
        default=None, description="Start of the analysis window being collected."
    )
    traffic_started_at: Timestamp | None = Field(
        default=None, description="When the candidate first received traffic in this rollout."
    )
    unready_since: Timestamp | None = Field(
        default=None, description="Since when the candidate has not been Ready (progressDeadline counts)."
    )
    canary_retire_at: Timestamp | None = Field(
        default=None,
        description="When the finished canary's pods go away: traffic leaves them first (scale-down delay).",
    )
    end_reason: str | None = Field(
        default=None,
        max_length=MAX_NAME,
        description=(
            "Why the last rollout ended without promotion: the reason of its Warning Event (RolledBack, "
            "NotEnoughTraffic, ProgressDeadlineExceeded, RolloutStopped, ...)."
        ),
    )
    pause_reason: PauseReasonField | None = Field(
        default=None, description="Why the rollout is Paused (Step or AwaitingPromotion)."
    )
    last_verdict: OutcomeField | None = Field(
        default=None, description="Outcome of the last analysis: Pass, Fail or Inconclusive."
    )
    evidence: dict[str, EvidenceRecord] = Field(
        default_factory=dict, description="What each check (errorRate, latency) learned in this rollout."
    )
    rejected_version: str | None = Field(
        default=None,
        max_length=MAX_TEXT,
        description="The last version judged bad (or aborted); the same spec does not roll it out again.",
    )
    last_analysis: AnalysisResult | None = Field(default=None, description="The most recent analysis.")
    alias: TrackedAlias | None = Field(
        default=None, description="For a models:/NAME@ALIAS spec: the alias and the version it names."
    )
    registry_record: RegistryRecord | None = Field(
        default=None, description="The last tag the operator wrote to the registry for this object."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=16,
        description=(
            "Ready, Progressing, Degraded, MetricsAvailable (once a rollout ran) and, for an alias-tracking "
            "spec, RegistryReachable and AliasFollowed."
        ),
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    observed_generation: int | None = Field(
        default=None, description="metadata.generation this status describes."
    )
    replicas: int | None = Field(default=None, ge=0, description="Ready pods of the stable track.")
    desired_replicas: int | None = Field(
        default=None,
        ge=0,
        description="Pods the stable Deployment asks for now (under autoscaling: the HPA's choice).",
    )
    promotion_min_replicas: int | None = Field(
        default=None,
        ge=0,
        description=(
            "Under autoscaling, while a promotion moves all traffic to stable: the autoscaler's minimum, "
            "the pods both tracks ran when promotion began (kept until the old canary's pods retire)."
        ),
    )
    message: str | None = Field(default=None, max_length=MAX_TEXT, description="Human-readable summary.")
    batch: BatchStatus | None = Field(default=None, description="Scheduled batch scoring (spec.batch).")


class ModelDeployment(ApiResource):
    """Serves an ONNX model over the Open Inference Protocol and rolls out new versions with analysis."""

    KIND: ClassVar[str] = "ModelDeployment"
    PLURAL: ClassVar[str] = "modeldeployments"
    SINGULAR: ClassVar[str] = "modeldeployment"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("md",)
    ROOT_RULES: ClassVar[tuple[CelRule, ...]] = (
        NAME_FITS_DERIVED_OBJECTS,
        NAME_IS_A_SERVICE_NAME,
        BATCH_SHARDS_FIT_NAME,
    )

    kind: str = Field(default="ModelDeployment", description="ModelDeployment")
    metadata: ModelDeploymentMeta = Field(description="Standard object metadata.")
    spec: ModelDeploymentSpec = Field(description="Desired state.")
    status: ModelDeploymentStatus | None = Field(default=None, description="Observed state.")

    @model_validator(mode="after")
    def _batch_shards_fit_the_name(self) -> Self:
        batch = self.spec.batch
        many = batch is not None and batch.parallelism > MAX_SHARDS_FOR_ANY_NAME
        if many and len(self.metadata.name) > MAX_NAME_FOR_MANY_SHARDS:
            raise ValueError(BATCH_SHARDS_FIT_NAME.message)
        return self

    @model_validator(mode="after")
    def _preview_service_is_not_ours(self) -> Self:
        # The operator applies its own Services after the preview one; a preview named like one of them
        # would replace it with a candidate-only selector and send its clients to the untested version.
        blue_green = self.spec.strategy.blue_green if self.spec.strategy else None
        preview = blue_green.preview_service if blue_green else None
        name = self.metadata.name
        ours = [name] + [name + suffix for suffix in DERIVED_NAME_SUFFIXES if suffix != "-preview"]
        if preview in ours:
            raise ValueError(
                f"spec.strategy.blueGreen.previewService: {preview!r} is a Service the operator makes for "
                f"this ModelDeployment ({', '.join(ours)}); choose another name, or leave it out for "
                f"{name}-preview"
            )
        return self

    def with_version_label(self, label: str) -> ModelDeployment:
        """A copy whose spec.model reports ``label`` as its version label."""
        spec = self.spec.model_copy(update={"model": self.spec.model.with_version_label(label)})
        return self.model_copy(update={"spec": spec})

    def with_model_uri(self, uri: str) -> ModelDeployment:
        """A copy that serves ``uri``: the pinned registry version an alias named when it was resolved."""
        model = self.spec.model.model_copy(update={"uri": uri})
        return self.model_copy(update={"spec": self.spec.model_copy(update={"model": model})})

    def requested_action(self) -> ManualAction | None:
        """The manual action in the ferryman.dev/action annotation; ValueError naming it if unknown."""
        value = (self.metadata.annotations or {}).get(ACTION_ANNOTATION)
        if value is None:
            return None
        for action in MANUAL_ACTIONS:
            if value == action:
                return action
        raise ValueError(f"annotation {ACTION_ANNOTATION}={value!r}: expected one of promote, abort, resume")
