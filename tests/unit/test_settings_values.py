"""Operator settings a process could not use stop it at start, naming the variable (they used to pass and
fail later: every Prometheus query, a startup handler, the standby's liveness listener)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ferryman.config import Settings, explain_settings_error

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _no_ferryman_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("FERRYMAN_")]:
        monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("FERRYMAN_PROMETHEUS_URL", "prometheus:9090", "prometheus_url"),  # httpx: UnsupportedProtocol
        ("FERRYMAN_MLFLOW_TRACKING_URI", "mlflow.mlflow:5000", "mlflow_tracking_uri"),
        ("FERRYMAN_METRICS_ADDRESS", "0.0.0.0:99999", "metrics_address"),  # OverflowError in a handler
        ("FERRYMAN_REGISTRY_WEBHOOK_ADDRESS", "0.0.0.0:0", "registry_webhook_address"),
        ("FERRYMAN_LIVENESS_ENDPOINT", "0.0.0.0:8081", "liveness_endpoint"),  # the standby bound port 80
        ("FERRYMAN_POD_IP", "my-pod", "pod_ip"),  # the EndpointSlice would be refused
        ("FERRYMAN_REGISTRY_WEBHOOK_SERVICE", "Registry_Webhook", "registry_webhook_service"),
        ("FERRYMAN_NAMESPACES", '["team-a", "Bad_NS"]', "namespaces.1"),
        # Each of these passed and then every annotation, finalizer or apply was refused by the API server.
        ("FERRYMAN_ANNOTATION_PREFIX", "-not a prefix-", "annotation_prefix"),
        ("FERRYMAN_FINALIZER", "x y", "finalizer"),
        ("FERRYMAN_FIELD_MANAGER", "", "field_manager"),
        ("FERRYMAN_SERVING_DEFAULT_RESOURCES", '{"requets": {"cpu": "50m"}}', "serving_default_resources"),
        (
            "FERRYMAN_SERVING_DEFAULT_RESOURCES",
            '{"requests": {"cpu": "lots"}}',
            "serving_default_resources.requests.cpu",
        ),
    ],
)
def test_a_value_the_operator_cannot_use_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert field in [".".join(str(p) for p in error["loc"]) for error in caught.value.errors()]


@pytest.mark.parametrize(
    ("variable", "value", "read"),
    [
        ("FERRYMAN_NAMESPACES", "team-a", ["team-a"]),  # documented; refused as not JSON before
        ("FERRYMAN_NAMESPACES", '["team-a", "ml-*", "!kube-system"]', ["team-a", "ml-*", "!kube-system"]),
        ("FERRYMAN_NAMESPACES", "", []),
        ("FERRYMAN_METRICS_ADDRESS", "[::]:8083", "[::]:8083"),
        ("FERRYMAN_METRICS_ADDRESS", "", ""),
        ("FERRYMAN_LIVENESS_ENDPOINT", "", ""),
        ("FERRYMAN_MLFLOW_TRACKING_URI", "https://mlflow.example/path", "https://mlflow.example/path"),
    ],
)
def test_values_as_documented_are_read(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, read: object
) -> None:
    monkeypatch.setenv(variable, value)
    settings = Settings()
    assert getattr(settings, variable.removeprefix("FERRYMAN_").lower()) == read


def test_the_webhook_service_needs_the_pod_ip(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without it the leader has nothing to point the Service at: refused at start, naming both."""
    monkeypatch.setenv("FERRYMAN_REGISTRY_WEBHOOK_SERVICE", "ferryman-registry-webhook")
    with pytest.raises(
        ValidationError, match="FERRYMAN_REGISTRY_WEBHOOK_SERVICE needs FERRYMAN_POD_IP"
    ) as caught:
        Settings()
    # A rule across two settings has no one field: its line is its message, not "FERRYMAN_: ...".
    assert explain_settings_error(caught.value, Settings).startswith("Value error, FERRYMAN_REGISTRY_WEBHOOK")
    monkeypatch.setenv("FERRYMAN_POD_IP", "198.18.1.3")
    assert Settings().pod_ip == "198.18.1.3"
