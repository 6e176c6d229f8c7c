"""The operator's one settings object, read from the environment (prefix FERRYMAN_)."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ferryman.api.base import MAX_NAME, OBJECT_NAME_PATTERN, SERVICE_NAME_PATTERN
from ferryman.api.serving import SERVING_ENTRYPOINT, ResourceRequirements

# Checked here, at start, with the variable's name: each of these used to pass and then fail later, on
# every request (a URL without http://) or inside a startup handler (a port of 99999).
HTTP_URL_PATTERN = r"^https?://[^\s/?#]+\S*$"
NAMESPACE_PATTERN = r"^!?[-a-z0-9*?]+$"  # a name, or a Kopf glob of names (team-*, !kube-system)
# A finalizer is a qualified name, DOMAIN/NAME; an annotation key's prefix a DNS subdomain.
FINALIZER_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
# HOST:PORT, the host possibly empty (every interface) or an IPv6 address in brackets.
ADDRESS_PATTERN = r"([^:\[\]]*|\[[0-9a-fA-F:]+\]):[0-9]{1,5}"
RESOURCE_KINDS = frozenset({"requests", "limits"})


def explain_settings_error(
    error: ValidationError, settings: type[BaseSettings], flags: Mapping[str, str] | None = None
) -> str:
    """One line per refused setting: its variable (and command-line flag), why, and what it is for;
    never its value (a value may hold a token). For people at a terminal, instead of a traceback."""
    prefix = settings.model_config.get("env_prefix") or ""
    lines = []
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else ""
        if not field:  # a rule across settings: its message names the variables
            lines.append(problem["msg"])
            continue
        name = f"{prefix}{field.upper()}"
        flag = (flags or {}).get(field)
        line = f"{flag} ({name})" if flag else name
        line += f": {problem['msg']}"
        known = settings.model_fields.get(field)
        if known is not None and known.description:
            line += f" [{known.description}]"
        lines.append(line)
    return "\n".join(lines)


def _port_in_range(port: int | None) -> None:
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"port {port} is outside 1-65535")


def _host_port(text: str) -> str:
    if text:
        port = text.rpartition(":")[2]
        _port_in_range(int(port))
    return text


def _http_endpoint(text: str) -> str:
    if text:
        parts = urlsplit(text)
        if parts.scheme != "http" or not parts.hostname or parts.port is None:
            raise ValueError(f"{text!r}: give http://HOST:PORT/PATH (Kopf serves liveness over plain HTTP)")
        _port_in_range(parts.port)
    return text


HostPort = Annotated[str, AfterValidator(_host_port)]


def _resources(value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    # Copied into every serving and batch pod: a typo ("requets") or a bad quantity made each refused.
    unknown = sorted(set(value) - RESOURCE_KINDS)
    if unknown:
        raise ValueError(f"{unknown}: only requests and limits")
    ResourceRequirements.model_validate(value)
    return value


class Settings(BaseSettings):
    """Everything the operator process can be told, each with the env var that sets it."""

    model_config = SettingsConfigDict(env_prefix="FERRYMAN_", extra="ignore")

    namespaces: Annotated[list[Annotated[str, Field(pattern=NAMESPACE_PATTERN)]], NoDecode] = Field(
        default_factory=list,
        description="Namespaces to watch (JSON list or comma-free single name); empty means cluster-wide.",
    )

    # At most 100: the HPA handover manager is <field manager>-handover-to-hpa, and the API takes 128.
    field_manager: str = Field(
        "ferryman",
        min_length=1,
        max_length=100,
        description="Server-side apply field manager for owned objects.",
    )
    finalizer: str = Field(
        "ferryman.dev/finalizer",
        max_length=MAX_NAME,
        pattern=FINALIZER_PATTERN,
        description="Finalizer Kopf puts on resources it guards.",
    )
    annotation_prefix: str = Field(
        "operator.ferryman.dev",
        max_length=MAX_NAME,
        pattern=OBJECT_NAME_PATTERN,
        description="Prefix of Kopf's progress and diff-base annotations.",
    )
    liveness_endpoint: Annotated[str, AfterValidator(_http_endpoint)] = Field(
        "http://0.0.0.0:8081/healthz", description="Where Kopf answers liveness probes; empty to disable."
    )
    metrics_address: HostPort = Field(
        "0.0.0.0:8083",
        pattern=rf"^({ADDRESS_PATTERN})?$",
        description=(
            "HOST:PORT where the operator serves its own /metrics (rollout phase: docs/metrics.md; drift "
            "gauges: docs/drift.md); empty: off."
        ),
    )
    serving_command: list[str] = Field(
        default_factory=lambda: list(SERVING_ENTRYPOINT),
        description="Command that starts the serving image's server inside its container (its ENTRYPOINT).",
    )
    mlflow_tracking_uri: str | None = Field(
        None,
        pattern=rf"({HTTP_URL_PATTERN})|^$",
        description="MLflow tracking server that resolves models:/ URIs; passed on to serving pods.",
    )
    mlflow_tracking_token: SecretStr | None = Field(
        None,
        description=(
            "Bearer token for the MLflow server (set it from a Secret with valueFrom.secretKeyRef); never "
            "logged, never written to an object."
        ),
    )
    training_token_secret: str | None = Field(
        None,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[-._a-zA-Z0-9]+$",
        description=(
            "NAME/KEY of a Secret (in the TrainingJob's namespace) holding the MLflow token of training "
            "pods: given to them as MLFLOW_TRACKING_TOKEN through valueFrom.secretKeyRef, never copied."
        ),
    )
    registry_poll_seconds: float = Field(
        30.0,
        ge=1,
        le=3600,
        description=(
            "How often the registry is asked where each tracked alias points (one request per model and "
            "alias, however many ModelDeployments track it); the webhook makes a move seen sooner."
        ),
    )
    registry_timeout_seconds: float = Field(
        10.0, gt=0, le=120, description="Longest wait for one answer of the MLflow registry."
    )
    registry_webhook_address: HostPort = Field(
        "0.0.0.0:8082",
        pattern=rf"^{ADDRESS_PATTERN}$",
        description=(
            "HOST:PORT on which the operator receives MLflow registry webhooks (POST /registry/mlflow). "
            "Only listened on when registry_webhook_secret and mlflow_tracking_uri are set."
        ),
    )
    registry_webhook_secret: SecretStr | None = Field(
        None,
        description=(
            "The secret of the MLflow webhook (set it from a Secret with valueFrom.secretKeyRef): every "
            "delivery's HMAC signature is checked against it. Unset: no webhook endpoint, polling only."
        ),
    )
    registry_webhook_service: str = Field(
        "",
        max_length=63,
        pattern=f"^$|{SERVICE_NAME_PATTERN}",  # empty, or a Service name
        description=(
            "Name of a Service without a selector in the operator's own namespace (the chart creates it): "
            "the replica that listens for webhooks points the Service's EndpointSlice NAME-leader at "
            "pod_ip, so deliveries sent to the Service reach it. Empty: no EndpointSlice."
        ),
    )
    pod_ip: str = Field(
        "",
        description=(
            "This pod's IP (downward API status.podIP): the webhook Service's EndpointSlice points at it."
        ),
    )
    prometheus_url: str = Field(
        "http://127.0.0.1:9090",
        pattern=HTTP_URL_PATTERN,
        description="Prometheus API for canary analysis (and for KEDA's trigger with autoscaler `keda`).",
    )
    autoscaler: Literal["hpa", "keda"] = Field(
        "hpa",
        description=(
            "What spec.serving.autoscaling creates. `hpa`: a HorizontalPodAutoscaler reading "
            "ferryman_inflight_requests through the custom metrics API (prometheus-adapter). `keda`: a KEDA "
            "ScaledObject whose Prometheus trigger asks prometheusUrl for the same series (KEDA makes the "
            "HPA); for clusters that run KEDA and no custom metrics adapter (docs/autoscaling.md)."
        ),
    )
    gateway_latency_metric: str = Field(
        "traefik_service_request_duration_seconds",
        description=(
            "Histogram (without _bucket) in which the Gateway data plane times each backend Service, "
            "labelled by status code; the latency check reads its buckets and the error check its _count "
            "where traffic passes a Gateway, falling back to the serving pods' own metrics when it has no "
            "series. Empty: always the pods' metrics."
        ),
    )
    gateway_latency_service_matcher: str = Field(
        # Traefik names a Gateway API backend <route key>-svc-<namespace>-<service>-<index in the rule>
        # @kubernetesgateway. (Mirrored copies behind a TraefikService are judged on the pods' histogram.)
        'service=~".*-svc-{namespace}-{service}-[0-9]+@kubernetesgateway"',
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
    serving_drain_seconds: float = Field(
        5.0,
        ge=0,
        le=300,
        description="Passed to serving pods: after SIGTERM they answer unready but keep serving this long.",
    )
    serving_graceful_timeout_seconds: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="Passed to serving pods: after draining, how long in-flight requests may take.",
    )
    serving_default_resources: Annotated[dict[str, dict[str, str]], AfterValidator(_resources)] = Field(
        default_factory=lambda: {"requests": {"cpu": "50m", "memory": "128Mi"}},
        description=(
            "Resources of a serving container whose ModelDeployment sets none (JSON), so that no serving "
            "pod is BestEffort (first evicted under memory pressure)."
        ),
    )
    serving_tmp_size_limit: str = Field(
        "2Gi",
        pattern=r"^[0-9]+(Ki|Mi|Gi|Ti)?$",
        description="sizeLimit of the serving pods' /tmp emptyDir, where downloaded models are kept.",
    )
    api_timeout_seconds: float = Field(
        15.0,
        gt=0,
        le=300,
        description=(
            "Longest wait for the answer to one Kubernetes API request (the operator's own and Kopf's short "
            "requests); a request that takes longer is retried later like any temporary failure."
        ),
    )
    api_connect_timeout_seconds: float = Field(
        5.0, gt=0, le=60, description="Longest wait to connect to the Kubernetes API server."
    )
    # Whole seconds: Kopf passes it to the API server as timeoutSeconds, which must be an integer.
    watch_timeout_seconds: int = Field(
        300,
        gt=0,
        le=3600,
        description=(
            "Each watch asks the API server to end after this long and is then restarted; the client "
            "gives up 60 s later, so a half-open connection cannot silence a watch forever."
        ),
    )
    log_level: str = Field(
        "INFO",
        pattern=r"^(DEBUG|INFO|WARNING|ERROR)$",
        description="Lowest level logged (one JSON object a line on stderr; see Logging below).",
    )
    standalone: bool = Field(
        True, description="Run without Kopf peering (replicas coordinate with leader election instead)."
    )
    leader_election: bool = Field(
        False,
        description=(
            "Handle objects only while holding the Lease below, so that of several replicas exactly one acts "
            "(the chart turns it on). Off: this process acts at once (one replica, a developer's shell)."
        ),
    )
    leader_election_namespace: str = Field(
        "", description="Namespace of the Lease; empty: the pod's own (its service account's namespace)."
    )
    leader_election_lease_name: str = Field("ferryman-operator", description="Name of the Lease.")
    leader_election_identity: str = Field(
        "", description="This replica's name in the Lease; empty: the host (pod) name and a random suffix."
    )
    leader_election_lease_duration_seconds: int = Field(
        10,
        ge=2,
        le=300,
        description=(
            "How long a standby waits, from when it last saw the Lease renewed, before it takes the Lease "
            "over: the longest a dead leader's rollouts stand still (plus up to one retry period)."
        ),
    )
    leader_election_renew_deadline_seconds: float = Field(
        7.0,
        gt=0,
        description=(
            "The leader stops (exits, and the kubelet restarts it as a standby) when it could not renew the "
            "Lease for this long; shorter than the lease duration, so it stops before anyone takes over."
        ),
    )
    leader_election_retry_period_seconds: float = Field(
        1.0, gt=0, description="How often the leader renews the Lease and a standby looks at it."
    )
    workers: int = Field(
        20, ge=1, le=200, description="Kopf's thread pool: sync handlers, and async handlers' API calls."
    )

    @field_validator("pod_ip")
    @classmethod
    def _ip_address(cls, value: str) -> str:
        if value:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not an IP address; set it from the downward API status.podIP"
                ) from None
        return value

    @model_validator(mode="after")
    def _webhook_service_needs_pod_ip(self) -> Settings:
        if self.registry_webhook_service and not self.pod_ip:
            raise ValueError(
                "FERRYMAN_REGISTRY_WEBHOOK_SERVICE needs FERRYMAN_POD_IP: set it from the downward API "
                "(status.podIP), or leave FERRYMAN_REGISTRY_WEBHOOK_SERVICE empty"
            )
        return self

    @field_validator("namespaces", mode="before")
    @classmethod
    def _json_list_or_one_name(cls, value: object) -> object:
        # The docs promise a single name as well as a JSON list; pydantic-settings decodes JSON only.
        if isinstance(value, str):
            text = value.strip()
            return json.loads(text) if text.startswith("[") else ([text] if text else [])
        return value
