"""The one registry of the operator's own metrics (docs/metrics.md, "Operator metrics"; docs/drift.md).

Its own registry, not prometheus_client's global one: /metrics shows exactly what the docs list, not the
client library's process metrics. startup.serve_metrics serves it on FERRYMAN_METRICS_ADDRESS
(metrics_endpoint); each module that exports a metric (rollout_metrics, drift_gauges) registers its
gauges here.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

REGISTRY = CollectorRegistry(auto_describe=True)
