"""What a rollout measures, and what the last measurement said."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from ferryman.api.base import MAX_LIST, MAX_QUERY, MAX_TEXT, ApiModel, CelRule, Timestamp, cel_rules
from ferryman.api.durations import Duration

METRIC_NEEDS_BOUND = CelRule(
    rule="has(self.max) || has(self.min)",
    message="analysis.metrics: each custom metric needs max, min or both",
)

Verdict = Literal["Pass", "Fail", "Wait"]


class CustomMetric(ApiModel, json_schema_extra=cel_rules(METRIC_NEEDS_BOUND)):
    """An extra PromQL check on the candidate; the step fails when the value leaves [min, max]."""

    name: str = Field(
        max_length=63,
        pattern=r"^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$",
        description="Short name shown in status and Events.",
    )
    query: str = Field(
        max_length=MAX_QUERY,
        description=(
            "PromQL returning one number. Placeholders {{namespace}}, {{name}} and {{track}} "
            "(stable, canary) are replaced before the query runs."
        ),
    )
    max: float | None = Field(default=None, description="Largest acceptable value.")
    min: float | None = Field(default=None, description="Smallest acceptable value.")

    @model_validator(mode="after")
    def _has_bound(self) -> Self:
        if self.max is None and self.min is None:
            raise ValueError(METRIC_NEEDS_BOUND.message)
        return self


class AnalysisSpec(ApiModel):
    """How the candidate is judged against the stable version in the same window."""

    max_error_rate: float = Field(
        default=0.01, ge=0, le=1, description="Highest acceptable share of 5xx responses (0.01 = 1%)."
    )
    max_latency_p99: Duration = Field(default="500ms", description="Highest acceptable p99 latency.")
    min_requests: int = Field(
        default=100,
        ge=0,
        description="Requests the candidate needs in the window before it is judged; fewer means wait.",
    )
    failure_limit: int = Field(default=2, ge=1, le=100, description="Failed checks that trigger a rollback.")
    no_traffic_deadline: Duration = Field(
        default="10m",
        description="How long a step may wait for minRequests before the rollout is marked Degraded.",
    )
    metrics: list[CustomMetric] = Field(
        default_factory=list, max_length=MAX_LIST, description="Extra PromQL checks."
    )


class MetricResult(ApiModel):
    """The measured value of one custom metric."""

    name: str = Field(max_length=63, description="Name of the custom metric.")
    value: float | None = Field(default=None, description="Measured value; unset when the query gave none.")
    passed: bool = Field(description="Whether the value stayed within its bounds.")


class AnalysisResult(ApiModel):
    """The most recent comparison of candidate and stable."""

    at: Timestamp | None = Field(default=None, description="When the analysis ran.")
    verdict: Verdict = Field(description="Pass (continue), Fail (counts toward failureLimit) or Wait.")
    message: str | None = Field(
        default=None, max_length=MAX_TEXT, description="Which check decided, with measured value and limit."
    )
    canary_error_rate: float | None = Field(default=None, description="Candidate 5xx share in the window.")
    stable_error_rate: float | None = Field(default=None, description="Stable 5xx share in the window.")
    canary_latency_p99_seconds: float | None = Field(
        default=None, description="Candidate p99 latency in seconds."
    )
    stable_latency_p99_seconds: float | None = Field(
        default=None, description="Stable p99 latency in seconds."
    )
    canary_requests: float | None = Field(default=None, description="Candidate requests in the window.")
    stable_requests: float | None = Field(default=None, description="Stable requests in the window.")
    p_value: float | None = Field(
        default=None, description="p-value of the test that candidate errors exceed stable errors."
    )
    metrics: list[MetricResult] = Field(
        default_factory=list, max_length=MAX_LIST, description="Custom metric values."
    )
