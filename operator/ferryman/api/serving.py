"""How the serving pods run: replicas, image, resources, autoscaling, environment."""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, model_validator

from ferryman.api.base import MAX_LIST, MAX_NAME, MAX_TEXT, MAX_URI, ApiModel, CelRule, Quantity, cel_rules

DEFAULT_SERVING_IMAGE = "ghcr.io/ferryman-dev/ferryman-serving:0.1.0"
# The serving image's ENTRYPOINT (serving-image/Dockerfile; the serving tier checks they are equal): the
# operator runs exactly this, so a pod behaves the same whether its runtime honours the image or the command.
SERVING_ENTRYPOINT = ("python3", "-m", "ferryman_serving")
# The same image's batch scorer (spec.batch): `score` with one shard per Indexed Job pod.
BATCH_ENTRYPOINT = ("python3", "-m", "ferryman_serving.batch", "score")

AUTOSCALING_BOUNDS = CelRule(
    rule="!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",
    message="spec.serving.autoscaling: minReplicas must not exceed maxReplicas",
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
ENV_NOT_OPERATORS = CelRule(
    rule="!(self.name in [" + ", ".join(f"'{name}'" for name in OPERATOR_ENV_NAMES) + "])",
    message=(
        "spec.serving.env: " + ", ".join(OPERATOR_ENV_NAMES) + " are set by the operator from the spec "
        "(spec.model, spec.serving.port) and its own settings; remove this entry"
    ),
)


class ResourceRequirements(ApiModel):
    """Compute resources for each serving container, as in a Pod spec."""

    requests: dict[str, Quantity] | None = Field(
        default=None,
        max_length=16,
        description="Minimum resources, e.g. {cpu: 500m, memory: 512Mi}.",
    )
    limits: dict[str, Quantity] | None = Field(
        default=None, max_length=16, description="Maximum resources, e.g. {memory: 1Gi}."
    )


class Autoscaling(ApiModel, json_schema_extra=cel_rules(AUTOSCALING_BOUNDS)):
    """Scale each track's pods on in-flight requests per pod instead of a fixed replica count."""

    min_replicas: int = Field(default=1, ge=1, le=100, description="Fewest pods per track.")
    max_replicas: int = Field(ge=1, le=100, description="Most pods per track.")
    target_concurrency: int = Field(
        default=10, ge=1, le=10000, description="In-flight requests per pod that the autoscaler aims for."
    )

    @model_validator(mode="after")
    def _min_within_max(self) -> Self:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"{AUTOSCALING_BOUNDS.message} (got minReplicas {self.min_replicas}, "
                f"maxReplicas {self.max_replicas})"
            )
        return self


class EnvVar(ApiModel, json_schema_extra=cel_rules(ENV_NOT_OPERATORS)):
    """An environment variable for the serving container, as in a Pod spec."""

    name: str = Field(max_length=MAX_NAME, description="Variable name.")
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


class ServingSpec(ApiModel):
    """The pods that serve the model over the Open Inference Protocol."""

    replicas: int = Field(
        default=1, ge=0, le=100, description="Pods per track (stable, canary) when autoscaling is not set."
    )
    image: str = Field(
        default=DEFAULT_SERVING_IMAGE, max_length=MAX_TEXT, description="Serving image to run."
    )
    port: int = Field(default=8080, ge=1, le=65535, description="Container port for HTTP and /metrics.")
    resources: ResourceRequirements | None = Field(
        default=None, description="CPU and memory requests and limits for each serving container."
    )
    autoscaling: Autoscaling | None = Field(
        default=None, description="Scale on concurrency between minReplicas and maxReplicas."
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
