"""Progressive delivery, pure: the rollout state machine and the canary judge (no I/O, no clock).

The handler maps the ModelDeployment spec to a `RolloutPlan` and an `AnalysisPolicy`, reads the
`RolloutState` from `.status`, gathers an `Observation`, and applies the `Decision` it gets back.
"""

from ferryman.api.vocabulary import TERMINAL_PHASES, Outcome, PauseReason, Phase, StrategyKind
from ferryman.rollout.checks import COUNT_CHECKS, ERRORS_NAME, LATENCY_NAME, CountCheck, active_checks
from ferryman.rollout.decision import Condition, Decision, Event, EventType, conditions_for
from ferryman.rollout.evidence import Evidence, Tally
from ferryman.rollout.judge import CheckResult, Verdict, evidence_gap, find_harm, judge_window
from ferryman.rollout.machine import (
    RolloutAction,
    apply_action,
    next_step,
    parse_action,
    start_rollout,
    stop_rollout,
)
from ferryman.rollout.observation import Observation, TrackSample
from ferryman.rollout.plan import (
    DEFAULT_STEPS,
    AnalysisPolicy,
    CustomCheck,
    PauseStep,
    PlanError,
    RolloutPlan,
    Step,
    WeightStep,
)
from ferryman.rollout.state import RolloutState, StatusError

__all__ = [
    "COUNT_CHECKS",
    "DEFAULT_STEPS",
    "ERRORS_NAME",
    "LATENCY_NAME",
    "TERMINAL_PHASES",
    "AnalysisPolicy",
    "CheckResult",
    "Condition",
    "CountCheck",
    "CustomCheck",
    "Decision",
    "Event",
    "EventType",
    "Evidence",
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
    "Tally",
    "TrackSample",
    "Verdict",
    "WeightStep",
    "active_checks",
    "apply_action",
    "conditions_for",
    "evidence_gap",
    "find_harm",
    "judge_window",
    "next_step",
    "parse_action",
    "start_rollout",
    "stop_rollout",
]
