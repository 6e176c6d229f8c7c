"""The operator's one settings object, read from the environment (prefix FERRYMAN_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the operator process can be told, each with the env var that sets it."""

    model_config = SettingsConfigDict(env_prefix="FERRYMAN_", extra="ignore")

    namespaces: list[str] = Field(
        default_factory=list,
        description="Namespaces to watch (JSON list or comma-free single name); empty means cluster-wide.",
    )
    field_manager: str = Field("ferryman", description="Server-side apply field manager for owned objects.")
    finalizer: str = Field(
        "ferryman.dev/finalizer", description="Finalizer Kopf puts on resources it guards."
    )
    annotation_prefix: str = Field(
        "operator.ferryman.dev", description="Prefix of Kopf's progress and diff-base annotations."
    )
    liveness_endpoint: str = Field(
        "http://0.0.0.0:8081/healthz", description="Where Kopf answers liveness probes; empty to disable."
    )
    serving_command: list[str] = Field(
        default_factory=lambda: ["python", "-m", "ferryman_serving"],
        description="Command that starts the serving image's server inside its container.",
    )
    mlflow_tracking_uri: str | None = Field(
        None,
        description="MLflow tracking server that resolves models:/ URIs; passed on to serving pods.",
    )
    prometheus_url: str = Field("http://127.0.0.1:9090", description="Prometheus API for canary analysis.")
    gateway_latency_metric: str = Field(
        "traefik_service_request_duration_seconds",
        description=(
            "Histogram (without _bucket) in which the Gateway data plane times each backend Service; the "
            "latency check reads it where traffic passes a Gateway and falls back to the serving pods' own "
            "histogram when it has no series. Empty: always the pods' histogram."
        ),
    )
    gateway_latency_service_matcher: str = Field(
        # Traefik names a Gateway API backend
        #   <route key>-svc-<namespace>-<service>-<index in the rule>@kubernetesgateway
        # and a Service behind a TraefikService <namespace>-<service>-<port>@kubernetescrd.
        'service=~".*-svc-{namespace}-{service}-[0-9]+@kubernetesgateway|{namespace}-{service}-80@kubernetescrd"',
        description=(
            "PromQL label matcher of one backend Service in gateway_latency_metric ({namespace}, {service})."
        ),
    )
    scale_down_delay_seconds: float = Field(
        10.0,
        ge=0,
        description=(
            "How long a finished canary keeps its pods after traffic left it, so that data planes that "
            "apply route changes asynchronously never send a request to a pod that is going away."
        ),
    )
    standalone: bool = Field(True, description="Run without Kopf peering (one operator replica).")
    workers: int = Field(20, ge=1, le=200, description="Kopf's thread pool for synchronous handlers.")
