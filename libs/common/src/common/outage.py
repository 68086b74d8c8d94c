"""Outages of a dependency, told once, and the Kafka clients' error logs, told with backoff.

While PostgreSQL is down every request and every background loop of a service fails the same way; a traceback per
failure buries the one fact that matters (and the lines around it). While Kafka is down, aiokafka's clients log
each reconnect attempt, hundreds of lines a second per service. So:

- ``Outage`` (one per dependency and process: ``DATABASE``) logs the outage when its first failure is seen (a
  WARNING with the error's type and message, no traceback) and its end when the dependency answers again (an INFO
  line with how long it lasted and how many failures it absorbed); ``dependency_failures_total{dependency}`` counts
  every failure and ``dependency_outages_total{dependency}`` every outage. The database's end is seen by the engines
  and pools of ``common.db`` (a new connection succeeds).
- ``OutageLogFilter`` sits on the platform's log handler (``common.telemetry.setup_logging``): a record whose
  exception is the database being unavailable (``database_unavailable``) is counted into ``DATABASE`` instead of being
  printed; a record of the Kafka clients (``aiokafka*`` at WARNING or above) or one whose exception is a Kafka error
  is counted in ``kafka_client_errors_total{logger}`` and printed with exponential backoff per logger and message
  (1 s, 2 s, 4 s … at most one a minute), the printed one saying how many like it were left out.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from types import TracebackType

import asyncpg
from aiokafka.errors import KafkaError
from prometheus_client import Counter
from sqlalchemy import exc as sa_exc

log = logging.getLogger(__name__)

DEPENDENCY_FAILURES = Counter(
    "dependency_failures_total", "Failures caused by an unavailable dependency (database …)", ["dependency"]
)
DEPENDENCY_OUTAGES = Counter("dependency_outages_total", "Outages of a dependency seen by this process", ["dependency"])
KAFKA_CLIENT_ERRORS = Counter(
    "kafka_client_errors_total", "Errors and warnings logged by the Kafka clients (printed with backoff)", ["logger"]
)

_PG_OUTAGE_TYPES = (asyncpg.PostgresConnectionError, asyncpg.TooManyConnectionsError)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < 10 and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _raised_by_driver(tb: TracebackType | None) -> bool:
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        if module.startswith(("asyncpg", "sqlalchemy")):
            return True
        tb = tb.tb_next
    return False


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached or is not accepting work (down, shutting down,
    starting, out of connections, the connection dropped) — as opposed to a bad statement or a conflict."""
    for e in _chain(exc):
        if isinstance(e, sa_exc.DBAPIError) and e.connection_invalidated:
            return True
        if isinstance(e, _PG_OUTAGE_TYPES):
            return True
        if isinstance(e, asyncpg.exceptions.OperatorInterventionError) and not isinstance(
            e, asyncpg.exceptions.QueryCanceledError
        ):
            return True  # shutting down, cannot connect now, terminated by the administrator
        if isinstance(e, asyncpg.InterfaceError) and "closed" in str(e):
            return True
        if isinstance(e, OSError) and _raised_by_driver(e.__traceback__):
            return True  # connection refused or reset, host unreachable, connect timeout
    return False


def kafka_error(exc: BaseException) -> bool:
    return any(isinstance(e, KafkaError) for e in _chain(exc))


class Outage:
    """The outage of one dependency in this process (see the module docstring)."""

    def __init__(self, dependency: str) -> None:
        self.dependency = dependency
        self._lock = threading.Lock()
        self._since: float | None = None
        self._failures = 0

    @property
    def active(self) -> bool:
        return self._since is not None

    def failed(self, exc: BaseException) -> None:
        DEPENDENCY_FAILURES.labels(self.dependency).inc()
        with self._lock:
            self._failures += 1
            if self._since is not None:
                return
            self._since = time.monotonic()
        DEPENDENCY_OUTAGES.labels(self.dependency).inc()
        log.warning(
            "%s unavailable: %s: %s (further failures are not logged until it answers again)",
            self.dependency,
            type(exc).__name__,
            str(exc)[:300],
            extra={"dependency": self.dependency},
        )

    def recovered(self) -> None:
        with self._lock:
            since, failures = self._since, self._failures
            self._since, self._failures = None, 0
        if since is None:
            return
        lasted = time.monotonic() - since
        log.info(
            "%s reachable again after %.1f s (%d failures during the outage)",
            self.dependency,
            lasted,
            failures,
            extra={"dependency": self.dependency},
        )


DATABASE = Outage("database")


@dataclass
class _Backoff:
    next_at: float
    interval: float
    suppressed: int = 0
    last_seen: float = 0.0


class OutageLogFilter(logging.Filter):
    """See the module docstring. ``first_interval_s`` / ``max_interval_s``: the backoff of the Kafka clients' lines."""

    def __init__(self, *, first_interval_s: float = 1.0, max_interval_s: float = 60.0) -> None:
        super().__init__()
        self._first = first_interval_s
        self._max = max_interval_s
        self._lock = threading.Lock()
        self._kafka: dict[tuple[str, str], _Backoff] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and database_unavailable(exc):
            DATABASE.failed(exc)
            return False
        if (record.levelno >= logging.WARNING and record.name.split(".")[0] == "aiokafka") or (
            exc is not None and kafka_error(exc)
        ):
            KAFKA_CLIENT_ERRORS.labels(record.name).inc()
            return self._kafka_due(record)
        return True

    def _kafka_due(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        key = (record.name, str(record.msg))
        with self._lock:
            b = self._kafka.get(key)
            if b is None or now - b.last_seen > self._max * 2:  # quiet for long: a new episode
                self._kafka[key] = _Backoff(next_at=now + self._first, interval=self._first, last_seen=now)
                return True
            b.last_seen = now
            if now < b.next_at:
                b.suppressed += 1
                return False
            suppressed, b.suppressed = b.suppressed, 0
            b.interval = min(self._max, b.interval * 2)
            b.next_at = now + b.interval
        if suppressed:
            record.msg = f"{record.getMessage()} (and {suppressed} more like it since, not logged)"
            record.args = None
        return True
