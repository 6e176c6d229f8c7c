"""The Kopf settings the operator starts with."""

from __future__ import annotations

import kopf
import pytest

from ferryman.handlers.startup import STABLE_DEPLOYMENT_SELECTOR, configure_operator

pytestmark = pytest.mark.unit

DEPLOYMENTS = kopf.Resource(group="apps", version="v1", plural="deployments", kind="Deployment")
SERVICES = kopf.Resource(group="", version="v1", plural="services", kind="Service")


def test_the_deployment_watch_is_filtered_by_the_api_server() -> None:
    """Only our stable Deployments are listed and watched, not every Deployment of the cluster."""
    settings = kopf.OperatorSettings()
    configure_operator(settings=settings, memo=kopf.Memo())
    assert settings.watching.label_selectors.collect(DEPLOYMENTS) == [
        "app.kubernetes.io/managed-by=ferryman,ferryman.dev/track=stable"
    ]
    assert settings.watching.label_selectors.collect(SERVICES) == []
    assert STABLE_DEPLOYMENT_SELECTOR.count(",") == 1


def test_watch_timeouts_reach_the_api_server_as_whole_seconds() -> None:
    """Kopf sends server_timeout as timeoutSeconds; "300.0" is refused with a 400 by the API server."""
    settings = kopf.OperatorSettings()
    configure_operator(settings=settings, memo=kopf.Memo())
    assert str(settings.watching.server_timeout) == "300"
    assert settings.networking.request_timeout == 15.0


def test_a_deletion_waits_for_a_running_timer_a_second_at_a_time_not_a_minute() -> None:
    """Kopf's default re-check of an exiting timer is 60 s: a ModelDeployment deleted while its step timer
    ran stayed for a minute (an e2e teardown's 60 s `kubectl delete --wait` timed out on it)."""
    settings = kopf.OperatorSettings()
    assert settings.background.cancellation_polling == 60  # the default this guards against
    configure_operator(settings=settings, memo=kopf.Memo())
    assert settings.background.cancellation_polling <= 1.0
