"""Which serving-pod series belong to one track of one ModelDeployment, in PromQL.

Serving pods' series carry `namespace`, `model_deployment` and `track` target labels, copied from the pod
and its labels by the scrape configuration (docs/metrics.md). One definition for every query Ferryman
writes: the judge's analysis and the KEDA autoscaler's trigger.
"""

from __future__ import annotations


def series_selector(namespace: str, name: str, track: str, extra: str = "") -> str:
    """The label matchers (without braces); `extra` adds more, starting with a comma."""
    return f'namespace="{namespace}",model_deployment="{name}",track="{track}"{extra}'
