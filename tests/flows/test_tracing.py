"""One trace id across gateway → definition → Kafka → publisher → DS emulator → Kafka → definition (DESIGN §7).

All in-process services share the process's tracer provider (``common.telemetry.setup_tracing``); an in-memory
exporter added to it sees every span. One ``POST /api/v1/workflows/{id}/publish`` through the gateway must yield one
trace holding each hop: the gateway's request and its call to the definition service, the definition's request
and SQL, the outbox relay's send of ``publish.requested``, the publisher's consume, its publish run with the DS
gateway (py4j) and REST calls, its send of ``publish.completed`` and the definition's consume of it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from common.testing.kafka_helpers import read_topic

from .conftest import Platform, uid, until
from .test_main_flow import new_task, new_workflow

pytestmark = pytest.mark.slow


class Trace:
    def __init__(self, spans: Sequence[ReadableSpan]) -> None:
        self.spans = list(spans)
        self.by_id = {s.context.span_id: s for s in self.spans if s.context is not None}

    def named(self, name: str, kind: SpanKind | None = None) -> list[ReadableSpan]:
        return [s for s in self.spans if s.name == name and (kind is None or s.kind == kind)]

    def one(self, name: str, kind: SpanKind | None = None) -> ReadableSpan:
        found = self.named(name, kind)
        assert len(found) == 1, f"{name}: {len(found)} spans\n{self.render()}"
        return found[0]

    def ancestors(self, span: ReadableSpan) -> list[ReadableSpan]:
        out = []
        parent = span.parent
        while parent is not None and parent.span_id in self.by_id:
            span = self.by_id[parent.span_id]
            out.append(span)
            parent = span.parent
        return out

    def under(self, parent: ReadableSpan) -> list[ReadableSpan]:
        return [s for s in self.spans if parent in self.ancestors(s)]

    def render(self) -> str:
        children: dict[int | None, list[ReadableSpan]] = {}
        for s in sorted(self.spans, key=lambda s: s.start_time or 0):
            key = s.parent.span_id if s.parent is not None and s.parent.span_id in self.by_id else None
            children.setdefault(key, []).append(s)
        lines: list[str] = []

        def walk(key: int | None, depth: int) -> None:
            for s in children.get(key, []):
                ctx = s.context
                assert ctx is not None
                lines.append(f"{'  ' * depth}{s.name} [{s.kind.name}] trace={ctx.trace_id:032x}")
                walk(ctx.span_id, depth + 1)

        walk(None, 0)
        return "\n".join(lines)


def attr(span: ReadableSpan, *names: str) -> Any:
    attrs = span.attributes or {}
    for n in names:
        if n in attrs:
            return attrs[n]
    return None


def url_of(span: ReadableSpan) -> str:
    return str(attr(span, "url.full", "http.url") or "")


async def test_one_trace_from_gateway_to_ds_and_back(spans: InMemorySpanExporter, platform: Platform) -> None:
    p = platform
    s = uid()
    a, b = await new_task(p, f"trace-{s}-a"), await new_task(p, f"trace-{s}-b")
    wf = await new_workflow(p, f"trace-{s}", [a, b], [(a, b)])
    wid = int(wf["id"])
    await p.call("POST", f"/api/v1/workflows/{wid}/approve", json={"version_no": 1})

    spans.clear()
    await p.call("POST", f"/api/v1/workflows/{wid}/publish", 202, json={"operation": "online"})
    detail = await p.published(wid)
    assert detail["publish_status"] == "published", detail
    route = "POST /api/v1/workflows/{workflow_id}/publish"

    def trace_of_request() -> Trace:
        finished = spans.get_finished_spans()
        roots = [x for x in finished if x.name == route and x.kind == SpanKind.SERVER and x.context is not None]
        assert len(roots) == 1, [x.name for x in finished]
        trace_id = roots[0].context.trace_id
        return Trace([x for x in finished if x.context is not None and x.context.trace_id == trace_id])

    async def complete() -> bool:
        # the last hop (definition consuming publish.completed) ends a moment after publish_status changed
        return any(x.name.endswith("publish.completed process") for x in trace_of_request().spans)

    with contextlib.suppress(AssertionError):
        await until(complete, "the consume of publish.completed in the trace", timeout_s=5)
    t = trace_of_request()
    tree = t.render()

    # gateway: the request (root of the trace) and its call to the definition service
    root = t.one(route, SpanKind.SERVER)
    assert root.parent is None, tree
    gw_calls = [x for x in t.under(root) if x.kind == SpanKind.CLIENT and p.urls["definition"] in url_of(x)]
    assert any(url_of(x).endswith(f"/internal/workflows/{wid}/publish") for x in gw_calls), tree

    # definition: its HTTP handling with SQL under it
    definition_req = t.one("POST /internal/workflows/{workflow_id}/publish", SpanKind.SERVER)
    assert definition_req in [y for x in gw_calls for y in t.under(x)], tree
    sql = [x for x in t.under(definition_req) if attr(x, "db.system", "db.system.name") == "postgresql"]
    assert sql, f"no SQL spans under the definition's request\n{tree}"

    # Kafka: the outbox row written by that request carries its trace context; the relay sends it in the record's
    # headers, and the publisher's consume (FastStream's telemetry middleware) continues it
    requested = p.topic("publish.requested")
    [record] = await read_topic(p.bootstrap, requested, expect=1, timeout_s=10)
    headers = {k: v.decode() for k, v in record.headers}
    assert int(headers["traceparent"].split("-")[1], 16) == root.context.trace_id
    consume = t.one(f"{requested} process", SpanKind.CONSUMER)
    assert definition_req in t.ancestors(consume), tree

    # publisher: the publish run (a background worker) continues the consume's trace; DS calls below it
    run = t.one("publisher.run_publish")
    assert consume in t.ancestors(run), tree
    ds_gateway = [x for x in t.under(run) if x.name.startswith("ds.gateway ")]
    assert {"ds.gateway createOrUpdateWorkflow"} <= {x.name for x in ds_gateway}, tree
    ds_rest = [x for x in t.under(run) if x.kind == SpanKind.CLIENT and url_of(x).startswith(p.emulator.rest_url)]
    assert any("/release" in url_of(x) for x in ds_rest), tree

    # publish.completed: staged in the outbox inside the run's span, consumed by definition and history-sync, each
    # updating its tables in the same trace
    completed_consumes = t.named(f"{p.topic('publish.completed')} process", SpanKind.CONSUMER)
    assert len(completed_consumes) == 2, tree
    for x in completed_consumes:
        assert run in t.ancestors(x), tree
        assert any(attr(y, "db.system", "db.system.name") == "postgresql" for y in t.under(x)), tree
    print(tree)

    # health and metrics are not traced (neither at the gateway nor at the services)
    spans.clear()
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await p.api.get(path)).status_code == 200
        for url in p.urls.values():
            async with httpx.AsyncClient(base_url=url) as client:
                assert (await client.get(path)).status_code == 200
    served = [x.name for x in spans.get_finished_spans() if x.kind == SpanKind.SERVER]
    assert served == []
