"""The Pod template of a training Job: typed where Ferryman or validation needs it, free-form elsewhere.

Only containers[].name/image/command/args are declared, so the schema can require a container with an
image (CEL cannot look inside a schemaless object); every other Pod field (volumes, nodeSelector,
resources, env, ...) is kept as written (x-kubernetes-preserve-unknown-fields) and copied to the Job.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from ferryman.api.base import MAX_TEXT, ApiModel

PRESERVE_UNKNOWN: JsonDict = {"x-kubernetes-preserve-unknown-fields": True}


class _PassThrough(ApiModel):
    """Keeps undeclared keys as written, so nothing the user put in the template is lost."""

    model_config = ConfigDict(extra="allow", json_schema_extra=PRESERVE_UNKNOWN)


class TrainingContainer(_PassThrough):
    """A container of the training pod, as in a Pod spec (other container fields pass through)."""

    name: str = Field(max_length=63, description="Container name.")
    image: str = Field(min_length=1, max_length=MAX_TEXT, description="Training image.")
    command: list[str] | None = Field(default=None, max_length=64, description="Entrypoint.")
    args: list[str] | None = Field(default=None, max_length=256, description="Arguments to the entrypoint.")


class TrainingPodSpec(_PassThrough):
    """The training pod's spec, as in a Pod spec (fields other than containers pass through)."""

    containers: list[TrainingContainer] = Field(
        min_length=1,
        max_length=16,
        description="Containers of the training pod; at least one, each with an image.",
    )
    restart_policy: Literal["Never", "OnFailure"] | None = Field(
        default=None,
        description=(
            "Never (the default: a failed attempt is a new pod, and the Job counts it) or OnFailure. A Job "
            "refuses Always."
        ),
    )


class TrainingPodTemplate(ApiModel):
    """Pod template of the training Job, as in a Kubernetes Job's spec.template."""

    metadata: dict[str, Any] | None = Field(
        default=None,
        description="Labels and annotations of the training pod.",
        json_schema_extra=PRESERVE_UNKNOWN,
    )
    spec: TrainingPodSpec = Field(
        description="Pod spec; the operator adds MLflow and data settings to each container's env."
    )

    def manifest(self) -> dict[str, Any]:
        """The template as API JSON, pass-through fields included, ready for a Job's spec.template."""
        return self.model_dump(by_alias=True, exclude_none=True)
