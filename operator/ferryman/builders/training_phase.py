"""A TrainingJob's phases as pure decisions: from its Job's status, then from what MLflow holds for its run.

Pending → Running (the Job has an active pod) → Validating (the Job succeeded) → Succeeded | Rejected,
or AwaitingApproval before Succeeded with promote.approval: manual. Failed when the Job fails (retries
used up, deadline) or the run is not there to judge (no run, no model version).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ferryman.api import GateResult, TrainingJob, TrainingPhase
from ferryman.api import training_contract as contract
from ferryman.api.base import MAX_TEXT
from ferryman.api.vocabulary import format_timestamp, parse_timestamp
from ferryman.builders.status import condition, with_other_conditions, within_limit
from ferryman.builders.training_gates import gates_json, judge_data_check, judge_gates

JobState = Literal["waiting", "active", "succeeded", "failed", "deleted"]
TERMINAL_PHASES = frozenset({"Succeeded", "Rejected", "Failed"})
BEFORE_JOB_END = frozenset({None, "Pending", "Running"})
OUTCOME_CONDITIONS = ("Complete", "Failed", "Rejected")


@dataclass(frozen=True)
class JobOutcome:
    """What a batch/v1 Job's status says, reduced to what the TrainingJob acts on."""

    state: JobState
    reason: str = ""
    message: str = ""

    @classmethod
    def of(cls, job: Mapping[str, Any] | None, deleted: bool = False) -> JobOutcome:
        """From the Job's status; a Job deleted before it succeeded or failed is "deleted"."""
        status = (job or {}).get("status") or {}
        for entry in status.get("conditions") or []:
            if entry.get("status") != "True":
                continue
            if entry.get("type") == "Complete":
                return cls("succeeded")
            if entry.get("type") == "Failed":
                return cls("failed", str(entry.get("reason", "")), str(entry.get("message", "")))
        if deleted:
            return cls("deleted")
        return cls("active" if int(status.get("active") or 0) > 0 else "waiting")


def job_failed_message(job_name: str, outcome: JobOutcome, backoff_limit: int) -> str:
    """Which limit ended the Job, and where to look."""
    if outcome.reason == "DeadlineExceeded":
        why = "ran longer than spec.activeDeadlineSeconds (raise it, or make training faster)"
    elif outcome.reason == "BackoffLimitExceeded":
        why = f"failed {backoff_limit + 1} times (spec.backoffLimit {backoff_limit})"
    else:
        why = f"failed ({outcome.reason or 'no reason given'}: {outcome.message})"
    return f"training Job {job_name} {why}; see `kubectl logs job/{job_name}` for the trainer's output"


# The Event the job controller records on a Job that succeeded (core v1, reason "Completed").
JOB_COMPLETED_REASON = "Completed"


def completed_job_events_selector(job_name: str) -> str:
    """The field selector of the Events that say the Job of this name completed."""
    return f"involvedObject.kind=Job,involvedObject.name={job_name},reason={JOB_COMPLETED_REASON}"


def completed_after(events: Iterable[Mapping[str, Any]], job_name: str, started_at: str | None) -> bool:
    """Whether one of these Events says the Job `job_name` completed after `started_at` (the status's
    startedAt, written when the operator created the Job).

    What is left when a Job succeeded and was then deleted (a cleanup, a TTL) while the operator was not
    watching: the Job and its pods are gone, its Events stay (an hour by default, the API server's
    --event-ttl). Events of an earlier Job of the same name, from a TrainingJob deleted and created again,
    are older than this run's start; without startedAt no Event can be told apart, and none counts.
    """
    if not started_at:
        return False
    start = parse_timestamp(started_at)
    for event in events:
        involved = event.get("involvedObject") or {}
        if (event.get("reason"), involved.get("kind"), involved.get("name")) != (
            JOB_COMPLETED_REASON, "Job", job_name,
        ):  # fmt: skip
            continue
        when = event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
        if when and parse_timestamp(str(when)) >= start:
            return True
    return False


def job_gone_after_success_message(job_name: str) -> str:
    """The Job succeeded and was deleted while the operator was not watching: the run is judged."""
    return (
        f"training Job {job_name} succeeded (its Completed Event) and was deleted since; reading its run "
        "from MLflow to judge the gates"
    )


def job_deleted_message(job_name: str) -> str:
    """A person (or a cleanup) deleted the Job mid-run: the run stops here, it is not started again."""
    return (
        f"training Job {job_name} was deleted before it finished; the run is not judged and none starts "
        "again (delete and create this TrainingJob to train again)"
    )


def phase_after_job(phase: str | None, outcome: JobOutcome) -> TrainingPhase | None:
    """The phase the Job's status moves the TrainingJob to; None when it stays where it is."""
    if phase not in BEFORE_JOB_END:
        return None
    if outcome.state == "succeeded":
        return "Validating"
    if outcome.state in ("failed", "deleted"):
        return "Failed"
    if outcome.state == "active" and phase != "Running":
        return "Running"
    return None


@dataclass(frozen=True)
class RunFacts:
    """A run as the MLflow server holds it: id, latest metrics, tags."""

    run_id: str
    metrics: Mapping[str, float]
    tags: Mapping[str, str]
    # The version the promote alias names while the run is judged (None: no alias yet). With
    # mustBeatChampion, a run that logged no champion value beside a champion does not pass.
    champion_version: str | None = None


@dataclass(frozen=True)
class Judgement:
    """What to do after reading the run: the phase, what to write to the registry, what to tell."""

    phase: TrainingPhase
    reason: str  # the Event's reason
    message: str
    run_id: str | None = None
    model_version: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    gates: list[GateResult] = field(default_factory=list)
    aliases: tuple[str, ...] = ()  # moved to model_version, in this order
    version_tags: Mapping[str, str] = field(default_factory=dict)


def tj_key(tj: TrainingJob) -> str:
    return f"{tj.metadata.namespace}/{tj.metadata.name}"


@dataclass(frozen=True)
class FailedRunExplained:
    """Why a training Job's trainer stopped, read from its run: the Event reason, message and gates."""

    reason: str
    message: str
    gates: list[GateResult]


def explain_failed_run(tj: TrainingJob, run: RunFacts | None) -> FailedRunExplained | None:
    """The spec's data checks judged from the numbers the failed run logged (the operator's own verdict),
    else the trainer's own report of failed data checks (e.g. a Great Expectations suite), else a champion
    it could not evaluate; None when the run says nothing about why it stopped."""
    if run is None:
        return None
    gates = [judge_data_check(check, run.metrics) for check in tj.spec.validation.data]
    failed = [f"{gate.name}: {gate.message}" for gate in gates if not gate.passed]
    reported = run.tags.get(contract.RUN_TAG_DATA_CHECKS_FAILED)
    if failed or reported:
        why = "; ".join(failed) if failed else f"the trainer reported {reported}"
        message = (
            f"training stopped before it began, on its data (run {run.run_id}): {why}; fix the data at "
            f"spec.data.uri, or the bounds in spec.validation.data"
        )
        return FailedRunExplained(reason="DataCheckFailed", message=message, gates=gates)
    champion_error = run.tags.get(contract.RUN_TAG_CHAMPION_ERROR)
    if champion_error:
        alias = tj.spec.promote.alias if tj.spec.promote else "the alias"
        message = (
            f"{champion_error} (run {run.run_id}); the challenger cannot be judged against it: move {alias} "
            f"to a version that loads, or remove validation.mustBeatChampion"
        )
        return FailedRunExplained(reason="ChampionUnavailable", message=message, gates=[])
    return None


def no_run_message(tj: TrainingJob) -> str:
    return (
        f"the training Job succeeded but experiment {tj.spec.mlflow.experiment!r} holds no run tagged "
        f"{contract.RUN_TAG_TRAINING_JOB_UID}={tj.metadata.uid}: the trainer must log its run with the "
        f"tags of ferryman.train (or set that tag itself)"
    )


def version_not_from_run(
    tj: TrainingJob, run_id: str, version: str, produced_by: str | None, lookup_error: str = ""
) -> Judgement | None:
    """Failed when the version the run names is not in the registry (produced_by None) or came from
    another run: the gates judged this run's numbers, so they must not promote someone else's model."""
    model = tj.spec.mlflow.registered_model
    if produced_by is None:
        message = (
            f"run {run_id} names version {version} of {model!r}, which the registry does not have "
            f"({lookup_error}); the trainer must register the model it tags"
        )
    elif produced_by != run_id:
        message = (
            f"version {version} of {model!r} was produced by run {produced_by}, not by this "
            f"TrainingJob's run {run_id}; the trainer must tag the version it registered"
        )
    else:
        return None
    return Judgement(phase="Failed", reason="NoModelVersion", message=message, run_id=run_id)


def rejected_tag(tj: TrainingJob, now: datetime, reason: str, gates: list[GateResult]) -> str:
    record = {
        "trainingJob": tj_key(tj),
        "at": format_timestamp(now),
        "reason": reason,
        "gates": gates_json(gates),
    }
    return json.dumps(record, sort_keys=True)


def judge_run(tj: TrainingJob, run: RunFacts, now: datetime) -> Judgement:
    """Gates from the run's numbers; pass → aliases to move (or wait), fail → Rejected and the tag."""
    version = run.tags.get(contract.RUN_TAG_MODEL_VERSION)
    facts: dict[str, Any] = {"run_id": run.run_id, "metrics": dict(run.metrics)}
    if not version:
        message = (
            f"run {run.run_id} registered no model version (no tag {contract.RUN_TAG_MODEL_VERSION}): "
            f"the trainer must register the model in {tj.spec.mlflow.registered_model!r} and tag the run; "
            f"see its logs"
        )
        return Judgement(phase="Failed", reason="NoModelVersion", message=message, **facts)
    # After a restart the alias may already name this run's own version: that is no champion to beat.
    champion = run.champion_version if run.champion_version != version else None
    verdict = judge_gates(tj.spec.validation, run.metrics, champion)
    facts.update(model_version=version, gates=verdict.gates)
    produced = {contract.VERSION_TAG_TRAINING_JOB: tj_key(tj)}
    if not verdict.passed:
        reason = verdict.summary()
        tags = {**produced, contract.VERSION_TAG_REJECTED: rejected_tag(tj, now, reason, verdict.gates)}
        message = f"version {version} rejected: {reason}"
        return Judgement(phase="Rejected", reason="GatesFailed", message=message, version_tags=tags, **facts)
    promote = tj.spec.promote
    if promote is None:
        message = f"version {version} registered; {verdict.summary()}; no alias to move (spec.promote unset)"
        return Judgement(
            phase="Succeeded", reason="Registered", message=message, version_tags=produced, **facts
        )
    staging = (promote.staging_alias,) if promote.staging_alias else ()
    if promote.approval == "manual":
        message = (
            f"version {version} passed its gates ({verdict.summary()}); waiting for approval: "
            f"`ferryman approve tj {tj.metadata.name} -n {tj.metadata.namespace}` moves {promote.alias}, "
            f"`ferryman reject tj ...` rejects it"
        )
        return Judgement(
            phase="AwaitingApproval", reason="AwaitingApproval", message=message, aliases=staging,
            version_tags=produced, **facts,
        )  # fmt: skip
    moved = ", ".join((*staging, promote.alias))
    message = f"version {version} passed its gates ({verdict.summary()}); alias {moved} moved to it"
    return Judgement(
        phase="Succeeded", reason="Promoted", message=message, aliases=(*staging, promote.alias),
        version_tags=produced, **facts,
    )  # fmt: skip


Action = Literal["approve", "reject"]


def judge_approval(tj: TrainingJob, action: Action, previous: Mapping[str, Any], now: datetime) -> Judgement:
    """A person's answer to AwaitingApproval: approve moves the alias, reject tags the version Rejected."""
    version = str(previous.get("modelVersion") or "")
    alias = tj.spec.promote.alias if tj.spec.promote is not None else ""
    if action == "approve":
        message = f"version {version} approved by hand; alias {alias} moved to it"
        return Judgement(
            phase="Succeeded", reason="Approved", message=message, model_version=version, aliases=(alias,)
        )
    reason = "rejected by hand (ferryman.dev/action: reject)"
    gates = [GateResult.model_validate(gate) for gate in previous.get("gates") or []]
    tags = {contract.VERSION_TAG_REJECTED: rejected_tag(tj, now, reason, gates)}
    message = f"version {version} {reason}; alias {alias} left where it was"
    return Judgement(
        phase="Rejected", reason="RejectedByHand", message=message, model_version=version, version_tags=tags
    )


def outcome_conditions(
    phase: str, message: str, previous: Mapping[str, Any], now: datetime
) -> list[dict[str, Any]]:
    """Complete / Failed / Rejected: the one matching a terminal phase True, the others False."""
    before = list(previous.get("conditions") or [])
    mine = []
    for kind in OUTCOME_CONDITIONS:
        on = {"Complete": "Succeeded", "Failed": "Failed", "Rejected": "Rejected"}[kind] == phase
        text = message if on else f"phase {phase}"
        mine.append(condition(kind, "True" if on else "False", phase, text, now=now, previous=before))
    return with_other_conditions(mine, before)


def training_status(
    previous: Mapping[str, Any], phase: str, message: str, now: datetime, **fields: Any
) -> dict[str, Any]:
    """The status keys to write for a phase (completedAt on a terminal one), plus fields as given."""
    # Written straight (with a precondition) by the Job handler, so cut here too (see status_patch).
    desired: dict[str, Any] = {"phase": phase, "message": within_limit(message, MAX_TEXT), **fields}
    desired["conditions"] = outcome_conditions(phase, message, previous, now)
    if phase in TERMINAL_PHASES and not previous.get("completedAt"):
        desired["completedAt"] = format_timestamp(now)
    return desired


def start_status(
    previous: Mapping[str, Any], job_name: str, now: datetime, generation: int | None
) -> dict[str, Any]:
    """The status that records the training Job's start; empty when it is recorded already.

    Pending with the start fields when nothing was written yet. When the Job's own progress (Running, or
    later) reached the status first, only the start fields still missing: the phase stays where it is.
    """
    start = {"jobName": job_name, "startedAt": format_timestamp(now), "observedGeneration": generation}
    if previous.get("phase") is None:
        message = f"training Job {job_name} created; waiting for its pod"
        return training_status(previous, "Pending", message, now, **start)
    return {key: value for key, value in start.items() if key not in previous}


def judgement_status(judgement: Judgement, previous: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if judgement.run_id is not None:
        fields["runId"] = judgement.run_id
        # JSON has no NaN or inf (the API server refused the whole status); the gates name such values.
        fields["metrics"] = {name: value for name, value in judgement.metrics.items() if math.isfinite(value)}
    if judgement.model_version:
        fields["modelVersion"] = judgement.model_version
    if judgement.gates:
        fields["gates"] = gates_json(judgement.gates)
    return training_status(previous, judgement.phase, judgement.message, now, **fields)
