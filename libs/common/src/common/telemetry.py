"""OpenTelemetry and logging, set up once per process.

- traces: a ``TracerProvider`` named after the service, parent-based ratio sampling, OTLP/HTTP export when an
  endpoint is configured; FastAPI's own server spans (minus health, metrics and requests whose trace is not
  recorded), httpx and SQLAlchemy instrumented, direct aiohttp calls through :func:`client_span`, direct asyncpg
  reads through :func:`statement_span`; Kafka through FastStream's middleware (trace context in record headers);
- logs: JSON lines carrying ``trace_id``/``span_id`` of the current span and any ``extra`` fields (``event_id``…);
  every registered secret value is masked in every log record (a log-record factory), whatever the handler.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any

from fastapi.telemetry import TelemetryConfig
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, SamplingResult, TraceIdRatioBased
from opentelemetry.util.types import Attributes, AttributeValue
from pydantic import SecretStr
from pythonjsonlogger.json import JsonFormatter

from common.outage import OutageLogFilter

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
    # outages are told once (the database) or with backoff (the Kafka clients), not once per failure
    handler.addFilter(OutageLogFilter())
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))


#: HTTP methods that only read (RFC 9110 safe methods)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ReadWriteSampler(Sampler):
    """The decision for a trace's root span by the kind of work it starts: a request that only reads (a SERVER span
    whose ``http.request.method`` is safe) is sampled at ``read_ratio``; everything else (a request that changes
    something, an event consumed without a trace context, a background run) at ``ratio``. Both decide by the trace
    id (``TraceIdRatioBased``). Used under ``ParentBased``: the services a request reaches follow its root's
    decision, so a trace is whole or absent."""

    def __init__(self, ratio: float, read_ratio: float) -> None:
        self._all = TraceIdRatioBased(ratio)
        self._reads = TraceIdRatioBased(read_ratio)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: trace.SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        method = attributes.get("http.request.method") if kind is trace.SpanKind.SERVER and attributes else None
        chosen = self._reads if isinstance(method, str) and method in SAFE_METHODS else self._all
        return chosen.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"ReadWriteSampler{{{self._all.rate}, reads={self._reads.rate}}}"


class DecidedIdGenerator(RandomIdGenerator):
    """Random ids, except the trace id of a request's server span when its sampling was decided before the span was
    made (``server_telemetry``'s ``exclude``, for a trace that starts at the request): that span gets the trace id
    the decision was drawn for, so the sampler (deterministic in the trace id) decides the same again."""

    _decided: contextvars.ContextVar[int] = contextvars.ContextVar("common.telemetry.decided_trace_id", default=0)

    def decide_next(self, trace_id: int) -> None:
        """The next trace id generated in this context (the request's task) is ``trace_id``."""
        self._decided.set(trace_id)

    def generate_trace_id(self) -> int:
        decided = self._decided.get()
        if decided:
            self._decided.set(0)
            return decided
        return super().generate_trace_id()


def tracer_provider(
    service: str, *, sampling_ratio: float = 1.0, read_sampling_ratio: float | None = None
) -> TracerProvider:
    """A provider named after ``service`` that samples new traces at ``sampling_ratio``, those started by a request
    that only reads at ``read_sampling_ratio`` (the same by default; see :class:`ReadWriteSampler`), and follows the
    decision of a trace it continues."""
    reads = sampling_ratio if read_sampling_ratio is None else read_sampling_ratio
    return TracerProvider(
        resource=Resource.create({"service.name": service}),
        sampler=ParentBased(ReadWriteSampler(sampling_ratio, reads)),
        id_generator=DecidedIdGenerator(),
    )


def setup_tracing(
    service: str,
    *,
    otlp_endpoint: str = "",
    sampling_ratio: float = 1.0,
    read_sampling_ratio: float | None = None,
    extra_processors: Iterable[SpanProcessor] = (),
) -> TracerProvider:
    """The process's tracer provider (created on first call; later calls add processors to it). New traces are
    sampled at ``sampling_ratio``, those started by a request that only reads at ``read_sampling_ratio`` (the same
    by default); see :class:`ReadWriteSampler`."""
    global _provider
    with _lock:
        if _provider is None:
            _provider = tracer_provider(service, sampling_ratio=sampling_ratio, read_sampling_ratio=read_sampling_ratio)
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


@functools.cache
def _http_tracer(provider: TracerProvider) -> trace.Tracer:
    # one tracer per provider: ``get_tracer`` builds a new one on every call (~4 % of a gateway request)
    return trace.get_tracer("common.telemetry.http", tracer_provider=provider)


@contextlib.contextmanager
def client_span(method: str, url: str, headers: dict[str, str]) -> Iterator[trace.Span | None]:
    """The CLIENT span of one HTTP call sent without httpx (straight to an aiohttp session), current for the block,
    with the trace context injected into ``headers``; ``None`` while tracing is not set up (nothing injected), or
    inside a trace that is not recorded (its context injected as it is, so the callee does not record either).
    Attributes follow the HTTP client semantic conventions; the caller sets the answer's status with
    :func:`end_client_span`. An exception leaving the block is recorded and marks the span as an error."""
    if _provider is None:
        yield None
        return
    current = trace.get_current_span().get_span_context()
    if current.is_valid and not current.trace_flags.sampled:
        # a request whose trace is not recorded: the callee only needs that decision, which the header carries
        propagate.inject(headers)
        yield None
        return
    with _http_tracer(_provider).start_as_current_span(
        method, kind=trace.SpanKind.CLIENT, attributes={"http.request.method": method, "url.full": url}
    ) as span:
        propagate.inject(headers)
        yield span


def end_client_span(span: trace.Span | None, status: int) -> None:
    """Record the answer's HTTP status on a :func:`client_span`; 4xx and 5xx mark it as an error (the HTTP semantic
    conventions for a CLIENT span: the call did not do what was asked; its server span judges 4xx otherwise)."""
    if span is None or not span.is_recording():
        return
    span.set_attribute("http.response.status_code", status)
    if status >= 400:
        span.set_status(trace.StatusCode.ERROR, f"HTTP {status}")


@contextlib.contextmanager
def statement_span(statement: str, *, database: str) -> Iterator[None]:
    """The CLIENT span of one statement run straight on asyncpg (``common.db.ReadPool``), named and attributed as
    the SQLAlchemy instrumentation names its own (``<first word> <database>``, ``db.system``, ``db.name``,
    ``db.statement``); like those (:func:`instrument_engine`), only inside a recorded span. An exception leaving the
    block is recorded and marks the span as an error."""
    if _provider is None or not trace.get_current_span().is_recording():
        yield
        return
    operation = statement.split(None, 1)[0] if statement.strip() else "postgresql"
    attributes = {"db.system": "postgresql", "db.name": database, "db.statement": statement}
    with _db_tracer(_provider).start_as_current_span(
        f"{operation} {database}", kind=trace.SpanKind.CLIENT, attributes=attributes
    ):
        yield


@functools.cache
def _db_tracer(provider: TracerProvider) -> trace.Tracer:
    return trace.get_tracer("common.telemetry.db", tracer_provider=provider)


UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

#: where ``exclude`` leaves the context of a request's unrecorded trace, for ``TraceContextMiddleware``
_UNRECORDED = "common.telemetry.unrecorded_trace"


class _Untraced:
    """FastAPI's ``exclude`` (``server_telemetry``): what gets no server span.

    - health and metrics;
    - a request whose trace is not recorded. Parent-based sampling would not record its span, but FastAPI would
      still build the span's attributes (the query string parsed and re-encoded) and a non-recording span: ~40 % of
      an internal list read's framework CPU and a quarter to a third of the gateway's, measured in process. Such a
      request is served under the context of its trace instead (:class:`TraceContextMiddleware`):

      - the caller's, when its ``traceparent`` says not sampled;
      - a new one, when the trace starts here and the provider's sampler, asked before FastAPI makes the span, says
        not sampled. When it says sampled, the span FastAPI makes gets the trace id the decision was drawn for
        (:class:`DecidedIdGenerator`), and the sampler decides the same again. Only with a provider of
        :func:`tracer_provider`; with another, the sampler decides when FastAPI makes the span, as usual."""

    def __init__(self, provider: TracerProvider) -> None:
        self._sampler = provider.sampler
        ids = provider.id_generator
        self._ids = ids if isinstance(ids, DecidedIdGenerator) else None

    def __call__(self, scope: MutableMapping[str, Any]) -> bool:
        if _untraced_path(scope):
            return True
        headers = scope.get("headers") or ()
        if any(name == b"traceparent" for name, _ in headers):
            caller = propagate.extract({name.decode("latin-1"): value.decode("latin-1") for name, value in headers})
            context = trace.get_current_span(caller).get_span_context()
            if not context.is_valid or context.trace_flags.sampled:
                return False
            scope[_UNRECORDED] = caller
            return True
        if self._ids is None:
            return False
        method = str(scope.get("method", ""))
        trace_id = RandomIdGenerator.generate_trace_id(self._ids)
        # as FastAPI will make the span: a root, whatever span is current where the app is called
        decided = self._sampler.should_sample(
            Context(), trace_id, method, kind=trace.SpanKind.SERVER, attributes={"http.request.method": method}
        )
        if decided.decision.is_sampled():  # type: ignore[no-untyped-call]
            self._ids.decide_next(trace_id)
            return False
        unrecorded = trace.SpanContext(
            trace_id,
            self._ids.generate_span_id(),
            is_remote=False,
            trace_flags=trace.TraceFlags(trace.TraceFlags.RANDOM_TRACE_ID),  # as the SDK marks its own
            trace_state=decided.trace_state,
        )
        scope[_UNRECORDED] = trace.set_span_in_context(trace.NonRecordingSpan(unrecorded), Context())
        return True


class TraceContextMiddleware:
    """Pure ASGI, inside FastAPI's telemetry (``install_trace_context``): a request left without a server span because
    its trace is not recorded (see :class:`_Untraced`) is served under that trace's context, so that what it calls,
    sends or stores (``client_span``, ``current_trace_context``) continues that trace, unrecorded too."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        unrecorded: Context | None = scope.get(_UNRECORDED)
        if unrecorded is None:
            await self.app(scope, receive, send)
            return
        token = otel_context.attach(Context({**otel_context.get_current(), **unrecorded}))
        try:
            await self.app(scope, receive, send)
        finally:
            otel_context.detach(token)


def install_trace_context(app: Any) -> None:
    """Add :class:`TraceContextMiddleware` to a FastAPI app whose telemetry is ``server_telemetry``."""
    app.add_middleware(TraceContextMiddleware)


def server_telemetry(provider: TracerProvider | None) -> TelemetryConfig:
    """FastAPI's own OpenTelemetry instrumentation (``FastAPI(telemetry=...)``): one SERVER span per request, named
    ``METHOD /route/{template}``, continuing the caller's trace context; health and metrics are not traced, nor is a
    request whose trace is not recorded (it is served under that trace's context instead: pair with
    :func:`install_trace_context`; see :class:`_Untraced`). Its per-operation spans (dependencies, endpoint,
    serialisation) are off: a request's span plus the spans of what it calls (SQL, HTTP, Kafka) is the trace SREs
    read, and each span costs ~0.1 ms of CPU to create and export. The HTTP metrics are the Prometheus RED metrics
    (``common.red``); logs go through ``logging``. ``None``: off."""
    return {
        "tracer_provider": provider,
        "tracing": provider is not None,
        "metrics": False,
        "logs": False,
        "operation_spans": False,
        "auto_configure": False,
        "exclude": _Untraced(provider) if provider is not None else _untraced_path,
    }


def _untraced_path(scope: MutableMapping[str, Any]) -> bool:
    return scope.get("path") in UNTRACED_PATHS


def instrument_engine(engine: Any, provider: TracerProvider | None = None) -> None:
    """A CLIENT span for each statement of ``engine`` run inside a recorded span (a sampled request, a consumed event,
    a background run with a span of its own), by the contrib instrumentation's ``EngineTracer``, one per engine:
    several services in one process, as in the cross-service tests, or an engine re-created after the first was
    disposed, are each traced.

    - ``SQLAlchemyInstrumentor().instrument()`` is not used: besides tracing the engines it wraps every
      ``Engine.connect`` of the process in a ``connect`` span, one more span per unit of work (a pool checkout);
    - a statement outside a recorded span gets none: under an unsampled request the span would not be recorded anyway
      (parent-based sampling), but the tracer still read the URL and made a non-recording span per statement, ~0.15 ms
      of a list read; and a statement outside any span (the outbox relay's polls, every second) made a trace of one
      span each."""
    from opentelemetry import metrics
    from opentelemetry.semconv.metrics import MetricInstruments

    name = "opentelemetry.instrumentation.sqlalchemy"
    connections = metrics.get_meter(name).create_up_down_counter(
        name=MetricInstruments.DB_CLIENT_CONNECTIONS_USAGE,
        unit="connections",
        description="The number of connections that are currently in state described by the state attribute.",
    )
    _statement_tracer()(trace.get_tracer(name, tracer_provider=provider), engine.sync_engine, connections)


@functools.cache
def _statement_tracer() -> type:
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

    class StatementTracer(EngineTracer):
        def _before_cur_exec(
            self, conn: Any, cursor: Any, statement: Any, params: Any, context: Any, executemany: bool
        ) -> tuple[Any, Any]:
            if not trace.get_current_span().is_recording():
                return statement, params
            result: tuple[Any, Any] = super()._before_cur_exec(  # type: ignore[no-untyped-call]
                conn, cursor, statement, params, context, executemany
            )
            return result

    return StatementTracer


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
