"""Rollout strategies: canary steps, blue-green, shadow (mirroring) and A/B routing."""

from __future__ import annotations

import itertools
from typing import Literal, Self

from pydantic import Field, model_validator

from ferryman.api.analysis import AnalysisSpec
from ferryman.api.base import MAX_LIST, MAX_NAME, MAX_TEXT, SERVICE_NAME_PATTERN, ApiModel, CelRule, cel_rules
from ferryman.api.durations import Duration, PositiveDuration
from ferryman.api.vocabulary import DEFAULT_CANARY_WEIGHTS, DEFAULT_INTERVAL, DEFAULT_PROGRESS_DEADLINE

STEP_WEIGHT_XOR_PAUSE = CelRule(
    rule="has(self.weight) != has(self.pause)",
    message="spec.strategy.canary.steps: each step sets exactly one of weight or pause",
)
# Strictly rising, not merely non-decreasing: a repeated weight shifts no traffic and only waits one more
# interval, which a pause step says explicitly; a repeat is almost always a typo (25, 25 for 25, 50).
CANARY_WEIGHTS_RISE = CelRule(
    rule=(
        "self.steps.filter(s, has(s.weight)).map(s, s.weight).isSorted() && "
        "self.steps.filter(s, has(s.weight)).all(s, "
        "self.steps.filter(t, has(t.weight) && t.weight == s.weight).size() == 1)"
    ),
    message=(
        "spec.strategy.canary.steps: weights must rise strictly from step to step (within 1-100); "
        "use a pause step to hold a weight"
    ),
)
CANARY_NEEDS_WEIGHT = CelRule(
    rule="self.steps.exists(s, has(s.weight))",
    message="spec.strategy.canary.steps: add at least one weight step, e.g. {weight: 10}",
)
STRATEGY_EXACTLY_ONE = CelRule(
    rule=(
        "(has(self.canary) ? 1 : 0) + (has(self.blueGreen) ? 1 : 0) + "
        "(has(self.shadow) ? 1 : 0) + (has(self.abTest) ? 1 : 0) == 1"
    ),
    message="spec.strategy: set exactly one of canary, blueGreen, shadow, abTest",
)
AUTO_PROMOTE_AFTER_NEEDS_AUTO_PROMOTE = CelRule(
    rule="!has(self.autoPromoteAfter) || (has(self.autoPromote) && self.autoPromote)",
    message="spec.strategy.blueGreen.autoPromoteAfter needs autoPromote: true",
)
MATCH_NEEDS_CONDITION = CelRule(
    rule="(has(self.headers) && size(self.headers) > 0) || has(self.cookie)",
    message="spec.strategy.abTest.match: each match needs headers or a cookie",
)
# The Gateway API compares header names without case and, of equivalent names, uses only the first: a
# second condition on the same header would be dropped without a word, widening the match.
MATCH_HEADER_NAMES_DIFFER = CelRule(
    rule=(
        "!has(self.headers) || self.headers.all(h, "
        "self.headers.exists_one(g, g.name.lowerAscii() == h.name.lowerAscii()))"
    ),
    message=(
        "spec.strategy.abTest.match: each header name once per match (names compare without case); "
        "for two values of one header use two matches, or one RegularExpression"
    ),
)
# The cookie becomes one more header condition of the HTTPRoute match, which takes at most 16.
MATCH_AT_MOST_16_CONDITIONS = CelRule(
    rule="!has(self.cookie) || !has(self.headers) || size(self.headers) <= 15",
    message=(
        "spec.strategy.abTest.match: a Gateway API match holds at most 16 header conditions and the cookie "
        "is one of them; use at most 15 headers beside a cookie"
    ),
)
MATCH_COOKIE_OR_COOKIE_HEADER = CelRule(
    rule=(
        "!has(self.cookie) || !has(self.headers) || !self.headers.exists(h, h.name.lowerAscii() == 'cookie')"
    ),
    message=(
        "spec.strategy.abTest.match: cookie is a condition on the Cookie header; set cookie or a Cookie "
        "header in one match, not both"
    ),
)


class RolloutTiming(ApiModel):
    """How often the candidate is judged and how long it may take to become ready (every strategy)."""

    interval: PositiveDuration = Field(
        default=DEFAULT_INTERVAL, description="Length of an analysis window (the least time a step lasts)."
    )
    progress_deadline: PositiveDuration = Field(
        default=DEFAULT_PROGRESS_DEADLINE,
        description="How long the candidate may take to become ready before the rollout fails.",
    )


class PauseStep(ApiModel):
    """Hold the current weight: for a duration, or until `ferryman promote` / the resume annotation."""

    duration: Duration | None = Field(
        default=None, description="How long to hold; without it the rollout waits for a manual promote."
    )


class CanaryStep(ApiModel, json_schema_extra=cel_rules(STEP_WEIGHT_XOR_PAUSE)):
    """One step of a canary: shift traffic to a weight, or pause."""

    weight: int | None = Field(
        # From 1: a step at 0 sends the candidate nothing to judge and ends the rollout "not enough traffic".
        default=None,
        ge=1,
        le=100,
        description="Percent of traffic to send to the candidate (1-100).",
    )
    pause: PauseStep | None = Field(default=None, description="Hold the current weight.")

    @model_validator(mode="after")
    def _weight_xor_pause(self) -> Self:
        if (self.weight is None) == (self.pause is None):
            raise ValueError(STEP_WEIGHT_XOR_PAUSE.message)
        return self


class CanaryStrategy(RolloutTiming, json_schema_extra=cel_rules(CANARY_NEEDS_WEIGHT, CANARY_WEIGHTS_RISE)):
    """Shift traffic to the candidate step by step, judging it after every interval."""

    steps: list[CanaryStep] = Field(
        default_factory=lambda: [CanaryStep(weight=weight) for weight in DEFAULT_CANARY_WEIGHTS],
        min_length=1,
        max_length=MAX_LIST,
        description="Weights and pauses in order, e.g. [{weight: 5}, {pause: {}}, {weight: 50}]",
        json_schema_extra={"default": [{"weight": weight} for weight in DEFAULT_CANARY_WEIGHTS]},
    )
    analysis: AnalysisSpec = Field(
        default_factory=AnalysisSpec,
        description="Checks that decide whether to continue or roll back.",
        json_schema_extra={"default": {}},
    )

    @model_validator(mode="after")
    def _weights_rise(self) -> Self:
        weights = [step.weight for step in self.steps if step.weight is not None]
        if not weights:
            raise ValueError(CANARY_NEEDS_WEIGHT.message)
        for before, after in itertools.pairwise(weights):
            if after <= before:
                raise ValueError(f"{CANARY_WEIGHTS_RISE.message} (got {after} after {before})")
        return self


class BlueGreenStrategy(RolloutTiming, json_schema_extra=cel_rules(AUTO_PROMOTE_AFTER_NEEDS_AUTO_PROMOTE)):
    """Run the candidate beside stable behind a preview Service, then switch all traffic at once."""

    preview_service: str | None = Field(
        default=None,
        max_length=63,
        pattern=SERVICE_NAME_PATTERN,
        description="Service that reaches only the candidate; defaults to NAME-preview.",
    )
    auto_promote: bool = Field(
        default=False, description="Switch traffic once the candidate is ready and analysis passes."
    )
    auto_promote_after: Duration | None = Field(
        default=None, description="With autoPromote, wait this long after ready before switching."
    )
    analysis: AnalysisSpec | None = Field(
        default=None, description="Checks run against the preview Service before promotion."
    )

    @model_validator(mode="after")
    def _after_needs_auto(self) -> Self:
        if self.auto_promote_after is not None and not self.auto_promote:
            raise ValueError(AUTO_PROMOTE_AFTER_NEEDS_AUTO_PROMOTE.message)
        return self


class ShadowStrategy(RolloutTiming):
    """Mirror live requests to the candidate; its responses are discarded and its metrics kept apart."""

    mirror_percent: int = Field(
        default=100, ge=1, le=100, description="Percent of requests copied to the candidate (1-100)."
    )
    duration: PositiveDuration = Field(
        description="How long to mirror before the analysis decides on promotion."
    )
    auto_promote: bool = Field(
        default=False,
        description="Promote when the analysis over duration passes; otherwise wait for a manual promote.",
    )
    analysis: AnalysisSpec | None = Field(default=None, description="Checks run on the mirrored traffic.")


class HeaderMatch(ApiModel):
    """An HTTP header condition, as in Gateway API HTTPHeaderMatch."""

    # Gateway API's HTTPHeaderName and value bounds: the HTTPRoute is built only once the candidate is
    # Ready, so a name it refuses would otherwise fail the rollout midway.
    name: str = Field(
        min_length=1,
        max_length=256,
        pattern=r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$",
        description="Header name (case-insensitive).",
    )
    value: str = Field(min_length=1, max_length=4096, description="Value to match.")
    type: Literal["Exact", "RegularExpression"] = Field(default="Exact", description="How value is compared.")


class CookieMatch(ApiModel):
    """A cookie condition: the request carries cookie NAME with VALUE."""

    name: str = Field(max_length=MAX_NAME, description="Cookie name.")
    value: str = Field(max_length=MAX_TEXT, description="Exact cookie value.")


class HttpMatch(
    ApiModel,
    json_schema_extra=cel_rules(
        MATCH_NEEDS_CONDITION,
        MATCH_HEADER_NAMES_DIFFER,
        MATCH_COOKIE_OR_COOKIE_HEADER,
        MATCH_AT_MOST_16_CONDITIONS,
    ),
):
    """Requests that match all conditions here go to the candidate."""

    headers: list[HeaderMatch] = Field(
        default_factory=list, max_length=16, description="Headers that must all match."
    )
    cookie: CookieMatch | None = Field(default=None, description="Cookie that must match.")

    @model_validator(mode="after")
    def _has_condition(self) -> Self:
        if not self.headers and self.cookie is None:
            raise ValueError(MATCH_NEEDS_CONDITION.message)
        names = [header.name.lower() for header in self.headers]
        if len(set(names)) != len(names):
            raise ValueError(MATCH_HEADER_NAMES_DIFFER.message)
        if self.cookie is not None and "cookie" in names:
            raise ValueError(MATCH_COOKIE_OR_COOKIE_HEADER.message)
        if self.cookie is not None and len(self.headers) > 15:
            raise ValueError(MATCH_AT_MOST_16_CONDITIONS.message)
        return self


class AbTestStrategy(RolloutTiming):
    """Route requests that match headers or a cookie to the candidate; everything else stays on stable."""

    match: list[HttpMatch] = Field(
        min_length=1, max_length=8, description="Matches (any of them) that select the candidate."
    )
    duration: PositiveDuration | None = Field(
        default=None, description="How long the test runs before promotion; unset waits for a manual promote."
    )
    auto_promote: bool = Field(
        default=False,
        description="Promote when the analysis over duration passes; otherwise wait for a manual promote.",
    )
    analysis: AnalysisSpec | None = Field(default=None, description="Checks run on the candidate's traffic.")


class StrategySpec(ApiModel, json_schema_extra=cel_rules(STRATEGY_EXACTLY_ONE)):
    """How a new model version replaces the current one; set exactly one strategy."""

    canary: CanaryStrategy | None = Field(default=None, description="Gradual traffic shift with analysis.")
    blue_green: BlueGreenStrategy | None = Field(default=None, description="Preview, then switch at once.")
    shadow: ShadowStrategy | None = Field(default=None, description="Mirror traffic to the candidate.")
    ab_test: AbTestStrategy | None = Field(default=None, description="Route matching requests to it.")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        chosen = [self.canary, self.blue_green, self.shadow, self.ab_test]
        if sum(strategy is not None for strategy in chosen) != 1:
            raise ValueError(STRATEGY_EXACTLY_ONE.message)
        return self

    @property
    def kind(self) -> Literal["canary", "blueGreen", "shadow", "abTest"]:
        """Which strategy is set (its JSON name)."""
        if self.canary is not None:
            return "canary"
        if self.blue_green is not None:
            return "blueGreen"
        if self.shadow is not None:
            return "shadow"
        return "abTest"
