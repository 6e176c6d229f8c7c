"""Progressive delivery, pure: the rollout state machine and the canary judge (no I/O, no clock).

The handler maps the ModelDeployment spec to a `RolloutPlan` and an `AnalysisPolicy`, reads the
`RolloutState` from `.status`, gathers an `Observation`, and applies the `Decision` it gets back.
"""

from ferryman.rollout.decision import (
    Condition,
    Decision,
    Event,
    EventType,
    conditions_for,
    conditions_status,
)
from ferryman.rollout.judge import CheckResult, Outcome, Verdict, judge
from ferryman.rollout.machine import RolloutAction, apply_action, next_step, parse_action, start_rollout
from ferryman.rollout.observation import Observation, TrackSample
from ferryman.rollout.plan import (
    DEFAULT_STEPS,
    AnalysisPolicy,
    CustomCheck,
    PauseStep,
    PlanError,
    RolloutPlan,
    Step,
    StrategyKind,
    WeightStep,
)
from ferryman.rollout.state import TERMINAL_PHASES, PauseReason, Phase, RolloutState, StatusError

__all__ = [
    "DEFAULT_STEPS",
    "TERMINAL_PHASES",
    "AnalysisPolicy",
    "CheckResult",
    "Condition",
    "CustomCheck",
    "Decision",
    "Event",
    "EventType",
    "Observation",
    "Outcome",
    "PauseReason",
    "PauseStep",
    "Phase",
    "PlanError",
    "RolloutAction",
    "RolloutPlan",
    "RolloutState",
    "StatusError",
    "Step",
    "StrategyKind",
    "TrackSample",
    "Verdict",
    "WeightStep",
    "apply_action",
    "conditions_for",
    "conditions_status",
    "judge",
    "next_step",
    "parse_action",
    "start_rollout",
]
