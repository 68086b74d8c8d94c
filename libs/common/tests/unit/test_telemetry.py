"""Trace propagation helpers and the DS gateway client's spans (the process's tracer provider, in-memory export)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from common.dolphin import DolphinGatewayClient, DolphinGatewayUnavailable
from common.telemetry import continued_span, current_trace_context, setup_tracing


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    setup_tracing("test", extra_processors=[SimpleSpanProcessor(exporter)])
    yield exporter
    exporter.clear()
    exporter.shutdown()


def test_continued_span_continues_the_stored_trace(spans: InMemorySpanExporter) -> None:
    with trace.get_tracer(__name__).start_as_current_span("request") as request:
        carrier = current_trace_context()
    assert set(carrier) >= {"traceparent"}
    assert trace.get_current_span() is trace.INVALID_SPAN

    with continued_span("job", carrier, attributes={"job.id": 7}) as job:
        assert trace.get_current_span() is job

    [finished] = [s for s in spans.get_finished_spans() if s.name == "job"]
    assert finished.context is not None
    assert finished.parent is not None
    assert finished.context.trace_id == request.get_span_context().trace_id
    assert finished.parent.span_id == request.get_span_context().span_id
    assert finished.attributes == {"job.id": 7}


@pytest.mark.parametrize("carrier", [None, {}])
def test_continued_span_without_a_stored_trace_starts_one(
    spans: InMemorySpanExporter, carrier: dict[str, str] | None
) -> None:
    assert current_trace_context() == {}
    with continued_span("job", carrier):
        pass
    [finished] = [s for s in spans.get_finished_spans() if s.name == "job"]
    assert finished.parent is None


async def test_gateway_calls_are_client_spans(spans: InMemorySpanExporter) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    async with DolphinGatewayClient("127.0.0.1", port, read_timeout=2.0) as client:
        with (
            trace.get_tracer(__name__).start_as_current_span("publish") as parent,
            pytest.raises(DolphinGatewayUnavailable),
        ):
            await client.ping()
    [span] = [s for s in spans.get_finished_spans() if s.name == "ds.gateway ping"]
    assert span.kind == SpanKind.CLIENT
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id
    assert span.status.status_code == StatusCode.ERROR
    assert (span.attributes or {}).get("rpc.method") == "ping"
