"""Pure: a KEDA ScaledObject for a ModelDeployment's stable track, the alternative to the HPA where KEDA
runs and no custom metrics adapter does (operator setting `autoscaler: keda`).

The trigger asks Prometheus for the requests in flight summed over the stable pods; with metricType
AverageValue, KEDA's HPA divides that by the pod count and aims for targetInFlight per pod: the same
target as the HPA on the Pods metric. KEDA names its HPA after `advanced.horizontalPodAutoscalerConfig.name`
(the stable Deployment's name here, as Ferryman's own HPA would be) and takes the same behavior.
"""

from __future__ import annotations

from typing import Any

from ferryman.api import ModelDeployment
from ferryman.builders.autoscaler_objects import (
    INFLIGHT_METRIC,
    autoscaler_metadata,
    bounded_min_replicas,
    scaling_behavior,
    spec_autoscaling,
)
from ferryman.builders.metric_series import series_selector
from ferryman.builders.naming import deployment_name

KEDA_API_VERSION = "keda.sh/v1alpha1"
# The gauge is read at scrape instants: averaged over a few scrapes, as the adapter rule in the docs does.
INFLIGHT_AVERAGE_WINDOW = "1m"
# KEDA asks Prometheus this often (its default is 30 s; the HPA controller's own sync is 15 s).
POLLING_INTERVAL_SECONDS = 15


def inflight_query(namespace: str, name: str) -> str:
    """Requests in flight over all of stable's pods (KEDA's AverageValue divides by the pod count)."""
    every = series_selector(namespace, name, "stable")
    return f"sum(avg_over_time({INFLIGHT_METRIC}{{{every}}}[{INFLIGHT_AVERAGE_WINDOW}]))"


def build_scaled_object(
    md: ModelDeployment, prometheus_url: str, min_replicas: int | None = None
) -> dict[str, Any]:
    """The ScaledObject for md's stable Deployment; min_replicas overrides the spec's (promotion floor)."""
    autoscaling = spec_autoscaling(md)
    name = deployment_name(md.metadata.name, "stable")
    return {
        "apiVersion": KEDA_API_VERSION,
        "kind": "ScaledObject",
        "metadata": autoscaler_metadata(md),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicaCount": bounded_min_replicas(autoscaling, min_replicas),
            "maxReplicaCount": autoscaling.max_replicas,
            "pollingInterval": POLLING_INTERVAL_SECONDS,
            "advanced": {
                "horizontalPodAutoscalerConfig": {"name": name, "behavior": scaling_behavior(autoscaling)}
            },
            "triggers": [
                {
                    "type": "prometheus",
                    "metricType": "AverageValue",
                    "metadata": {
                        "serverAddress": prometheus_url,
                        "query": inflight_query(md.metadata.namespace or "default", md.metadata.name),
                        "threshold": str(autoscaling.target_in_flight),
                    },
                }
            ],
        },
    }
