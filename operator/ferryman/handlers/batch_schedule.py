"""spec.batch: keep the owned CronJob scoring with stable's pinned version, and report its latest run."""

from __future__ import annotations

from typing import Any

import kopf
from pydantic import ValidationError

from ferryman import k8s
from ferryman.api import GROUP, VERSION, ModelDeployment, redact_uri
from ferryman.batch_output import rows_scored
from ferryman.builders.batch import LABEL_BATCH, build_batch_cronjob, cronjob_name, pinned_batch_uri
from ferryman.builders.batch_status import batch_status, latest_job
from ferryman.builders.naming import LABEL_MANAGED_BY, MANAGED_BY, label_value
from ferryman.config import Settings
from ferryman.handlers import batch_metrics

PLURAL = "modeldeployments"
# Stable changes version only at the end of a rollout; a run takes minutes. 10 s keeps the CronJob on
# the new version well before any next run and the status fresh, at one list of Jobs per interval.
BATCH_INTERVAL_SECONDS = 10.0


def _has_batch(spec: kopf.Spec, status: kopf.Status, **_: Any) -> bool:
    return bool(spec.get("batch")) or bool(status.get("batch"))


@kopf.timer(GROUP, VERSION, PLURAL, interval=BATCH_INTERVAL_SECONDS, when=_has_batch)
def reconcile_batch(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """Apply the CronJob for stable's version (or remove it with spec.batch), then report the last run."""
    config: Settings = memo.config
    try:
        md = ModelDeployment.model_validate(body)
    except (ValidationError, ValueError):
        return  # the main handler reports an invalid spec as Degraded
    namespace, name = md.metadata.namespace, md.metadata.name
    previous: dict[str, Any] = dict(body.get("status", {}).get("batch") or {})
    if md.spec.batch is None:
        _remove_cronjob(namespace, name, previous)
        return
    stable = md.status
    version = (stable.stable_version if stable else None) or ""
    try:
        cronjob = build_batch_cronjob(md, stable.stable_uri if stable else None, version, config)
    except ValueError as waiting:
        _write(namespace, name, previous, {**previous, "message": str(waiting)})
        return
    try:
        k8s.apply(cronjob, config.field_manager)
    except kopf.PermanentError as refused:  # e.g. spec.batch.resources with a key the API server refuses
        message = f"spec.batch: the CronJob built from it was refused: {refused}; fix spec.batch"
        if previous.get("message") != message:
            kopf.warn(body, reason="BatchRefused", message=message)
        _write(namespace, name, previous, {**previous, "message": message})
        return
    selector = f"{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_BATCH}={label_value(name)}"
    job = latest_job(k8s.list_objects(k8s.JOB, namespace, selector))
    rows = rows_scored(md.spec.batch.output.uri, job["metadata"]["name"]) if job else None
    uri = redact_uri(pinned_batch_uri(stable.stable_uri if stable else None))
    desired = batch_status(cronjob["metadata"]["name"], version, uri, job, rows)
    batch_metrics.publish(namespace or "", name, desired)
    if previous.get("versionUsed") != version:
        kopf.event(
            body, type="Normal", reason="BatchVersion", message=f"batch runs score with version {version}"
        )
    _write(namespace, name, previous, desired.model_dump(by_alias=True, exclude_none=True, mode="json"))


def _write(namespace: str | None, name: str, previous: dict[str, Any], desired: dict[str, Any]) -> None:
    if desired != previous:
        # A merge patch keeps keys it does not name: the ones no longer true (an old message) are nulled.
        cleared = {key: None for key in previous if key not in desired}
        k8s.patch_status(k8s.MODEL_DEPLOYMENT, namespace, name, {"batch": {**cleared, **desired}})


def _remove_cronjob(namespace: str | None, name: str, previous: dict[str, Any]) -> None:
    """spec.batch removed: the CronJob (and through it its Jobs) go, and so do status.batch and the
    batch metrics."""
    batch_metrics.forget(namespace or "", name)
    existing = k8s.get(k8s.CRON_JOB, namespace, cronjob_name(name))
    uid = ((existing or {}).get("metadata") or {}).get("uid")
    if uid:
        k8s.delete(k8s.CRON_JOB, namespace, cronjob_name(name), uid)
    if previous:
        k8s.patch_status(k8s.MODEL_DEPLOYMENT, namespace, name, {"batch": None})
