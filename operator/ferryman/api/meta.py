"""Object metadata and status conditions, the parts every Ferryman resource shares."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from ferryman.api.base import API_VERSION, MAX_NAME, ApiModel, CelRule, Timestamp

ConditionStatus = Literal["True", "False", "Unknown"]


class ObjectMeta(ApiModel):
    """The subset of Kubernetes object metadata the operator reads."""

    name: str = Field(description="Name of the object, unique in its namespace.")
    namespace: str | None = Field(default=None, description="Namespace of the object.")
    uid: str | None = Field(default=None, description="Unique id assigned by the API server.")
    generation: int | None = Field(default=None, description="Incremented by the API server on spec changes.")
    labels: dict[str, str] | None = Field(default=None, description="Labels of the object.")
    annotations: dict[str, str] | None = Field(default=None, description="Annotations of the object.")
    resource_version: str | None = Field(default=None, description="Opaque version for optimistic locking.")


MAX_CONDITION_MESSAGE = 32768  # metav1.Condition's limit


class Condition(ApiModel):
    """One aspect of the object's state, in the shape of Kubernetes metav1.Condition."""

    type: str = Field(max_length=316, description="Condition type, e.g. Ready, Progressing, Degraded.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str | None = Field(
        default=None, max_length=MAX_NAME, description="CamelCase reason for the last transition."
    )
    message: str | None = Field(
        default=None,
        max_length=MAX_CONDITION_MESSAGE,
        description="Human-readable detail: the field, value and limit.",
    )
    last_transition_time: Timestamp | None = Field(
        default=None, description="When status last changed (RFC 3339)."
    )
    observed_generation: int | None = Field(
        default=None, description="metadata.generation the condition was computed from."
    )


class ApiResource(ApiModel):
    """Fields every Ferryman custom resource has; subclasses add spec and status."""

    KIND: ClassVar[str]
    PLURAL: ClassVar[str]
    SINGULAR: ClassVar[str]
    SHORT_NAMES: ClassVar[tuple[str, ...]]
    ROOT_RULES: ClassVar[tuple[CelRule, ...]] = ()
    """CEL rules on the whole object (the only place the API server lets a rule read metadata.name)."""

    api_version: str = Field(default=API_VERSION, description="ferryman.dev/v1alpha1")
    kind: str = Field(description="Kind of the resource.")
    metadata: ObjectMeta = Field(description="Standard object metadata.")

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str | None:
        return self.metadata.namespace
