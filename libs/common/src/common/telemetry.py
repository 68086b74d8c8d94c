"""OpenTelemetry and logging, set up once per process.

- traces: a ``TracerProvider`` named after the service, parent-based ratio sampling that always keeps a publish
  (:data:`ALWAYS_SAMPLED_PATHS`), OTLP/HTTP and/or Zipkin JSON export when an endpoint is configured; FastAPI's own
  server spans (minus health, metrics and requests whose trace is not recorded), httpx and SQLAlchemy
  instrumented, direct aiohttp calls through :func:`client_span`, direct asyncpg reads through
  :func:`statement_span`; Kafka through FastStream's middleware (trace context in record headers);
- logs: JSON lines carrying ``trace_id``/``span_id`` of the current span and any ``extra`` fields (``event_id``…);
  every registered secret value is masked in every log record's message (a log-record factory), whatever the
  handler, and in everything the platform's handler writes (message, ``extra`` fields, tracebacks:
  :class:`RedactingFormatter`);
- secrets in traces: URLs are recorded without their credentials and sensitive query values (:func:`scrub_url`: the
  ``url.full`` of :func:`client_span` and of httpx's spans, through the instrumentation's request hooks), and
  :class:`SecretScrubbingProcessor`, the provider's first processor, masks every registered secret in the attributes
  and events of every span before any exporter sees it. A webhook URL registered as a secret (alerting's channels)
  also registers its path and query values: a Slack webhook's path is its secret.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi.telemetry import TelemetryConfig
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, SpanProcessor, TracerProvider
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
    """Mask these values in every log record and span from now on (tokens, passwords, URLs with passwords). For a
    URL, its path and its query values are registered too (a webhook's path or ``access_token`` is its secret)."""
    for v in values:
        raw = v.get_secret_value() if isinstance(v, SecretStr) else v
        if raw and len(raw) >= 4:
            _secrets.add(raw)
            if raw.startswith(("http://", "https://")):
                parts = urlsplit(raw)
                if len(parts.path) >= 8:
                    _secrets.add(parts.path)
                for _, value in parse_qsl(parts.query):
                    if len(value) >= 4:
                        _secrets.add(value)
    if _secrets and logging.getLogRecordFactory() is not _redacting_factory:
        logging.setLogRecordFactory(_redacting_factory)


def redact(text: str) -> str:
    # longest first: a URL is masked whole before its path is
    for s in sorted(_secrets, key=len, reverse=True):
        if s in text:
            text = text.replace(s, "***")
    return text


#: query parameters whose values are credentials, whatever the URL (OpenTelemetry's semantic conventions redact
#: ``url.full`` the same way)
SENSITIVE_QUERY_PARAMS = frozenset(
    {"access_token", "token", "key", "secret", "password", "sig", "signature", "sign", "apikey", "api_key", "auth"}
)


def scrub_url(url: str) -> str:
    """``url`` for a span or a log: no user name or password, the values of sensitive query parameters
    (``SENSITIVE_QUERY_PARAMS``) replaced by ``REDACTED``, and every registered secret masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "REDACTED:REDACTED@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in SENSITIVE_QUERY_PARAMS for k, _ in pairs):
            query = urlencode([(k, "REDACTED" if k.lower() in SENSITIVE_QUERY_PARAMS else v) for k, v in pairs])
    return redact(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, tuple | list):
        return tuple(redact(v) if isinstance(v, str) else v for v in value)
    return value


def _has_secret(value: Any) -> bool:
    if isinstance(value, str):
        return any(s in value for s in _secrets)
    if isinstance(value, tuple | list):
        return any(isinstance(v, str) and any(s in v for s in _secrets) for v in value)
    return False


class SecretScrubbingProcessor(SpanProcessor):
    """The provider's first span processor: masks every registered secret in a span's attributes (when it starts and
    when it ends) and in its events (exception messages and stack traces), before the processors after it (the
    exporters) see the span. ``url.full`` is scrubbed like :func:`scrub_url`."""

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        attributes = getattr(span, "attributes", None) or {}
        url = attributes.get("url.full")
        if isinstance(url, str):
            span.set_attribute("url.full", scrub_url(url))
        if _secrets:
            for key, value in attributes.items():
                if _has_secret(value):
                    span.set_attribute(key, _scrub_value(value))

    def on_end(self, span: Any) -> None:
        # ``span`` is the ReadableSpan every later processor gets: what is replaced here is what they export
        if not _secrets:
            return
        try:
            attributes = span._attributes
            if attributes is not None and any(_has_secret(v) for v in attributes.values()):
                span._attributes = BoundedAttributes(
                    getattr(attributes, "maxlen", None),
                    {k: _scrub_value(v) for k, v in attributes.items()},
                    immutable=True,
                )
            events = span._events
            if any(_has_secret(v) for e in events for v in (e.attributes or {}).values()) or any(
                _has_secret(e.name) for e in events
            ):
                scrubbed = [
                    Event(redact(e.name), {k: _scrub_value(v) for k, v in (e.attributes or {}).items()}, e.timestamp)
                    for e in events
                ]
                span._events = tuple(scrubbed)
        except AttributeError:  # not the SDK's span: nothing of ours to scrub
            return

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


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
    inner: logging.Formatter
    if json_logs:
        inner = JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
        )
    else:
        inner = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(RedactingFormatter(inner))
    handler.addFilter(_ContextFilter())
    # outages are told once (the database) or with backoff (the Kafka clients), not once per failure
    handler.addFilter(OutageLogFilter())
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))


class RedactingFormatter(logging.Formatter):
    """Formats with ``inner`` and masks every registered secret in the result: the message, the ``extra`` fields
    (which reach a record after the record factory ran) and the traceback alike."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record)) if _secrets else self.inner.format(record)

    def formatException(self, ei: Any) -> str:
        return redact("".join(traceback.format_exception(*ei)))


#: HTTP methods that only read (RFC 9110 safe methods)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


#: request paths (``url.path`` of a SERVER span) whose traces are always recorded, whatever the ratios: a publish or
#: the retry of one, at the gateway (``/api/v1/…``) and at the service it calls (``/internal/…``). The services a
#: publish reaches (through HTTP and Kafka, down to DolphinScheduler and the ``publish.completed`` consumers) follow
#: this root's decision (parent-based), so every publish is one whole trace.
ALWAYS_SAMPLED_PATHS = re.compile(r"^(/api/v1|/internal)/(workflows/[^/]+/publish|publish-records/[^/]+/retry)$")


class ReadWriteSampler(Sampler):
    """The decision for a trace's root span by the kind of work it starts: a publish (a SERVER span whose
    ``url.path`` matches :data:`ALWAYS_SAMPLED_PATHS`) is always recorded; a request that only reads (a SERVER span
    whose ``http.request.method`` is safe) is sampled at ``read_ratio``; everything else (a request that changes
    something, an event consumed without a trace context, a background run) at ``ratio``. Both ratios decide by the
    trace id (``TraceIdRatioBased``). Used under ``ParentBased``: the services a request reaches follow its root's
    decision, so a trace is whole or absent."""

    def __init__(self, ratio: float, read_ratio: float) -> None:
        self._all = TraceIdRatioBased(ratio)
        self._reads = TraceIdRatioBased(read_ratio)
        self._always = TraceIdRatioBased(1.0)

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
        server = kind is trace.SpanKind.SERVER and attributes
        method = attributes.get("http.request.method") if server and attributes else None
        path = attributes.get("url.path") if server and attributes else None
        if isinstance(path, str) and ALWAYS_SAMPLED_PATHS.match(path):
            chosen = self._always
        else:
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
    zipkin_endpoint: str = "",
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
            # first: no processor after it (no exporter) sees a registered secret
            _provider.add_span_processor(SecretScrubbingProcessor())
            if otlp_endpoint:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

                _provider.add_span_processor(
                    BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/traces"))
                )
            if zipkin_endpoint:
                from opentelemetry.exporter.zipkin.json import ZipkinExporter

                _provider.add_span_processor(BatchSpanProcessor(ZipkinExporter(endpoint=zipkin_endpoint)))
            trace.set_tracer_provider(_provider)
            _instrument_libraries()
        for p in extra_processors:
            _provider.add_span_processor(p)
        return _provider


def _scrub_request_url(span: trace.Span, request: Any) -> None:
    """httpx instrumentation hook: the span's URL without credentials or sensitive query values."""
    if span.is_recording():
        url = scrub_url(str(request.url if hasattr(request, "url") else request[1]))
        attributes = getattr(span, "attributes", None) or {}
        for key in ("url.full", "http.url"):
            if key in attributes:
                span.set_attribute(key, url)


async def _scrub_request_url_async(span: trace.Span, request: Any) -> None:
    _scrub_request_url(span, request)


def _instrument_libraries() -> None:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument(request_hook=_scrub_request_url, async_request_hook=_scrub_request_url_async)


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
        method, kind=trace.SpanKind.CLIENT, attributes={"http.request.method": method, "url.full": scrub_url(url)}
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
        attributes = {"http.request.method": method, "url.path": str(scope.get("path", ""))}
        decided = self._sampler.should_sample(
            Context(), trace_id, method, kind=trace.SpanKind.SERVER, attributes=attributes
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


def recorded_trace_id(carrier: Any) -> str | None:
    """The trace id (32 hex digits) of a context stored by :func:`current_trace_context` when its trace was recorded
    (the ``sampled`` flag of its ``traceparent``): an unrecorded trace is in no backend, so nothing should link to it.
    ``None`` for no context, an unrecorded one, or a malformed ``traceparent``."""
    traceparent = carrier.get("traceparent") if isinstance(carrier, Mapping) else None
    if not isinstance(traceparent, str):
        return None
    parts = traceparent.split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[3]) != 2:
        return None
    try:
        trace_id, flags = int(parts[1], 16), int(parts[3], 16)
    except ValueError:
        return None
    return parts[1].lower() if trace_id and flags & 0x01 else None


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
