"""Operator-wide Kopf configuration, taken from the one Settings object."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from ferryman.config import Settings
from ferryman.prometheus import GatewayLatency, PrometheusSource


@kopf.on.startup()
def configure_operator(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Our own finalizer and annotation prefix, so Ferryman never fights another Kopf operator."""
    config = Settings()
    memo.config = config
    gateway = None
    if config.gateway_latency_metric:
        gateway = GatewayLatency(config.gateway_latency_metric, config.gateway_latency_service_matcher)
    # One client (and connection pool) for the process: every rollout's queries share it.
    memo.prometheus = PrometheusSource(config.prometheus_url, gateway)
    settings.persistence.finalizer = config.finalizer
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=config.annotation_prefix)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=config.annotation_prefix, key="last-handled-configuration"
    )
    # Kopf would post an Event for every handler run; we post our own on real transitions only.
    settings.posting.level = logging.WARNING
    settings.execution.max_workers = config.workers
    settings.peering.standalone = config.standalone


@kopf.on.login()
def log_in(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In a pod: the service account; elsewhere: KUBECONFIG. Needs no client library's login code."""
    info: kopf.ConnectionInfo | None = kopf.login_with_service_account(
        **kwargs
    ) or kopf.login_with_kubeconfig(**kwargs)
    return info
