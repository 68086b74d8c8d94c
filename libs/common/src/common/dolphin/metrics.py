"""Prometheus metrics for every DolphinScheduler call (default registry).

``endpoint`` is always a route template (``/projects/{p}/workflow-instances``) or a gateway method name,
never a raw URL, so label cardinality stays bounded.
"""

from __future__ import annotations

from typing import Any, Literal

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


#: the labelled children, looked up once per (api, endpoint, outcome): ``labels()`` validates and locks at every call,
#: a cost a history-sync cycle pays once per workflow (the label values are bounded, see above)
_CHILDREN: dict[tuple[str, str, str], tuple[Any, Any]] = {}


def observe_call(api: Api, endpoint: str, outcome: str, seconds: float) -> None:
    key = (api, endpoint, outcome)
    children = _CHILDREN.get(key)
    if children is None:
        children = _CHILDREN.setdefault(
            key,
            (
                DS_CALLS.labels(api=api, endpoint=endpoint, outcome=outcome),
                DS_CALL_DURATION.labels(api=api, endpoint=endpoint),
            ),
        )
    children[0].inc()
    children[1].observe(seconds)
