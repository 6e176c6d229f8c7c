"""The canary judge: one window of canary and stable metrics in, pass / fail / inconclusive out.

The rules (docs/rollouts.md, "The judge"):
- fewer than `min_requests` canary requests: inconclusive, never fail (no traffic is not failure);
- errors: fail when the canary is significantly worse than stable in the same window (one-sided
  Fisher exact, p < significance) AND the difference matters (above `max_error_rate`, or more than
  `max_error_ratio` times stable's rate). Requiring "worse than stable" keeps an outage that hurts
  both tracks (a database, the network) from rolling back a healthy canary. Without comparable stable
  traffic (weight 100, or a stable with fewer than `min_requests`), the canary must be significantly
  above `max_error_rate` (exact binomial test);
- latency: fail when canary p99 is above `max_latency_p99` AND above stable p99 by `latency_margin`;
- custom metrics: fail outside their bounds; no data is inconclusive.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ferryman.rollout.formatting import format_duration, format_latency, format_percent
from ferryman.rollout.observation import Observation
from ferryman.rollout.plan import AnalysisPolicy, CustomCheck
from ferryman.rollout.stats import binomial_sf, fisher_greater


class Outcome(enum.StrEnum):
    PASS = "Pass"
    FAIL = "Fail"
    INCONCLUSIVE = "Inconclusive"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's outcome; `message` names the measured values and the limit."""

    name: str
    outcome: Outcome
    message: str
    p_value: float | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    message: str
    checks: tuple[CheckResult, ...] = ()

    @property
    def reasons(self) -> tuple[str, ...]:
        """Messages of the failed checks (empty unless the verdict is a failure)."""
        return tuple(check.message for check in self.checks if check.outcome is Outcome.FAIL)


def judge(observation: Observation, policy: AnalysisPolicy) -> Verdict:
    """Compare canary with stable over one window (module docstring has the rules)."""
    window = format_duration(observation.window_seconds)
    canary_requests = observation.canary.request_count
    if canary_requests < policy.min_requests:
        return Verdict(
            Outcome.INCONCLUSIVE,
            f"not enough traffic to judge: canary served {canary_requests} of {policy.min_requests} "
            f"required requests over {window}",
        )
    checks = (
        judge_error_rate(observation, policy),
        *judge_latency(observation, policy),
        *(judge_custom(check, observation) for check in policy.custom_checks),
    )
    failed = [check.message for check in checks if check.outcome is Outcome.FAIL]
    if failed:
        return Verdict(Outcome.FAIL, "; ".join(failed), checks)
    missing = [check.message for check in checks if check.outcome is Outcome.INCONCLUSIVE]
    if missing:
        return Verdict(Outcome.INCONCLUSIVE, "; ".join(missing), checks)
    summary = ", ".join(check.message for check in checks)
    return Verdict(Outcome.PASS, f"all checks passed: {summary}", checks)


def _comparable(requests: int, policy: AnalysisPolicy) -> bool:
    return requests >= policy.min_requests


def judge_error_rate(observation: Observation, policy: AnalysisPolicy) -> CheckResult:
    """Error-rate check: significantly worse than stable and material, or above the limit."""
    canary, stable = observation.canary, observation.stable
    window = format_duration(observation.window_seconds)
    canary_rate = canary.error_count / canary.request_count
    limit = format_percent(policy.max_error_rate)
    if not _comparable(stable.request_count, policy):
        p_value = binomial_sf(canary.error_count, canary.request_count, policy.max_error_rate)
        failed = canary_rate > policy.max_error_rate and p_value < policy.significance
        message = (
            f"canary error rate {format_percent(canary_rate)} over {window} (limit {limit}; "
            f"stable served {stable.request_count} requests, too few to compare)"
        )
        return CheckResult("errorRate", Outcome.FAIL if failed else Outcome.PASS, message, p_value)
    stable_rate = stable.error_count / stable.request_count
    p_value = fisher_greater(
        canary.error_count, canary.request_count, stable.error_count, stable.request_count
    )
    above_limit = canary_rate > policy.max_error_rate
    above_ratio = canary_rate > policy.max_error_ratio * stable_rate
    failed = p_value < policy.significance and (above_limit or above_ratio)
    vs_stable = f"canary error rate {format_percent(canary_rate)} vs stable {format_percent(stable_rate)}"
    if failed and not above_limit:
        ratio = f"{canary_rate / stable_rate:.1f}x stable" if stable_rate > 0 else "stable had none"
        message = f"{vs_stable} over {window} ({ratio}, limit {policy.max_error_ratio:g}x stable)"
    else:
        message = f"{vs_stable} over {window} (limit {limit})"
    return CheckResult("errorRate", Outcome.FAIL if failed else Outcome.PASS, message, p_value)


def judge_latency(observation: Observation, policy: AnalysisPolicy) -> tuple[CheckResult, ...]:
    """Latency check: p99 above the limit and above stable's p99 by the margin (none if no limit)."""
    limit = policy.max_latency_p99_seconds
    if limit is None:
        return ()
    window = format_duration(observation.window_seconds)
    canary_p99 = observation.canary.latency_p99_seconds
    if canary_p99 is None:
        message = f"canary latency p99 has no data over {window}"
        return (CheckResult("latencyP99", Outcome.INCONCLUSIVE, message),)
    stable_p99 = observation.stable.latency_p99_seconds
    if stable_p99 is None or not _comparable(observation.stable.request_count, policy):
        failed = canary_p99 > limit
        vs_stable = f"canary latency p99 {format_latency(canary_p99)}"
    else:
        failed = canary_p99 > limit and canary_p99 > stable_p99 * (1.0 + policy.latency_margin)
        vs_stable = f"canary latency p99 {format_latency(canary_p99)} vs stable {format_latency(stable_p99)}"
    message = f"{vs_stable} over {window} (limit {format_latency(limit)})"
    return (CheckResult("latencyP99", Outcome.FAIL if failed else Outcome.PASS, message),)


def judge_custom(check: CustomCheck, observation: Observation) -> CheckResult:
    """A user metric must have a value within its bounds."""
    window = format_duration(observation.window_seconds)
    value = observation.custom.get(check.name)
    if value is None:
        return CheckResult(check.name, Outcome.INCONCLUSIVE, f"metric {check.name} has no data over {window}")
    low = "-inf" if check.min_value is None else f"{check.min_value:g}"
    high = "+inf" if check.max_value is None else f"{check.max_value:g}"
    outcome = Outcome.PASS if check.allows(value) else Outcome.FAIL
    return CheckResult(
        check.name, outcome, f"metric {check.name} {value:g} over {window} (allowed {low}..{high})"
    )
