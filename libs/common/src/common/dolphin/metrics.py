"""Prometheus metrics for every DolphinScheduler call (default registry).

``endpoint`` is always a route template (``/projects/{p}/workflow-instances``) or a gateway method name,
never a raw URL, so label cardinality stays bounded.
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import Counter, Histogram

Api = Literal["rest", "gateway"]

DS_CALLS = Counter(
    "ds_calls_total",
    "DolphinScheduler calls by API, endpoint template and outcome",
    ["api", "endpoint", "outcome"],
)
DS_CALL_DURATION = Histogram(
    "ds_call_duration_seconds",
    "DolphinScheduler call latency by API and endpoint template",
    ["api", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


def observe_call(api: Api, endpoint: str, outcome: str, seconds: float) -> None:
    DS_CALLS.labels(api=api, endpoint=endpoint, outcome=outcome).inc()
    DS_CALL_DURATION.labels(api=api, endpoint=endpoint).observe(seconds)
