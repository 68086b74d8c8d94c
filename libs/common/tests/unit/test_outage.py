"""Outages told once, Kafka client errors told with backoff (``common.outage``), the retry helper (``common.retry``)
and the HTTP answer to an unreachable database (``common.http``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator

import asyncpg
import httpx
import pytest
from aiokafka.errors import KafkaConnectionError
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError

from common.errors import UpstreamUnavailable, ValidationFailed
from common.http import install_problem_handlers
from common.outage import DATABASE, Outage, OutageLogFilter, database_unavailable, kafka_error
from common.retry import is_transient, retrying


def _raised(exc: BaseException) -> BaseException:
    """``exc`` with a traceback (as the driver would raise it)."""
    try:
        raise exc
    except BaseException as e:
        return e


def test_database_unavailable_tells_an_outage_from_a_bad_statement() -> None:
    assert database_unavailable(asyncpg.CannotConnectNowError("the database system is shutting down"))
    assert database_unavailable(asyncpg.exceptions.AdminShutdownError("terminating connection"))
    assert database_unavailable(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"))
    assert database_unavailable(asyncpg.exceptions.TooManyConnectionsError("too many clients"))
    wrapped = DBAPIError("SELECT 1", None, Exception("gone"), connection_invalidated=True)
    assert database_unavailable(wrapped)
    # an error caused by one (the chain is followed)
    outer = RuntimeError("wrapper")
    outer.__cause__ = asyncpg.CannotConnectNowError("starting up")
    assert database_unavailable(outer)
    # not an outage: a bad statement, a cancelled (timed-out) statement, a plain network error elsewhere
    assert not database_unavailable(asyncpg.exceptions.UndefinedTableError("no such table"))
    assert not database_unavailable(asyncpg.exceptions.QueryCanceledError("statement timeout"))
    assert not database_unavailable(_raised(ConnectionRefusedError(111, "refused")))
    assert not database_unavailable(ValueError("x"))


def test_an_outage_is_logged_once_then_its_end(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="common.outage")
    outage = Outage("database")
    outage.recovered()  # nothing to end
    for _ in range(5):
        outage.failed(asyncpg.CannotConnectNowError("the database system is starting up"))
    assert outage.active
    outage.recovered()
    outage.recovered()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("database unavailable: CannotConnectNowError: the database system is starting up")
    assert "reachable again" in lines[1]
    assert "(5 failures during the outage)" in lines[1]
    assert not outage.active


def _record(name: str, level: int, msg: str, exc: BaseException | None = None) -> logging.LogRecord:
    info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord(name, level, __file__, 1, msg, (), info)


@pytest.fixture
def no_outage() -> Iterator[None]:
    DATABASE.recovered()
    yield
    DATABASE.recovered()


def test_the_log_filter_folds_database_failures_into_the_outage(no_outage: None) -> None:
    f = OutageLogFilter()
    error = asyncpg.CannotConnectNowError("shutting down")
    assert f.filter(_record("history_sync.service", logging.ERROR, "sync lane failed", error)) is False
    assert f.filter(_record("publisher.worker", logging.WARNING, "worker failed", error)) is False
    assert DATABASE.active
    assert f.filter(_record("history_sync.service", logging.ERROR, "sync lane failed", ValueError("bug"))) is True
    assert f.filter(_record("common.http", logging.WARNING, "request failed")) is True


def test_the_log_filter_lets_kafka_client_errors_through_with_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("common.outage.time.monotonic", lambda: now[0])
    f = OutageLogFilter(first_interval_s=1.0, max_interval_s=8.0)
    passed: list[str] = []
    for _ in range(400):  # 40 s of a client failing every 100 ms
        r = _record("aiokafka", logging.ERROR, "Unable connect to node with id %s: %s")
        r.args = (1, "refused")
        if f.filter(r):
            passed.append(r.getMessage())
        now[0] += 0.1
    # at 0, 1, 3, 7, 15, 23, 31, 39 s: backoff doubling up to the maximum interval
    assert len(passed) == 8, passed
    assert passed[0] == "Unable connect to node with id 1: refused"
    assert passed[1].endswith("(and 9 more like it since, not logged)")
    # an error of our own whose cause is Kafka's is throttled the same way, other loggers' lines are not
    cause = _raised(KafkaConnectionError("down"))
    assert kafka_error(cause)
    assert f.filter(_record("common.outbox", logging.WARNING, "relay error", cause)) is True
    assert f.filter(_record("common.outbox", logging.WARNING, "relay error", _raised(KafkaConnectionError()))) is False
    assert f.filter(_record("aiokafka", logging.INFO, "connected")) is True


async def test_retrying_retries_only_transient_failures_then_raises_the_last() -> None:
    calls = {"transient": 0, "domain": 0}
    noted: list[tuple[int, float]] = []

    async def transient() -> None:
        calls["transient"] += 1
        raise UpstreamUnavailable("DS answered 503")

    async def domain() -> None:
        calls["domain"] += 1
        raise ValidationFailed("bad input")

    async def call(fn: Callable[[], Awaitable[None]]) -> None:
        async for attempt in retrying(
            attempts=3, initial_s=0.01, max_s=0.02, on_retry=lambda e, n, s: noted.append((n, s))
        ):
            with attempt:
                await fn()

    with pytest.raises(UpstreamUnavailable):
        await call(transient)
    with pytest.raises(ValidationFailed):
        await call(domain)
    assert calls == {"transient": 3, "domain": 1}
    assert [n for n, _ in noted] == [1, 2]
    assert all(0 < s <= 0.03 for _, s in noted)
    assert is_transient(asyncpg.CannotConnectNowError("x"))
    assert not is_transient(ValidationFailed("x"))


async def test_an_unreachable_database_is_a_503_problem_without_a_traceback(
    caplog: pytest.LogCaptureFixture, no_outage: None
) -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/reads")
    async def reads() -> None:
        raise asyncpg.CannotConnectNowError("the database system is shutting down")

    @app.get("/bug")
    async def bug() -> None:
        raise asyncpg.exceptions.UndefinedTableError("relation does not exist")

    caplog.set_level(logging.INFO)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for _ in range(3):
            r = await client.get("/reads")
            assert r.status_code == 503
            assert r.headers["retry-after"] == "5"
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["type"] == "/problems/database-unavailable"
        r = await client.get("/bug")
        assert r.status_code == 500
    outage_lines = [r for r in caplog.records if r.name == "common.outage"]
    assert len(outage_lines) == 1
    assert not any(r.exc_info for r in caplog.records if r.name == "common.outage")
    assert [r.getMessage() for r in caplog.records if r.name == "common.http"] == ["unhandled error"]
