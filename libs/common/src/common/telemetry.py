"""OpenTelemetry and logging, set up once per process.

- traces: a ``TracerProvider`` named after the service, parent-based ratio sampling, OTLP/HTTP export when an
  endpoint is configured; FastAPI (minus health and metrics routes), httpx and SQLAlchemy instrumented; Kafka through
  FastStream's middleware (trace context in record headers);
- logs: JSON lines carrying ``trace_id``/``span_id`` of the current span and any ``extra`` fields (``event_id``…);
  every registered secret value is masked in every log record (a log-record factory), whatever the handler.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.util.types import AttributeValue
from pydantic import SecretStr
from pythonjsonlogger.json import JsonFormatter

EXCLUDED_URLS = "healthz,readyz,metrics"

_lock = threading.Lock()
_provider: TracerProvider | None = None
_secrets: set[str] = set()


def register_secrets(values: Iterable[SecretStr | str | None]) -> None:
    """Mask these values in every log record from now on (tokens, passwords, URLs with passwords)."""
    for v in values:
        raw = v.get_secret_value() if isinstance(v, SecretStr) else v
        if raw and len(raw) >= 4:
            _secrets.add(raw)
    if _secrets and logging.getLogRecordFactory() is not _redacting_factory:
        logging.setLogRecordFactory(_redacting_factory)


def redact(text: str) -> str:
    for s in _secrets:
        if s in text:
            text = text.replace(s, "***")
    return text


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            record.trace_id = format(ctx.trace_id, "032x")
            record.span_id = format(ctx.span_id, "016x")
        return True


_base_factory = logging.getLogRecordFactory()


def _redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Every log record of the process is created through this, so masking applies to all handlers."""
    record = _base_factory(*args, **kwargs)
    if _secrets:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
    return record


def setup_logging(service: str, *, level: str = "INFO", json_logs: bool = True) -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_platform", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._platform = True  # type: ignore[attr-defined]
    if json_logs:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                static_fields={"service": service},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_ContextFilter())
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))


def setup_tracing(
    service: str,
    *,
    otlp_endpoint: str = "",
    sampling_ratio: float = 1.0,
    extra_processors: Iterable[SpanProcessor] = (),
) -> TracerProvider:
    """The process's tracer provider (created on first call; later calls add processors to it)."""
    global _provider
    with _lock:
        if _provider is None:
            _provider = TracerProvider(
                resource=Resource.create({"service.name": service}),
                sampler=ParentBased(TraceIdRatioBased(sampling_ratio)),
            )
            if otlp_endpoint:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

                _provider.add_span_processor(
                    BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/traces"))
                )
            trace.set_tracer_provider(_provider)
            _instrument_libraries()
        for p in extra_processors:
            _provider.add_span_processor(p)
        return _provider


def _instrument_libraries() -> None:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument()


def instrument_transport(transport: Any) -> Any:
    """Client spans for an ``httpx`` transport other than httpx's own (which :func:`setup_tracing` instruments
    globally), once tracing is set up; the transport itself otherwise."""
    if _provider is None:
        return transport
    from opentelemetry.instrumentation.httpx import AsyncOpenTelemetryTransport

    return AsyncOpenTelemetryTransport(transport, tracer_provider=_provider)


def instrument_app(app: Any, provider: TracerProvider | None = None) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # one server span per request: the ASGI "http send"/"http receive" child spans add cost and no information
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls=EXCLUDED_URLS, tracer_provider=provider, exclude_spans=["receive", "send"]
    )


def instrument_engine(engine: Any, provider: TracerProvider | None = None) -> None:
    """Trace the statements of ``engine``. ``SQLAlchemyInstrumentor`` is a process-wide singleton that instruments
    only the engine of its first call; later engines (several services in one process, as in the cross-service
    tests, or an engine re-created after the first was disposed) get an ``EngineTracer`` of their own."""
    from opentelemetry import metrics
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.semconv.metrics import MetricInstruments

    instrumentor = SQLAlchemyInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(engine=engine.sync_engine, tracer_provider=provider)
        return
    name = "opentelemetry.instrumentation.sqlalchemy"
    connections = metrics.get_meter(name).create_up_down_counter(
        name=MetricInstruments.DB_CLIENT_CONNECTIONS_USAGE,
        unit="connections",
        description="The number of connections that are currently in state described by the state attribute.",
    )
    EngineTracer(trace.get_tracer(name, tracer_provider=provider), engine.sync_engine, connections)  # type: ignore[no-untyped-call]


def current_trace_context() -> dict[str, str]:
    """The current W3C trace context (``traceparent``, ``tracestate``) as a dict: store it with work that runs
    later, elsewhere (a job row), and continue the trace there with :func:`continued_span`. Empty without a trace."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextlib.contextmanager
def continued_span(
    name: str, carrier: Mapping[str, str] | None, *, attributes: Mapping[str, AttributeValue] | None = None
) -> Iterator[trace.Span]:
    """A span (current for the block) that continues the trace stored in ``carrier`` by
    :func:`current_trace_context`; a new trace when ``carrier`` holds none."""
    parent = propagate.extract(dict(carrier or {}))
    with trace.get_tracer("common.telemetry").start_as_current_span(
        name, context=parent, attributes=attributes
    ) as span:
        yield span
