"""The words and defaults of a rollout, defined once: the CRD, the state machine, status and docs use these.

Phases, verdicts, pause reasons and strategy names are what `kubectl get md` and `.status` show; the
defaults are what a user gets when a field is left out (docs/rollouts.md quotes them).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Annotated

from pydantic import WithJsonSchema


class Phase(enum.StrEnum):
    PENDING = "Pending"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    PROMOTING = "Promoting"
    SUCCEEDED = "Succeeded"
    ROLLED_BACK = "RolledBack"
    DEGRADED = "Degraded"


ACTIVE_PHASES = frozenset({Phase.PROGRESSING, Phase.PAUSED, Phase.PROMOTING})
TERMINAL_PHASES = frozenset({Phase.SUCCEEDED, Phase.ROLLED_BACK, Phase.DEGRADED})


class Outcome(enum.StrEnum):
    """What the judge said of a window (status.lastVerdict and status.lastAnalysis.verdict)."""

    PASS = "Pass"
    FAIL = "Fail"
    INCONCLUSIVE = "Inconclusive"


# The reason (Event, status.endReason) of a rollout stopped unjudged because its spec became invalid.
ROLLOUT_STOPPED = "RolloutStopped"


class PauseReason(enum.StrEnum):
    STEP = "Step"  # a pause step without duration: waits for resume or promote
    AWAITING_PROMOTION = "AwaitingPromotion"  # analysis passed, autoPromote off: waits for promote


class StrategyKind(enum.StrEnum):
    """How the candidate version meets users (the key under `spec.strategy`)."""

    CANARY = "canary"
    BLUE_GREEN = "blueGreen"
    SHADOW = "shadow"
    AB_TEST = "abTest"


# Defaults a user gets when the field is left out.
DEFAULT_CANARY_WEIGHTS: tuple[int, ...] = (5, 25, 50, 100)
DEFAULT_INTERVAL = "30s"
DEFAULT_PROGRESS_DEADLINE = "10m"
# At 2 requests/s in total, the 5% step needs about 17 minutes to collect 100 canary requests.
DEFAULT_NO_TRAFFIC_DEADLINE = "30m"
DEFAULT_MAX_ERROR_RATE = 0.01
DEFAULT_MAX_LATENCY_P99 = "500ms"
DEFAULT_MIN_REQUESTS = 100
DEFAULT_FAILURE_LIMIT = 2
DEFAULT_ANALYSIS_ERROR_LIMIT = 4
DEFAULT_CANARY_SCALE_DOWN_DELAY = "10s"


def format_timestamp(moment: datetime) -> str:
    """The one timestamp form in status and annotations: RFC 3339, UTC, whole seconds (metav1.Time)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 time as the API server writes it (metav1.Time, or MicroTime with a fraction), aware."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _string_enum(kind: type[enum.StrEnum]) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "enum": [member.value for member in kind]})


# Enum-typed API fields whose CRD schema is a plain string enum (no $ref).
PhaseField = Annotated[Phase, _string_enum(Phase)]
OutcomeField = Annotated[Outcome, _string_enum(Outcome)]
PauseReasonField = Annotated[PauseReason, _string_enum(PauseReason)]
StrategyKindField = Annotated[StrategyKind, _string_enum(StrategyKind)]
