"""Operator-wide Kopf configuration, taken from the one Settings object."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from ferryman.builders.naming import STABLE_DEPLOYMENT_LABELS
from ferryman.builders.training_job import TRAINING_JOB_SELECTOR
from ferryman.config import Settings
from ferryman.handlers.failure_events import install_failure_events
from ferryman.handlers.metrics_endpoint import METRICS_PATH, start_metrics_server
from ferryman.handlers.operator_metrics import REGISTRY
from ferryman.handlers.webhook_service import keep_webhook_service_here
from ferryman.k8s.client import log_in as log_in_to_cluster
from ferryman.prometheus import GatewayLatency, PrometheusSource
from ferryman.registry.cache import AliasCache
from ferryman.registry.mlflow import MlflowRegistry
from ferryman.registry.webhook import start_webhook_server

STABLE_DEPLOYMENT_SELECTOR = ",".join(f"{key}={value}" for key, value in STABLE_DEPLOYMENT_LABELS.items())
"""The only Deployments the operator watches: stable tracks it made (see stable_readiness)."""


TIMER_EXIT_POLLING_SECONDS = 1.0


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
    memo.registry, memo.aliases = None, None
    # Created here, on the operator-wide memo that each object's memo is a shallow copy of, so that
    # TrainingJobs share one client per tracking server (training_judge.registry_for).
    memo.training_registries = {}
    if config.mlflow_tracking_uri:
        # One registry client and one alias cache: a request per tracked alias per poll period.
        memo.registry = MlflowRegistry(
            config.mlflow_tracking_uri, config.mlflow_tracking_token, config.registry_timeout_seconds
        )
        memo.aliases = AliasCache(memo.registry, config.registry_poll_seconds)
    settings.persistence.finalizer = config.finalizer
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=config.annotation_prefix)
    settings.persistence.diffbase_storage = diffbase_storage(config)
    # Kopf would post an Event for every handler run; we post our own on real transitions only,
    # and one Warning per handler failure (failure_events). The level lets kopf.warn() post.
    settings.posting.level = logging.WARNING
    settings.posting.loggers = False
    install_failure_events()
    settings.execution.max_workers = config.workers
    # Async handlers hand their blocking calls to the same bounded pool as Kopf's sync handlers.
    memo.executor = settings.execution.executor
    # A ModelDeployment deleted while its step timer runs waits for the timer to return; Kopf checks
    # again only after this many seconds (60 by default), so a deletion took a minute or more.
    settings.background.cancellation_polling = TIMER_EXIT_POLLING_SECONDS
    settings.networking.request_timeout = config.api_timeout_seconds
    settings.networking.connect_timeout = config.api_connect_timeout_seconds
    settings.watching.connect_timeout = config.api_connect_timeout_seconds
    settings.watching.server_timeout = config.watch_timeout_seconds
    settings.watching.client_timeout = config.watch_timeout_seconds + 60
    settings.peering.standalone = config.standalone
    # The API server filters the Deployment watch: without this Kopf lists and caches every
    # Deployment in the cluster and drops the others client-side (the handler's labels filter).
    settings.watching.label_selectors["apps", "deployments"] = STABLE_DEPLOYMENT_SELECTOR
    # Likewise for Jobs: only the training Jobs the operator made (see training_job_changed).
    settings.watching.label_selectors["batch", "jobs"] = TRAINING_JOB_SELECTOR


@kopf.on.startup()
async def listen_for_registry_webhooks(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """MLflow's webhook says at once that an alias moved; polling stays on in case a delivery is lost."""
    config: Settings = memo.config
    memo.webhook_server = None
    secret = config.registry_webhook_secret
    if memo.aliases is None or secret is None:
        logger.info("registry webhook endpoint off: polling every %ss", config.registry_poll_seconds)
        return
    memo.webhook_server = await start_webhook_server(
        config.registry_webhook_address, secret.get_secret_value(), memo.aliases.invalidate
    )
    logger.info("registry webhooks received on %s/registry/mlflow", config.registry_webhook_address)
    memo.webhook_service_keeper = None
    if config.registry_webhook_service:
        port = memo.webhook_server.addresses[0][1]
        memo.webhook_service_keeper = asyncio.create_task(
            keep_webhook_service_here(config, port, memo.executor), name="registry webhook Service"
        )


@kopf.on.startup()
async def serve_metrics(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """The operator's own /metrics (rollout_metrics, drift_gauges), on the event loop (metrics_endpoint)."""
    config: Settings = memo.config
    memo.metrics_server = None
    if not config.metrics_address:
        logger.info("operator metrics off")
        return
    memo.metrics_server = await start_metrics_server(config.metrics_address, REGISTRY)
    logger.info("operator metrics on http://%s%s", config.metrics_address, METRICS_PATH)


@kopf.on.cleanup()
async def close_clients(memo: kopf.Memo, **_: Any) -> None:
    """Close the Prometheus and registry connection pools and the webhook and metrics endpoints on stop."""
    keeper = getattr(memo, "webhook_service_keeper", None)
    if keeper is not None:
        keeper.cancel()
    prometheus = getattr(memo, "prometheus", None)
    if prometheus is not None:
        prometheus.close()
    registry = getattr(memo, "registry", None)
    if registry is not None:
        registry.close()
    for client in getattr(memo, "training_registries", {}).values():
        client.close()
    for server in (getattr(memo, "metrics_server", None), getattr(memo, "webhook_server", None)):
        if server is not None:
            await server.cleanup()


@kopf.on.login()
def log_in(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo | None:
    """The same login as the handlers' own requests (ferryman.k8s.client); needs no client library."""
    return log_in_to_cluster(settings)


def diffbase_storage(config: Settings) -> kopf.AnnotationsDiffBaseStorage:
    """Where Kopf keeps the last handled spec of each object (an annotation), to diff the next one with."""
    return kopf.AnnotationsDiffBaseStorage(prefix=config.annotation_prefix, key="last-handled-configuration")
