"""What a rollout measures, and what the last measurement said."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from ferryman.api.base import MAX_LIST, MAX_QUERY, MAX_TEXT, ApiModel, CelRule, Timestamp, cel_rules
from ferryman.api.durations import PositiveDuration
from ferryman.api.vocabulary import (
    DEFAULT_FAILURE_LIMIT,
    DEFAULT_MAX_ERROR_RATE,
    DEFAULT_MAX_LATENCY_P99,
    DEFAULT_MIN_REQUESTS,
    DEFAULT_NO_TRAFFIC_DEADLINE,
    OutcomeField,
)

METRIC_NEEDS_BOUND = CelRule(
    rule="has(self.max) || has(self.min)",
    message="analysis.metrics: each custom metric needs max, min or both",
)


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
        default=DEFAULT_MAX_ERROR_RATE,
        ge=0,
        le=1,
        description=(
            "Highest acceptable share of 5xx responses (0.01 = 1%). A canary is also rolled back below it "
            "when it is clearly worse than stable (docs/rollouts.md, The judge)."
        ),
    )
    max_latency_p99: PositiveDuration = Field(
        default=DEFAULT_MAX_LATENCY_P99,
        description=(
            "Highest acceptable p99 latency, as users see it (at the Gateway where traffic passes one)."
        ),
    )
    min_requests: int = Field(
        default=DEFAULT_MIN_REQUESTS,
        ge=1,
        description="Requests the candidate needs in the window before it is judged; fewer means wait.",
    )
    failure_limit: int = Field(
        default=DEFAULT_FAILURE_LIMIT,
        ge=1,
        le=100,
        description=(
            "Failed windows of the custom metrics that trigger a rollback. Errors and latency roll back "
            "as soon as their evidence is decisive."
        ),
    )
    no_traffic_deadline: PositiveDuration = Field(
        default=DEFAULT_NO_TRAFFIC_DEADLINE,
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


class CheckRecord(ApiModel):
    """One count check (errors, slow requests) in the judged window: bad events among all, per track."""

    name: str = Field(max_length=63, description="errorRate or latency.")
    canary_bad: int = Field(ge=0, description="Candidate requests that failed this check in the window.")
    canary_total: int = Field(ge=0, description="Candidate requests the check counted in the window.")
    stable_bad: int = Field(ge=0, description="Stable requests that failed this check in the window.")
    stable_total: int = Field(ge=0, description="Stable requests the check counted in the window.")
    evidence: float = Field(
        ge=0,
        description=(
            "Odds against a healthy candidate from all windows of this rollout so far; the rollout rolls "
            "back when they reach 400 to 1 (significance 0.005 shared by two checks) and the difference "
            "matters (docs/rollouts.md)."
        ),
    )


class EvidenceRecord(ApiModel):
    """What one check learned in the windows closed so far (the judge's memory; see docs/rollouts.md)."""

    log_e: list[float] = Field(max_length=16, description="Log of the test martingale for each ratio.")
    canary: list[int] = Field(max_length=2, description="[bad, total] candidate events beside stable.")
    stable: list[int] = Field(max_length=2, description="[bad, total] stable events beside the candidate.")
    alone: list[int] = Field(
        max_length=2, description="[bad, total] candidate events without stable to compare."
    )


class AnalysisResult(ApiModel):
    """The most recent comparison of candidate and stable."""

    at: Timestamp | None = Field(default=None, description="When the analysis ran.")
    verdict: OutcomeField = Field(
        description=(
            "Pass (continue), Fail (rolled back or counted toward failureLimit) or Inconclusive (wait)."
        )
    )
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
    latency_source: str | None = Field(
        default=None, max_length=63, description="Where latency was measured: gateway or server."
    )
    error_source: str | None = Field(
        default=None,
        max_length=63,
        description="Where 5xx answers were counted: gateway (its own errors included) or server.",
    )
    checks: list[CheckRecord] = Field(default_factory=list, max_length=16, description="Count checks.")
    metrics: list[MetricResult] = Field(
        default_factory=list, max_length=MAX_LIST, description="Custom metric values."
    )
