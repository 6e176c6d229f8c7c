"""Reading Prometheus' instant-vector answers: numbers kept, NaN dropped, anything malformed refused."""

from __future__ import annotations

from typing import Any

import pytest

from ferryman.prometheus import GatewayLatency, finite_series

pytestmark = pytest.mark.unit


def test_finite_values_are_kept_with_their_labels_and_nan_is_dropped() -> None:
    result = [
        {"metric": {"track": "canary"}, "value": [1.0, "0.25"]},
        {"metric": {}, "value": [1.0, "NaN"]},
        {"metric": {"track": "stable"}, "value": [1.0, "+Inf"]},
        {"metric": None, "value": [1.0, "2"]},  # read as no labels (before: None reached the caller)
    ]
    assert finite_series(result) == [({"track": "canary"}, 0.25), ({}, 2.0)]


@pytest.mark.parametrize(
    "result",
    [
        [{"metric": {}, "value": [1.0, "abc"]}],  # not a number
        [{"metric": {}, "value": [1.0, None]}],
        [1.0, "3"],  # a scalar result instead of a vector
        [{"metric": ["track"], "value": [1.0, "1"]}],  # labels that are not an object
    ],
)
def test_a_malformed_answer_raises_what_the_client_reports_as_a_failed_query(result: Any) -> None:
    """Before, these escaped the client as ValueError, TypeError or AttributeError instead of
    PrometheusError (the vector() loop ran after its try)."""
    with pytest.raises((ValueError, TypeError, AttributeError)):
        finite_series(result)


def test_a_matcher_with_a_regex_repetition_is_filled_in_not_formatted() -> None:
    """FERRYMAN_GATEWAY_LATENCY_SERVICE_MATCHER is PromQL; `{2}` in a regex made str.format raise
    IndexError on every rollout step."""
    latency = GatewayLatency("m", 'service=~"[a-z]{2}-svc-{namespace}-{service}-[0-9]+"')
    assert latency.selector("ml", "fraud-canary") == 'service=~"[a-z]{2}-svc-ml-fraud-canary-[0-9]+"'
