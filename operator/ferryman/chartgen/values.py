"""The chart's values, defined once: values.yaml (every key with its comment) and values.schema.json.

Both files are rendered from ``CHART_VALUES`` below; a value's comment is its description, so the file a
user reads and the schema Helm checks their overrides against can never disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ferryman.api.base import MAX_NAMESPACE, NAMESPACE_NAME_PATTERN, OBJECT_NAME_PATTERN, QUANTITY_PATTERN
from ferryman.config import HTTP_URL_PATTERN

Schema = dict[str, Any]


@dataclass(frozen=True)
class Value:
    """One key of values.yaml: its default, what it means, and the JSON schema of what it accepts."""

    default: Any
    description: str
    schema: Schema = field(default_factory=dict)


@dataclass(frozen=True)
class Group:
    """A mapping of values (a YAML block)."""

    description: str
    members: dict[str, Value | Group]


STRING: Schema = {"type": "string"}
BOOLEAN: Schema = {"type": "boolean"}
STRING_MAP: Schema = {"type": "object", "additionalProperties": {"type": "string"}}
OBJECT: Schema = {"type": "object"}
# The chart's own pod labels (templates/_helpers.tpl): repeated in podLabels they rendered a pod template
# with the key twice, which helm lint passed.
CHART_POD_LABELS = (
    "app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/part-of",
    "app.kubernetes.io/version", "helm.sh/chart",
)  # fmt: skip
EXTRA_POD_LABELS: Schema = {
    **STRING_MAP,
    "properties": {key: {"not": {}, "description": "set by the chart"} for key in CHART_POD_LABELS},
}
LIST_OF_OBJECTS: Schema = {"type": "array", "items": {"type": "object"}}
# Kubernetes' quantity syntax for strings (no `lots`); a number such as 0.5 is a quantity too.
QUANTITY: Schema = {"type": ["string", "number"], "pattern": QUANTITY_PATTERN, "minimum": 0}
NON_EMPTY: Schema = {"type": "string", "minLength": 1}
# The operator's own pattern (Settings checks it at start): a value it refuses fails `helm install`
# instead of a pod restarting in a loop.
HTTP_URL: Schema = {"type": "string", "pattern": HTTP_URL_PATTERN}
OPTIONAL_HTTP_URL: Schema = {"type": "string", "pattern": f"^$|{HTTP_URL_PATTERN}"}
# An object name (Secret, ServiceAccount: RFC 1123 subdomain), or empty where empty means "none"/"default".
OPTIONAL_OBJECT_NAME: Schema = {"type": "string", "maxLength": 253, "pattern": f"({OBJECT_NAME_PATTERN})|^$"}
SECRET_KEY: Schema = {"type": "string", "minLength": 1, "maxLength": 253, "pattern": "^[-._a-zA-Z0-9]+$"}
# A namespace name (RFC 1123 label), so a typo fails at `helm install`, not as a Role the API refuses.
NAMESPACE: Schema = {"type": "string", "maxLength": MAX_NAMESPACE, "pattern": NAMESPACE_NAME_PATTERN}
# The Prometheus Operator's Duration (monitoring.coreos.com), e.g. 15s, 1m30s.
PROMETHEUS_DURATION: Schema = {
    "type": "string",
    "minLength": 1,  # every part of the pattern is optional: "" would render an empty interval
    "pattern": "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",
}

RESOURCE_BLOCK: Schema = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"cpu": QUANTITY, "memory": QUANTITY, "ephemeral-storage": QUANTITY},
}

CHART_VALUES = Group(
    "Ferryman operator chart (docs/install.md).",
    {
        "image": Group(
            "The operator image (scripts/build-images builds localhost/ferryman-operator:dev).",
            {
                "repository": Value("localhost/ferryman-operator", "Image repository.", NON_EMPTY),
                "tag": Value("dev", "Image tag; pin a digest-backed tag in production.", NON_EMPTY),
                "pullPolicy": Value(
                    "IfNotPresent",
                    "When the kubelet pulls the image.",
                    {"enum": ["Always", "IfNotPresent", "Never"]},
                ),
            },
        ),
        "replicaCount": Value(
            2,
            "Operator replicas. With leader election one leads and the others wait to take over within "
            "about leaseDurationSeconds; more than 1 without leader election is refused (both would act).",
            {"type": "integer", "minimum": 0},
        ),
        "leaderElection": Group(
            "Leader election on a Lease in the release namespace (docs/install.md#high-availability).",
            {
                "enabled": Value(
                    True,
                    "Only the replica holding the Lease handles objects (FERRYMAN_LEADER_ELECTION).",
                    BOOLEAN,
                ),
                "leaseDurationSeconds": Value(
                    10,
                    "How long a standby waits after the last renewal it saw before taking over "
                    "(FERRYMAN_LEADER_ELECTION_LEASE_DURATION_SECONDS).",
                    {"type": "integer", "minimum": 2, "maximum": 300},
                ),
                "renewDeadlineSeconds": Value(
                    7,
                    "The leader exits when it could not renew for this long; below leaseDurationSeconds "
                    "(FERRYMAN_LEADER_ELECTION_RENEW_DEADLINE_SECONDS).",
                    {"type": "number", "exclusiveMinimum": 0},
                ),
                "retryPeriodSeconds": Value(
                    1,
                    "How often the leader renews and a standby looks; below renewDeadlineSeconds "
                    "(FERRYMAN_LEADER_ELECTION_RETRY_PERIOD_SECONDS).",
                    {"type": "number", "exclusiveMinimum": 0},
                ),
            },
        ),
        "watchNamespaces": Value(
            [],
            "Namespaces the operator watches; empty watches the whole cluster (a ClusterRole). Otherwise one "
            "Role per namespace, and the ClusterRole keeps only the cluster-scoped watches (CRDs, "
            "Namespaces).",
            {"type": "array", "items": NAMESPACE, "uniqueItems": True},
        ),
        "operator": Group(
            "Operator settings, passed as FERRYMAN_* variables (docs/operator.md).",
            {
                "prometheusUrl": Value(
                    "http://prometheus-operated.monitoring:9090",
                    "Prometheus API the rollout judge queries (FERRYMAN_PROMETHEUS_URL).",
                    HTTP_URL,
                ),
                "autoscaler": Value(
                    "hpa",
                    "What spec.serving.autoscaling creates: hpa (needs a custom metrics adapter) or keda "
                    "(needs KEDA; its trigger asks prometheusUrl) (FERRYMAN_AUTOSCALER, "
                    "docs/autoscaling.md).",
                    {"type": "string", "enum": ["hpa", "keda"]},
                ),
                "mlflowTrackingUri": Value(
                    "",
                    "MLflow server for models:/ URIs; empty: none (FERRYMAN_MLFLOW_TRACKING_URI).",
                    OPTIONAL_HTTP_URL,
                ),
                "mlflowTokenSecret": Group(
                    "Secret with the MLflow bearer token (FERRYMAN_MLFLOW_TRACKING_TOKEN); no name: none.",
                    {
                        "name": Value("", "Secret name, in the release namespace.", OPTIONAL_OBJECT_NAME),
                        "key": Value("token", "Key in the Secret.", SECRET_KEY),
                    },
                ),
                "registryWebhookSecret": Group(
                    "Secret with the MLflow webhook's secret (FERRYMAN_REGISTRY_WEBHOOK_SECRET); a name "
                    "turns on the webhook endpoint and a Service FULLNAME-registry-webhook, port 8082, that "
                    "reaches the leader (needs mlflowTrackingUri); no name: polling only.",
                    {
                        "name": Value("", "Secret name, in the release namespace.", OPTIONAL_OBJECT_NAME),
                        "key": Value("secret", "Key in the Secret.", SECRET_KEY),
                    },
                ),
                "logLevel": Value(
                    "INFO",
                    "Lowest level logged (FERRYMAN_LOG_LEVEL).",
                    {"enum": ["DEBUG", "INFO", "WARNING", "ERROR"]},
                ),
                "extraEnv": Value(
                    [],
                    "More container env entries (value or valueFrom), e.g. other FERRYMAN_* settings.",
                    LIST_OF_OBJECTS,
                ),
            },
        ),
        "resources": Group(
            "Operator container resources: requests so it is never BestEffort, a memory limit for its cache.",
            {
                "requests": Value({"cpu": "100m", "memory": "256Mi"}, "Requests.", RESOURCE_BLOCK),
                "limits": Value(
                    {"memory": "512Mi"}, "Limits (no CPU limit: throttling delays watches).", RESOURCE_BLOCK
                ),
            },
        ),
        "runAsUser": Value(
            65532,
            "Numeric non-root user and group of the operator container.",
            {"type": "integer", "minimum": 1, "maximum": 2147483647},
        ),
        "serviceAccount": Group(
            "The operator's ServiceAccount.",
            {
                "create": Value(True, "Create it.", BOOLEAN),
                "name": Value("", "Its name; empty: the release's full name.", OPTIONAL_OBJECT_NAME),
                "annotations": Value({}, "Annotations (e.g. a cloud IAM role).", STRING_MAP),
            },
        ),
        "rbac": Group(
            "RBAC generated from the operator's code (python -m ferryman.chartgen).",
            {"create": Value(True, "Create the (Cluster)Roles and bindings.", BOOLEAN)},
        ),
        "podDisruptionBudget": Group(
            "PodDisruptionBudget of the operator.",
            {
                "enabled": Value(True, "Create it.", BOOLEAN),
                "maxUnavailable": Value(
                    1,
                    "Pods a voluntary disruption may take at once; 1 keeps a standby (or the leader) up "
                    "while a node drains, and lets a drain move a single replica.",
                    {"type": "integer", "minimum": 0},
                ),
            },
        ),
        "networkPolicy": Group(
            "NetworkPolicy of the operator pod: no ingress except the webhook and metrics ports.",
            {
                "enabled": Value(False, "Create it.", BOOLEAN),
                "webhookFrom": Value(
                    [],
                    "NetworkPolicy peers allowed to reach the registry webhook port 8082 (empty: none).",
                    LIST_OF_OBJECTS,
                ),
                "metricsFrom": Value(
                    [],
                    "NetworkPolicy peers allowed to scrape /metrics on port 8083 (empty: none).",
                    LIST_OF_OBJECTS,
                ),
            },
        ),
        "podAnnotations": Value({}, "Annotations on the operator pod.", STRING_MAP),
        "podLabels": Value({}, "More labels on the operator pod.", EXTRA_POD_LABELS),
        "nodeSelector": Value({}, "Node selector of the operator pod.", STRING_MAP),
        "tolerations": Value([], "Tolerations of the operator pod.", LIST_OF_OBJECTS),
        "affinity": Value({}, "Affinity of the operator pod.", OBJECT),
        "monitoring": Group(
            "Prometheus Operator and Grafana assets (docs/install.md#monitoring).",
            {
                "podMonitor": Group(
                    "PodMonitors of the serving pods the operator creates (port http) and of the operator.",
                    {
                        "enabled": Value(False, "Create it (needs the Prometheus Operator CRDs).", BOOLEAN),
                        "interval": Value("15s", "Scrape interval.", PROMETHEUS_DURATION),
                        "labels": Value({}, "Labels your Prometheus selects PodMonitors by.", STRING_MAP),
                    },
                ),
                "prometheusRule": Group(
                    "PrometheusRule with Ferryman's alerts (files/prometheus-rules.yaml).",
                    {
                        "enabled": Value(False, "Create it (needs the Prometheus Operator CRDs).", BOOLEAN),
                        "labels": Value({}, "Labels your Prometheus selects rules by.", STRING_MAP),
                    },
                ),
                "dashboard": Group(
                    "ConfigMap with the Grafana dashboard (files/dashboard.json), for Grafana's sidecar.",
                    {
                        "enabled": Value(False, "Create it.", BOOLEAN),
                        "labels": Value(
                            {"grafana_dashboard": "1"}, "Labels the Grafana sidecar looks for.", STRING_MAP
                        ),
                    },
                ),
            },
        ),
    },
)


def json_schema(group: Group = CHART_VALUES) -> Schema:
    """The JSON schema of a group: every key known (a typo is an error), each with its description."""
    properties: dict[str, Schema] = {}
    for key, member in group.members.items():
        if isinstance(member, Group):
            properties[key] = json_schema(member)
        else:
            properties[key] = {"description": member.description, **member.schema}
    return {
        "type": "object",
        "description": group.description,
        "additionalProperties": False,
        "properties": properties,
    }


def render_schema() -> str:
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", **json_schema()}
    return json.dumps(schema, indent=2) + "\n"


def render_values(group: Group = CHART_VALUES, indent: int = 0) -> str:
    """values.yaml: each key preceded by its description as a comment."""
    pad = " " * indent
    lines: list[str] = []
    for key, member in group.members.items():
        lines.append(f"{pad}# {member.description}")
        if isinstance(member, Group):
            lines.append(f"{pad}{key}:")
            lines.append(render_values(member, indent + 2).rstrip("\n"))
        else:
            lines.append(f"{pad}{key}: {json.dumps(member.default)}")
    return "\n".join(lines) + "\n"
