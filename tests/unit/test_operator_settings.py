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
