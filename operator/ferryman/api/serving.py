"""How the serving pods run: replicas, image, resources, autoscaling, environment."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import AfterValidator, Field, model_validator

from ferryman.api.base import (
    MAX_LIST,
    MAX_NAME,
    MAX_TEXT,
    MAX_URI,
    ApiModel,
    CelRule,
    Quantity,
    cel_rules,
    quantity_value,
)
from ferryman.api.durations import Duration, parse_duration

DEFAULT_SERVING_IMAGE = "ghcr.io/ferryman-dev/ferryman-serving:0.1.0"
# The serving image's ENTRYPOINT (serving-image/Dockerfile; the serving tier checks they are equal): the
# operator runs exactly this, so a pod behaves the same whether its runtime honours the image or the command.
SERVING_ENTRYPOINT = ("python3", "-m", "ferryman_serving")
# The batch image: the serving image's code plus pyarrow (serving-image/requirements-batch.txt), kept apart
# so that the serving image stays small.
DEFAULT_BATCH_IMAGE = "ghcr.io/ferryman-dev/ferryman-batch:0.1.0"
# The batch image's scorer (spec.batch): `score` with one shard per Indexed Job pod.
BATCH_ENTRYPOINT = ("python3", "-m", "ferryman_serving.batch", "score")

AUTOSCALING_BOUNDS = CelRule(
    rule="!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",
    message="spec.serving.autoscaling: minReplicas must not exceed maxReplicas",
)
# replicas has no schema default, so has() tells whether the user wrote it: with autoscaling the
# HorizontalPodAutoscaler owns the replica count and a fixed one would be silently ignored.
REPLICAS_OR_AUTOSCALING = CelRule(
    rule="!has(self.replicas) || !has(self.autoscaling)",
    message=(
        "spec.serving: replicas and autoscaling cannot both be set (the autoscaler chooses the replica "
        "count between autoscaling.minReplicas and maxReplicas); remove one of them"
    ),
)
DEFAULT_REPLICAS = 1
# The HorizontalPodAutoscaler refuses a stabilization window above one hour.
MAX_STABILIZATION_SECONDS = 3600
STABILIZATION_AT_MOST_AN_HOUR = CelRule(
    rule=f"duration(self) <= duration('{MAX_STABILIZATION_SECONDS}s')",
    message="at most 1h (the HorizontalPodAutoscaler's limit)",
)

# The serving container's variables the operator sets itself (builders/serving.py): a user entry of the
# same name would silently win in the Pod (the last duplicate does), serving another model or port.
OPERATOR_ENV_NAMES = (
    "FERRYMAN_MODEL_URI",
    "FERRYMAN_MODEL_NAME",
    "FERRYMAN_MODEL_VERSION",
    "FERRYMAN_PORT",
    "FERRYMAN_HOST",
    "FERRYMAN_MLFLOW_TRACKING_URI",
    "FERRYMAN_DRAIN_SECONDS",
    "FERRYMAN_GRACEFUL_TIMEOUT_SECONDS",
)
# Kubernetes' (relaxed, 1.30+) rule for environment variable names: printable ASCII, no '=' (which would
# split the entry). Refused here so that `A=B` or an empty name never reaches a Deployment the API refuses.
ENV_NAME_PATTERN = r"^[ -<>-~]+$"
ENV_NOT_OPERATORS = CelRule(
    rule="!(self.name in [" + ", ".join(f"'{name}'" for name in OPERATOR_ENV_NAMES) + "])",
    message=(
        "spec.serving.env: " + ", ".join(OPERATOR_ENV_NAMES) + " are set by the operator from the spec "
        "(spec.model, spec.serving.port) and its own settings; remove this entry"
    ),
)


def _at_most_an_hour(text: str) -> str:
    if parse_duration(text).total_seconds() > MAX_STABILIZATION_SECONDS:
        raise ValueError(f"{STABILIZATION_AT_MOST_AN_HOUR.message}, got {text}")
    return text


# The API server refuses a container whose request exceeds its limit; said here, at apply, not when the
# Deployment built from the spec is refused. (int-or-string values: string() makes both a string.)
REQUESTS_WITHIN_LIMITS = CelRule(
    rule=(
        "!has(self.requests) || !has(self.limits) || self.requests.all(name, !(name in self.limits) || "
        "quantity(string(self.requests[name])).compareTo(quantity(string(self.limits[name]))) <= 0)"
    ),
    message="spec.serving.resources: each request must be at most its limit (a container's rule)",
)


class ResourceRequirements(ApiModel, json_schema_extra=cel_rules(REQUESTS_WITHIN_LIMITS)):
    """Compute resources for each serving container, as in a Pod spec."""

    requests: dict[str, Quantity] | None = Field(
        default=None,
        max_length=16,
        description="Minimum resources, e.g. {cpu: 500m, memory: 512Mi}.",
    )
    limits: dict[str, Quantity] | None = Field(
        default=None, max_length=16, description="Maximum resources, e.g. {memory: 1Gi}."
    )

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Self:
        limits = self.limits or {}
        over = [
            f"{name} {amount} > {limits[name]}"
            for name, amount in (self.requests or {}).items()
            if name in limits and quantity_value(amount) > quantity_value(limits[name])
        ]
        if over:
            raise ValueError(f"{REQUESTS_WITHIN_LIMITS.message} (got {', '.join(over)})")
        return self


class Autoscaling(ApiModel, json_schema_extra=cel_rules(AUTOSCALING_BOUNDS)):
    """Scale the stable pods on in-flight requests per pod (a HorizontalPodAutoscaler); a canary follows
    its traffic share of them."""

    min_replicas: int = Field(default=1, ge=1, le=100, description="Fewest stable pods.")
    max_replicas: int = Field(ge=1, le=100, description="Most stable pods.")
    target_in_flight: int = Field(
        default=10,
        ge=1,
        le=10000,
        description=(
            "Requests in flight per pod (the ferryman_inflight_requests metric, averaged over the stable "
            "pods) that the autoscaler aims for."
        ),
    )
    scale_down_stabilization: Annotated[Duration, AfterValidator(_at_most_an_hour)] = Field(
        default="5m",
        description=(
            "How long the autoscaler waits, taking the highest recommendation of that window, before it "
            "removes pods (the HorizontalPodAutoscaler's behavior.scaleDown.stabilizationWindowSeconds); "
            "at most 1h."
        ),
        json_schema_extra=cel_rules(STABILIZATION_AT_MOST_AN_HOUR),
    )

    @model_validator(mode="after")
    def _min_within_max(self) -> Self:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"{AUTOSCALING_BOUNDS.message} (got minReplicas {self.min_replicas}, "
                f"maxReplicas {self.max_replicas})"
            )
        return self

    @property
    def scale_down_stabilization_seconds(self) -> int:
        return int(parse_duration(self.scale_down_stabilization).total_seconds())


class EnvVar(ApiModel, json_schema_extra=cel_rules(ENV_NOT_OPERATORS)):
    """An environment variable for the serving container, as in a Pod spec."""

    name: str = Field(
        min_length=1,
        max_length=MAX_NAME,
        pattern=ENV_NAME_PATTERN,
        description="Variable name: printable ASCII characters except '=' (as the API server checks).",
    )
    value: str | None = Field(default=None, max_length=MAX_URI, description="Literal value.")
    value_from: dict[str, Any] | None = Field(
        default=None,
        description="Source of the value (secretKeyRef, configMapKeyRef, fieldRef), copied to the Pod as is.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )

    @model_validator(mode="after")
    def _not_an_operator_variable(self) -> Self:
        if self.name in OPERATOR_ENV_NAMES:
            raise ValueError(f"{ENV_NOT_OPERATORS.message} (got {self.name})")
        return self


class ServingSpec(ApiModel, json_schema_extra=cel_rules(REPLICAS_OR_AUTOSCALING)):
    """The pods that serve the model over the Open Inference Protocol."""

    replicas: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description=(
            f"Pods per track (stable, canary); {DEFAULT_REPLICAS} when neither this nor autoscaling is set. "
            "Not together with autoscaling."
        ),
    )
    image: str = Field(
        default=DEFAULT_SERVING_IMAGE, max_length=MAX_TEXT, description="Serving image to run."
    )
    port: int = Field(default=8080, ge=1, le=65535, description="Container port for HTTP and /metrics.")
    resources: ResourceRequirements | None = Field(
        default=None, description="CPU and memory requests and limits for each serving container."
    )
    autoscaling: Autoscaling | None = Field(
        default=None,
        description=(
            "Scale the stable pods between minReplicas and maxReplicas on requests in flight per pod, with "
            "a HorizontalPodAutoscaler (needs the custom metrics API, e.g. prometheus-adapter; see "
            "docs/autoscaling.md). Not together with replicas."
        ),
    )
    env: list[EnvVar] | None = Field(
        default=None, max_length=MAX_LIST, description="Extra environment for the serving container."
    )
    pod_annotations: dict[str, str] | None = Field(
        default=None,
        max_length=MAX_LIST,
        description=(
            "Extra annotations on the serving pods (service mesh, log shipping, ...). The operator's own "
            "(prometheus.io/*, ferryman.dev/*) take precedence."
        ),
    )

    @model_validator(mode="after")
    def _replicas_or_autoscaling(self) -> Self:
        if self.replicas is not None and self.autoscaling is not None:
            raise ValueError(f"{REPLICAS_OR_AUTOSCALING.message} (got replicas {self.replicas})")
        return self

    @property
    def fixed_replicas(self) -> int:
        """Pods per track without autoscaling."""
        return DEFAULT_REPLICAS if self.replicas is None else self.replicas
