"""The canary judge: what this window adds to the rollout's evidence, and what follows from it.

The rules (docs/rollouts.md, "The judge"):
- harm, at any moment: a count check (errors, slow requests) fails the rollout at once when its
  sequential evidence (evidence.py) reaches 1/alpha (alpha = significance split over the active
  checks) AND the canary's share is material: above the limit, or above `max_error_ratio` times
  stable's share (stable's share floored at `ratio_floor_fraction` of the limit, so a handful of
  errors beside a stable with none is not a regression); latency needs both (`checks.Rule`);
- a complete window (one interval long) with fewer than `min_requests` canary requests, or without
  latency data while a latency limit is set, is inconclusive: no traffic is not failure;
- custom metrics fail a window outside their bounds (toward `failure_limit`); no data is inconclusive;
- before promotion, `evidence_gap` says whether a regression of `detect_ratio` is ruled out yet.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ferryman.api.vocabulary import Outcome
from ferryman.rollout.checks import CountCheck, Rule, active_checks
from ferryman.rollout.evidence import Evidence, safety_log
from ferryman.rollout.formatting import format_duration, format_percent
from ferryman.rollout.observation import Observation
from ferryman.rollout.plan import AnalysisPolicy, CustomCheck

EvidenceMap = Mapping[str, Evidence]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's outcome; `message` names the measured values and the limit."""

    name: str
    outcome: Outcome
    message: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """The judge's answer; `decisive` failures roll back at once, others count toward failureLimit."""

    outcome: Outcome
    message: str
    checks: tuple[CheckResult, ...] = ()
    decisive: bool = False

    @property
    def reasons(self) -> tuple[str, ...]:
        """Messages of the failed checks (empty unless the verdict is a failure)."""
        return tuple(check.message for check in self.checks if check.outcome is Outcome.FAIL)


def comparable(observation: Observation, check: CountCheck) -> bool:
    """Stable served some of this check's events in the window, so the canary is compared with it.

    Only a stable with none (the 100% step, a preview beside an idle stable) leaves the absolute
    limit alone to judge by. A few stable events give a weak comparison, not a wrong one: judged
    alone instead, early in a window or at low traffic, an outage or a slowness that stable shares
    would count against the canary.
    """
    return observation.stable.tally(check.name).total_count > 0


def with_window(
    evidence: EvidenceMap, observation: Observation, policy: AnalysisPolicy
) -> dict[str, Evidence]:
    """The evidence as it would be with this window folded in (every active check)."""
    folded = {}
    for check in active_checks(policy):
        before = evidence.get(check.name, Evidence())
        folded[check.name] = before.plus(
            observation.canary.tally(check.name),
            observation.stable.tally(check.name),
            comparable=comparable(observation, check),
            limit=alone_baseline(check, before, policy),
        )
    return folded


def alone_baseline(check: CountCheck, before: Evidence, policy: AnalysisPolicy) -> float:
    """The share a canary judged alone is tested against: the limit; for latency, stable's share
    while it served, when that was higher (a p99 stable missed as well is not the canary's harm, so
    evidence against the limit alone would roll back a canary just like stable)."""
    limit = check.limit(policy) or 0.0
    if check.rule is Rule.BOTH and before.stable_share is not None:
        return max(limit, before.stable_share)
    return limit


def harm_threshold_log(policy: AnalysisPolicy) -> float:
    """log(1/alpha) per check: the significance is shared by the active checks (a union bound)."""
    return math.log(max(1, len(active_checks(policy))) / policy.significance)


def find_harm(observation: Observation, policy: AnalysisPolicy, evidence: EvidenceMap) -> Verdict | None:
    """A decisive failure if any check's evidence, this window included, is decisive and material."""
    threshold = harm_threshold_log(policy)
    if all(observation.canary.tally(c.name).bad_count == 0 for c in active_checks(policy)) and all(
        ev.harm_log < threshold for ev in evidence.values()
    ):
        # Without a bad canary request in the window every factor is <= 1: nothing can have crossed.
        return None
    combined = with_window(evidence, observation, policy)
    failed = [
        CheckResult(
            check.name,
            Outcome.FAIL,
            _harm_message(check, combined[check.name], policy) + _measured_at(observation, check.name),
        )
        for check in active_checks(policy)
        if combined[check.name].harm_log >= threshold and is_material(check, combined[check.name], policy)
    ]
    if not failed:
        return None
    return Verdict(Outcome.FAIL, "; ".join(c.message for c in failed), tuple(failed), decisive=True)


def _measured_at(observation: Observation, check: str) -> str:
    """Said when users' side was measured: the gateway's own errors never reach a pod's counters."""
    return " (as users saw it, at the gateway)" if observation.canary.source_of(check) == "gateway" else ""


def is_material(check: CountCheck, evidence: Evidence, policy: AnalysisPolicy) -> bool:
    """Whether the measured difference matters to users (checks.Rule), not only whether it is real."""
    limit = check.limit(policy) or 0.0
    stable_share = evidence.stable_share

    def above_stable(share: float) -> bool:
        return share > policy.max_error_ratio * max(stable_share or 0.0, check.floor(policy))

    if evidence.alone_total:
        alone_share = evidence.alone_bad / evidence.alone_total
        # Latency must also be worse than stable was when stable last served: a p99 limit that
        # stable missed as well is not the canary's doing.
        needs_stable = check.rule is Rule.BOTH and stable_share is not None
        if alone_share > limit and (not needs_stable or above_stable(alone_share)):
            return True
    if not evidence.canary_total:
        return False
    canary_share = evidence.canary_bad / evidence.canary_total
    above_limit = canary_share > limit
    worse = above_stable(canary_share)
    return above_limit and worse if check.rule is Rule.BOTH else above_limit or worse


def _harm_message(check: CountCheck, evidence: Evidence, policy: AnalysisPolicy) -> str:
    """The shares and counts the evidence came from: beside stable, alone against the limit, or both."""
    odds = math.exp(min(evidence.harm_log, 700.0))
    parts = []
    if evidence.canary_total:
        canary = evidence.canary_bad / evidence.canary_total
        stable = evidence.stable_share or 0.0
        parts.append(
            f"canary {check.describe(policy, canary)} vs stable {format_percent(stable)} "
            f"({evidence.canary_bad} of {evidence.canary_total} vs "
            f"{evidence.stable_bad} of {evidence.stable_total})"
        )
    if evidence.alone_total:
        alone = evidence.alone_bad / evidence.alone_total
        parts.append(
            f"canary {check.describe(policy, alone)} with stable too idle to compare "
            f"({evidence.alone_bad} of {evidence.alone_total})"
        )
    limit = check.describe_limit(policy)
    return f"{'; '.join(parts)} ({limit}); evidence {odds:.3g} to 1 against a healthy canary"


def judge_window(observation: Observation, policy: AnalysisPolicy, evidence: EvidenceMap) -> Verdict:
    """A complete window: decisive harm, not enough data, a custom metric out of bounds, or a pass."""
    return find_harm(observation, policy, evidence) or judge_without_harm(observation, policy)


def judge_without_harm(observation: Observation, policy: AnalysisPolicy) -> Verdict:
    """A complete window in which `find_harm` found nothing decisive: not enough data, a check or a
    custom metric out of bounds, or a pass."""
    window = format_duration(observation.window_seconds)
    canary_requests = observation.canary.request_count
    if canary_requests < policy.min_requests:
        return Verdict(
            Outcome.INCONCLUSIVE,
            f"not enough traffic to judge: canary served {canary_requests} of {policy.min_requests} "
            f"required requests (minRequests) since the window opened",
        )
    checks = (
        *(_count_result(check, observation, policy, window) for check in active_checks(policy)),
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


def _count_result(
    check: CountCheck, observation: Observation, policy: AnalysisPolicy, window: str
) -> CheckResult:
    canary = observation.canary.tally(check.name)
    if canary.total_count == 0:
        return CheckResult(check.name, Outcome.INCONCLUSIVE, f"canary {check.name} has no data over {window}")
    stable = observation.stable.tally(check.name)
    text = f"canary {check.describe(policy, canary.share)}"
    if comparable(observation, check):
        text += f" vs stable {format_percent(stable.share or 0.0)}"
    return CheckResult(check.name, Outcome.PASS, f"{text} over {window} ({check.describe_limit(policy)})")


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


def evidence_gap(policy: AnalysisPolicy, evidence: EvidenceMap) -> str | None:
    """None once every check has ruled out a regression beside stable; else what is missing.

    A check with no comparable stable traffic at all (a preview beside an idle stable) has nothing
    to compare and is not held.
    """
    missing = []
    for check in active_checks(policy):
        ev = evidence.get(check.name, Evidence())
        if ev.stable_share is None:
            continue
        baseline = max(ev.stable_share, check.floor(policy))
        # The smallest regression worth holding a rollout for: detect_ratio times stable, but never
        # below a share of the limit (ruling out 0.15% beside a stable with no errors would take
        # tens of thousands of requests); a latency regression under the p99 limit does not matter.
        smallest = 1.0 if check.rule is Rule.BOTH else policy.detect_floor_fraction
        worse = max(policy.detect_ratio * baseline, smallest * (check.limit(policy) or 0.0))
        if safety_log(ev.canary_bad, ev.canary_total, baseline, worse) < math.log(1.0 / policy.miss_rate):
            missing.append(
                f"{check.name}: the canary's requests do not yet rule out "
                f"{check.describe(policy, worse)} (stable {format_percent(baseline)})"
            )
    return "; ".join(missing) or None
