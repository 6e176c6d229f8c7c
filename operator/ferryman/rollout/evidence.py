"""Evidence about the canary that accumulates over the whole rollout: pure arithmetic, no I/O.

Why sequential: a rollout is judged again and again (every window, through pauses, while waiting for
`promote`, for a day if a person is away). Testing each window at a fixed significance makes false
alarms grow with the number of windows: with 0.01 per window and two failures to roll back, a
healthy canary held for a day is rolled back almost surely. Here each count check (errors, slow
requests) keeps a *test martingale*: a product of likelihood ratios, one factor per window, that has
expectation at most 1 while the canary is healthy. Ville's inequality then bounds the chance that it
*ever* reaches 1/alpha by alpha, however many windows are judged and whenever we look, so the
rollout can stop as soon as the evidence is decisive, even in the middle of a window.

The factor of one window, for a ratio r ("the canary's bad share is r times stable's"):
- beside a comparable stable track: given the window's t bad events, each one is the canary's with
  probability pi = n / (n + m) (n, m the tracks' totals) if the canary is no worse, and with
  q = r pi / (r pi + 1 - pi) if it is r times worse. The factor (q/pi)^x ((1-q)/(1-pi))^y has
  expectation <= 1 when the canary is no worse (exactly 1 when equal). Conditioning on t is what
  makes an outage that hurts both tracks no evidence against the canary.
- without comparable stable traffic (the 100% step, a preview beside an idle stable): the canary's
  bad share against the absolute limit p0, with alternative p1 = r p0.
The ratios are a fixed grid mixed with equal weights (a mixture of test martingales is one), so a
2x regression and a 20x outage are both found without tuning.

`safety_log` is the other direction, used before promotion: the log-likelihood ratio of "the canary
is like stable" against "the canary is `detect_ratio` times worse". When it passes log(1/miss_rate),
a regression of that size is ruled out (missed with chance <= miss_rate); this is what gives the
rollout its power instead of promoting after a fixed number of quiet windows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

RATIOS: tuple[float, ...] = (1.5, 2.0, 3.0, 5.0, 10.0, 20.0)
# A limit of 0 ("no errors at all") still needs a rate for the likelihood ratio.
MIN_RATE = 1e-4
MAX_RATE = 0.999


@dataclass(frozen=True, slots=True)
class Tally:
    """Bad events among all events of one track over a window (floats: Prometheus extrapolates)."""

    bad: float
    total: float

    def __post_init__(self) -> None:
        for name, value in (("bad", self.bad), ("total", self.total)):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"tally.{name}: {value!r}; counts must be finite and >= 0")

    @property
    def total_count(self) -> int:
        return round(self.total)

    @property
    def bad_count(self) -> int:
        return min(round(self.bad), self.total_count)

    @property
    def share(self) -> float | None:
        return self.bad_count / self.total_count if self.total_count else None


NO_EVENTS = Tally(0.0, 0.0)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one count check learned in the windows closed so far (one log value per ratio).

    The counts are kept apart by how they were judged: beside a comparable stable track, or alone
    against the absolute limit; they make the messages and the materiality rule.
    """

    log_e: tuple[float, ...] = (0.0,) * len(RATIOS)
    canary_bad: int = 0
    canary_total: int = 0
    stable_bad: int = 0
    stable_total: int = 0
    alone_bad: int = 0
    alone_total: int = 0

    def __post_init__(self) -> None:
        if len(self.log_e) != len(RATIOS) or not all(math.isfinite(v) for v in self.log_e):
            raise ValueError(f"evidence.logE: {self.log_e!r}; expected {len(RATIOS)} finite numbers")

    def plus(self, canary: Tally, stable: Tally, *, comparable: bool, limit: float) -> Evidence:
        """This evidence with one more (disjoint) window folded in."""
        x, n = canary.bad_count, canary.total_count
        factors = window_log_factors(canary, stable, comparable=comparable, limit=limit)
        log_e = tuple(a + b for a, b in zip(self.log_e, factors, strict=True))
        if comparable:
            y, m = stable.bad_count, stable.total_count
            return Evidence(
                log_e, self.canary_bad + x, self.canary_total + n, self.stable_bad + y,
                self.stable_total + m, self.alone_bad, self.alone_total,
            )  # fmt: skip
        return Evidence(
            log_e, self.canary_bad, self.canary_total, self.stable_bad, self.stable_total,
            self.alone_bad + x, self.alone_total + n,
        )  # fmt: skip

    @property
    def stable_share(self) -> float | None:
        """Stable's bad share over the windows it was compared in; None before any."""
        return self.stable_bad / self.stable_total if self.stable_total else None

    @property
    def harm_log(self) -> float:
        """log of the mixture test martingale: >= log(1/alpha) happens with chance <= alpha if healthy."""
        return log_mean_exp(self.log_e)

    def to_status(self) -> dict[str, object]:
        return {
            # Full precision: rounding would make the evidence a restarted operator reads back differ
            # from what it decided with (status must round-trip exactly; JSON floats do).
            "logE": list(self.log_e),
            "canary": [self.canary_bad, self.canary_total],
            "stable": [self.stable_bad, self.stable_total],
            "alone": [self.alone_bad, self.alone_total],
        }

    @classmethod
    def from_status(cls, raw: object) -> Evidence:
        if not isinstance(raw, dict):
            raise ValueError(f"{raw!r} is not an object")
        log_e = tuple(float(v) for v in raw.get("logE", (0.0,) * len(RATIOS)))
        pairs = [_pair(raw, key) for key in ("canary", "stable", "alone")]
        (cb, ct), (sb, st), (ab, at) = pairs
        return cls(log_e, cb, ct, sb, st, ab, at)


def _pair(raw: dict[str, object], key: str) -> tuple[int, int]:
    value = raw.get(key, [0, 0])
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"{key}: {value!r} is not [bad, total]")
    bad, total = (int(v) for v in value)
    if bad < 0 or total < bad:
        raise ValueError(f"{key}: {value!r} needs 0 <= bad <= total")
    return bad, total


def log_mean_exp(values: Sequence[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values) / len(values))


def window_log_factors(canary: Tally, stable: Tally, *, comparable: bool, limit: float) -> tuple[float, ...]:
    """log of one window's likelihood ratio for each ratio in RATIOS (module docstring)."""
    n, x = canary.total_count, canary.bad_count
    if comparable:
        m, y = stable.total_count, stable.bad_count
        if n == 0 or m == 0 or x + y == 0:
            return _NO_EVIDENCE
        pi = n / (n + m)
        return tuple(_comparative_log_factor(x, y, pi, r) for r in RATIOS)
    return tuple(_alone_log_factor(x, n, limit, r) for r in RATIOS)


_NO_EVIDENCE = (0.0,) * len(RATIOS)


def _comparative_log_factor(x: int, y: int, pi: float, ratio: float) -> float:
    q = ratio * pi / (ratio * pi + 1.0 - pi)
    return x * math.log(q / pi) + y * math.log((1.0 - q) / (1.0 - pi))


def _alone_log_factor(x: int, n: int, limit: float, ratio: float) -> float:
    # p0 is the limit itself: lowering it to keep r * p0 under 1 (limits above about 0.05) made a canary
    # within its limit gain evidence (at limit 0.5, 3 errors in 3 requests crossed the threshold). A
    # ratio whose alternative cannot exceed p0 any more tests nothing.
    p0 = min(max(limit, MIN_RATE), MAX_RATE)
    p1 = min(ratio * p0, MAX_RATE)
    if p1 <= p0:
        return 0.0
    return x * math.log(p1 / p0) + (n - x) * math.log((1.0 - p1) / (1.0 - p0))


def safety_log(canary_bad: int, canary_total: int, baseline_rate: float, alternative_rate: float) -> float:
    """log LR of "canary at baseline_rate" vs "canary at alternative_rate" (> baseline) for its counts."""
    p0 = min(max(baseline_rate, MIN_RATE), MAX_RATE)
    p1 = min(max(alternative_rate, p0), MAX_RATE)
    if p1 <= p0:
        return 0.0
    misses = canary_total - canary_bad
    return canary_bad * math.log(p0 / p1) + misses * math.log((1.0 - p0) / (1.0 - p1))
