"""Trace propagation helpers and the DS gateway client's spans (the process's tracer provider, in-memory export)."""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import uuid
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import SecretStr

from common.dolphin import DolphinGatewayUnavailable
from common.dolphin.gateway import DolphinGatewayClient
from common.telemetry import (
    ReadWriteSampler,
    client_span,
    continued_span,
    current_trace_context,
    end_client_span,
    install_trace_context,
    recorded_trace_id,
    register_secrets,
    scrub_url,
    server_telemetry,
    setup_logging,
    tracer_provider,
)


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
    async with DolphinGatewayClient("127.0.0.1", port, SecretStr("test-gateway-token"), read_timeout=2.0) as client:
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


# ------------------------------------------------------------------------------------------------ sampling by kind


def _decision(sampler: Sampler, kind: SpanKind, method: str | None, parent: Context | None = None) -> bool:
    attributes = {"http.request.method": method} if method else None
    # the largest trace id: sampled only at ratio 1.0 (TraceIdRatioBased compares its low 64 bits to ratio * 2**64)
    result = sampler.should_sample(parent, 2**128 - 1, "span", kind, attributes)
    return result.decision is Decision.RECORD_AND_SAMPLE


@pytest.mark.parametrize(
    ("kind", "method", "sampled"),
    [
        (SpanKind.SERVER, "GET", False),
        (SpanKind.SERVER, "HEAD", False),
        (SpanKind.SERVER, "POST", True),
        (SpanKind.SERVER, "PUT", True),
        (SpanKind.SERVER, None, True),
        (SpanKind.CONSUMER, None, True),
        (SpanKind.INTERNAL, None, True),
        (SpanKind.CLIENT, "GET", True),  # a call made by a background run: its root is not a read request
    ],
)
def test_reads_and_changes_are_sampled_at_their_own_ratio(kind: SpanKind, method: str | None, sampled: bool) -> None:
    sampler = ParentBased(ReadWriteSampler(1.0, 0.0))
    assert _decision(sampler, kind, method) is sampled
    # and the other way round
    assert _decision(ParentBased(ReadWriteSampler(0.0, 1.0)), kind, method) is not sampled


@pytest.mark.parametrize(
    ("path", "always"),
    [
        ("/api/v1/workflows/42/publish", True),
        ("/internal/workflows/42/publish", True),
        ("/api/v1/publish-records/7/retry", True),
        ("/internal/publish-records/7/retry", True),
        ("/api/v1/workflows/42", False),
        ("/api/v1/workflows/42/publish/extra", False),
        ("/workflows/42/publish", False),
    ],
)
def test_a_publish_is_always_recorded_whatever_the_ratios(path: str, always: bool) -> None:
    sampler = ParentBased(ReadWriteSampler(0.0, 0.0))
    result = sampler.should_sample(
        None, 2**128 - 1, "POST", SpanKind.SERVER, {"http.request.method": "POST", "url.path": path}
    )
    assert (result.decision is Decision.RECORD_AND_SAMPLE) is always
    # a publish that reaches a service inside an unrecorded trace stays unrecorded (the trace is whole or absent)
    remote = trace.SpanContext(trace_id=7, span_id=9, is_remote=True, trace_flags=trace.TraceFlags(0))
    parent = trace.set_span_in_context(trace.NonRecordingSpan(remote))
    followed = sampler.should_sample(parent, 7, "POST", SpanKind.SERVER, {"url.path": path})
    assert followed.decision is not Decision.RECORD_AND_SAMPLE


def test_a_service_follows_the_decision_of_the_request_that_reached_it() -> None:
    sampler = ParentBased(ReadWriteSampler(1.0, 0.0))
    for flags, expected in ((trace.TraceFlags.SAMPLED, True), (trace.TraceFlags.DEFAULT, False)):
        remote = trace.SpanContext(trace_id=7, span_id=9, is_remote=True, trace_flags=trace.TraceFlags(flags))
        parent = trace.set_span_in_context(trace.NonRecordingSpan(remote))
        assert _decision(sampler, SpanKind.SERVER, "GET", parent) is expected
        assert _decision(sampler, SpanKind.SERVER, "POST", parent) is expected


def test_the_ratios_are_those_asked_for() -> None:
    sampler = ReadWriteSampler(0.5, 0.1)
    ids = [random.getrandbits(128) for _ in range(20_000)]

    def share(method: str) -> float:
        attributes = {"http.request.method": method}
        decisions = [sampler.should_sample(None, t, method, SpanKind.SERVER, attributes).decision for t in ids]
        return decisions.count(Decision.RECORD_AND_SAMPLE) / len(ids)

    assert 0.08 < share("GET") < 0.12
    assert 0.47 < share("POST") < 0.53
    assert "reads=0.1" in sampler.get_description()


# -------------------------------------------------------------------------------------------- server and client spans


async def test_server_spans_name_the_route_and_skip_health_and_metrics() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = FastAPI(telemetry=server_telemetry(provider))

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    async with _client(app) as client:
        caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        assert (await client.get("/items/3?x=1", headers={"traceparent": caller})).json() == {"id": 3}
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/items/nope")).status_code == 422
    first, invalid = exporter.get_finished_spans()
    assert first.name == "GET /items/{item_id}"
    assert first.kind is SpanKind.SERVER
    assert first.context is not None
    assert first.context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert first.parent is not None
    assert first.parent.span_id == 0xB7AD6B7169203331
    attributes = first.attributes or {}
    assert attributes["http.route"] == "/items/{item_id}"
    assert attributes["http.response.status_code"] == 200
    assert invalid.name == "GET /items/{item_id}"
    assert (invalid.attributes or {})["http.response.status_code"] == 422
    # no per-operation spans (dependencies, endpoint, serialisation)
    assert len(exporter.get_finished_spans()) == 2


async def test_a_request_whose_caller_is_not_recorded_is_served_under_the_callers_context() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = FastAPI(telemetry=server_telemetry(provider))
    install_trace_context(app)
    seen: list[tuple[trace.SpanContext, dict[str, str]]] = []

    @app.post("/items")
    async def create() -> int:
        # what the request stores with its work (an outbox row) and sends on (client_span's headers)
        seen.append((trace.get_current_span().get_span_context(), current_trace_context()))
        return 1

    caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
    async with _client(app) as client:
        assert (await client.post("/items", headers={"traceparent": caller})).json() == 1
        assert (await client.post("/items", headers={"traceparent": caller[:-2] + "01"})).json() == 1
    (unrecorded, stored), (recorded, _) = seen
    assert (unrecorded.trace_id, unrecorded.span_id) == (0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331)
    assert not unrecorded.trace_flags.sampled
    assert stored["traceparent"] == caller
    # the sampled caller's request has its server span, a child of the caller
    [span] = exporter.get_finished_spans()
    assert span.name == "POST /items"
    assert span.context is not None
    assert span.context.span_id == recorded.span_id
    assert span.parent is not None
    assert span.parent.span_id == 0xB7AD6B7169203331
    # and the caller's context does not outlive the request
    assert not trace.get_current_span().get_span_context().is_valid


async def test_a_trace_that_starts_at_a_request_is_decided_before_its_span_at_the_asked_ratio() -> None:
    exporter = InMemorySpanExporter()
    provider = tracer_provider("svc", sampling_ratio=1.0, read_sampling_ratio=0.5)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = FastAPI(telemetry=server_telemetry(provider))
    install_trace_context(app)
    served: list[tuple[trace.SpanContext, bool, dict[str, str]]] = []

    @app.api_route("/items", methods=["GET", "POST"])
    async def items() -> int:
        span = trace.get_current_span()
        served.append((span.get_span_context(), span.is_recording(), current_trace_context()))
        return 1

    reads = 600
    unsampled_caller = trace.NonRecordingSpan(
        trace.SpanContext(trace_id=0x0AF7651916CD43DD8448EB211C80319C, span_id=0xB7AD6B7169203331, is_remote=False)
    )
    async with _client(app) as client:
        for i in range(reads):
            # a request made in process where another trace is current still starts its own (as FastAPI makes it)
            with trace.use_span(unsampled_caller) if i % 2 else contextlib.nullcontext():
                assert (await client.get("/items")).status_code == 200
        for _ in range(20):
            assert (await client.post("/items")).status_code == 200
    recorded = exporter.get_finished_spans()
    recorded_reads = [s for s in recorded if s.name == "GET /items"]
    # the ratio asked for, not its square: a trace decided before FastAPI makes the span is not decided again
    assert 0.42 < len(recorded_reads) / reads < 0.58
    assert [s.name for s in recorded if s.name != "GET /items"] == ["POST /items"] * 20
    for context, recording, carrier in served:
        assert context.is_valid
        # a request is served under its trace's context, recorded or not, and passes the decision on
        flags = int(carrier["traceparent"].rsplit("-", 1)[1], 16)
        assert carrier["traceparent"] == f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags:02x}"
        assert recording is context.trace_flags.sampled is bool(flags & 1)
    assert {s.context.span_id for s in recorded if s.context is not None} == {
        c.span_id for c, recording, _ in served if recording
    }
    assert len({c.trace_id for c, _, _ in served}) == reads + 20


async def test_no_server_spans_without_a_provider() -> None:
    app = FastAPI(telemetry=server_telemetry(None))

    @app.get("/x")
    async def x() -> int:
        assert not trace.get_current_span().is_recording()
        return 1

    async with _client(app) as client:
        assert (await client.get("/x")).json() == 1


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


URL = "http://svc:8101/internal/x?page=1"


@pytest.mark.parametrize(("status", "error"), [(200, False), (304, False), (404, True), (503, True)])
def test_client_span_carries_the_trace_and_the_answer(spans: InMemorySpanExporter, status: int, error: bool) -> None:
    headers: dict[str, str] = {}
    tracer = trace.get_tracer(__name__)
    with tracer.start_as_current_span("request") as request, client_span("GET", URL, headers) as span:
        end_client_span(span, status)
    [finished] = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT and s.name == "GET"]
    assert finished.parent is not None
    assert finished.parent.span_id == request.get_span_context().span_id
    assert finished.context is not None
    assert headers["traceparent"].split("-")[1:3] == [
        format(finished.context.trace_id, "032x"),
        format(finished.context.span_id, "016x"),
    ]
    assert finished.attributes == {
        "http.request.method": "GET",
        "url.full": URL,
        "http.response.status_code": status,
    }
    assert (finished.status.status_code is StatusCode.ERROR) is error


def test_client_span_records_a_failed_exchange(spans: InMemorySpanExporter) -> None:
    with pytest.raises(ConnectionError), client_span("POST", "http://svc:8101/internal/x", {}):
        raise ConnectionError("refused")
    [finished] = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT and s.name == "POST"]
    assert finished.status.status_code is StatusCode.ERROR
    assert [e.name for e in finished.events] == ["exception"]


def test_no_client_span_inside_a_trace_that_is_not_recorded(spans: InMemorySpanExporter) -> None:
    unsampled = trace.SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C, span_id=0xB7AD6B7169203331, is_remote=True
    )
    headers: dict[str, str] = {}
    with trace.use_span(trace.NonRecordingSpan(unsampled)), client_span("GET", URL, headers) as span:
        assert span is None
    # the callee is told the decision (not sampled) and records nothing either
    assert headers["traceparent"] == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
    assert [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT] == []


def test_urls_lose_credentials_and_sensitive_query_values() -> None:
    assert scrub_url("https://oapi.dingtalk.com/robot/send?access_token=abc123def456") == (
        "https://oapi.dingtalk.com/robot/send?access_token=REDACTED"
    )
    assert scrub_url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-1234&debug=1") == (
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=REDACTED&debug=1"
    )
    assert scrub_url("http://user:pw@ds:12345/dolphinscheduler/projects?pageNo=1") == (
        "http://REDACTED:REDACTED@ds:12345/dolphinscheduler/projects?pageNo=1"
    )
    # a Slack webhook's secret is its path: registered with the channel's URL, masked wherever it shows
    slack = "https://hooks.slack.com/services/T0000/B0000/" + uuid.uuid4().hex
    register_secrets([slack])
    assert scrub_url(slack) == "***"
    assert scrub_url(slack + "?x=1") == "***?x=1"
    # its path alone is a secret too (behind a proxy, in an error message)
    assert scrub_url("http://proxy:3128" + urlsplit(slack).path) == "http://proxy:3128***"


async def test_no_registered_secret_reaches_an_exporter(spans: InMemorySpanExporter) -> None:
    token = "tok" + uuid.uuid4().hex
    hook = f"https://oapi.dingtalk.com/robot/send?access_token={token}"
    register_secrets([hook])

    def answer(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}")

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        with trace.get_tracer(__name__).start_as_current_span("deliver") as parent:
            parent.set_attribute("alert.webhook", hook)
            with pytest.raises(httpx.ConnectError):
                await client.post(hook, json={"msgtype": "text"})
            parent.record_exception(RuntimeError(f"delivery to {hook} failed"))
    exported = [s for s in spans.get_finished_spans() if s.context.trace_id == parent.get_span_context().trace_id]
    assert exported
    dumped = "".join(s.to_json() for s in exported)
    assert token not in dumped
    assert "access_token=REDACTED" in dumped or "***" in dumped


def test_secrets_are_masked_in_log_extras_and_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    secret = "s3cr3t-" + uuid.uuid4().hex
    register_secrets([secret])
    setup_logging("tests", json_logs=True)
    log = logging.getLogger("tests.redaction")
    try:
        raise ValueError(f"webhook {secret} refused")
    except ValueError:
        log.exception("delivery failed", extra={"url": f"https://example.com/hook/{secret}"})
    err = capsys.readouterr().err
    assert "delivery failed" in err
    assert secret not in err
    assert "***" in err


@pytest.mark.parametrize(
    ("carrier", "expected"),
    [
        (
            {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
            "4bf92f3577b34da6a3ce929d0e0e4736",
        ),
        ({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"}, None),  # not recorded
        ({"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}, None),
        ({"traceparent": "garbage"}, None),
        ({"traceparent": "00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_a_stored_trace_context_names_its_trace_only_when_recorded(carrier: object, expected: str | None) -> None:
    assert recorded_trace_id(carrier) == expected
