"""The one retry helper (``common.retry.retrying``) and the policies built on it: the consumer's in-place retries
(no jitter, every error but a domain error, then DLQ or nack) and the DS client's read retries (scaled jitter, never
past the request's deadline)."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace
from typing import Any, cast

import pytest
from pydantic import SecretStr

from common import deadline
from common.consumer import ConsumerRuntime, Delivery, NackRecord, Outcome, Record
from common.dolphin.errors import DolphinUnavailable
from common.dolphin.rest import DolphinRestClient
from common.errors import UpstreamUnavailable, ValidationFailed
from common.retry import retrying


async def _always_down(retries: Any) -> int:
    """Runs attempts that all fail as an outage under ``retries``; the number of attempts made."""
    calls = 0
    with contextlib.suppress(UpstreamUnavailable):
        async for attempt in retries:
            with attempt:
                calls += 1
                raise UpstreamUnavailable("down")
    return calls


async def _delays(jitter: Any, *, attempts: int = 5) -> list[float]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    retries = retrying(attempts=attempts, initial_s=1.0, max_s=5.0, jitter=jitter, sleep=sleep)
    assert await _always_down(retries) == attempts
    return slept


async def test_the_backoff_doubles_up_to_its_cap_with_the_chosen_jitter() -> None:
    assert await _delays("none") == [1.0, 2.0, 4.0, 5.0]
    scaled = await _delays("scaled")
    assert all(0.5 * e <= s < e for s, e in zip(scaled, [1.0, 2.0, 4.0, 5.0], strict=True))
    added = await _delays("added")
    assert all(e <= s <= min(5.0, e + 1.0) for s, e in zip(added, [1.0, 2.0, 4.0, 5.0], strict=True))


async def test_no_retry_sleeps_past_the_time_left() -> None:
    retries = retrying(attempts=5, initial_s=1.0, max_s=1.0, jitter="none", time_left=lambda: 0.5)
    assert await _always_down(retries) == 1


class _Dlq:
    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []

    async def send(self, topic: str, *, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        self.sent.append({k: v.decode() for k, v in headers})


def _runtime(failures: list[BaseException]) -> tuple[ConsumerRuntime, _Dlq, list[float], list[int]]:
    dlq, slept, runs = _Dlq(), [], []
    envelope = SimpleNamespace(id="evt-1")

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    class Runtime(ConsumerRuntime):
        async def _run_once(self, delivery: Delivery, handler: Any) -> Outcome:
            runs.append(1)
            if failures:
                raise failures.pop(0)
            return Outcome.PROCESSED

    runtime = Runtime(
        name="svc",
        sessions=cast(Any, None),
        inbox=cast(Any, None),
        dlq=dlq,
        max_attempts=3,
        base_backoff_s=0.2,
        max_backoff_s=0.3,
        foreign_decoder=lambda record: (envelope, cast(Any, None)),
        _sleep=sleep,
    )
    return runtime, dlq, slept, runs


RECORD = Record(topic="t", partition=0, offset=7, key=None, value=b"{}")


async def _handler(session: Any, delivery: Delivery) -> None:  # pragma: no cover - _run_once is replaced
    raise AssertionError


async def test_the_consumer_retries_in_place_without_jitter_then_succeeds() -> None:
    runtime, dlq, slept, runs = _runtime([ConnectionError("db"), RuntimeError("bug")])
    assert await runtime.handle(RECORD, _handler) == Outcome.PROCESSED
    assert (len(runs), slept, dlq.sent) == (3, [0.2, 0.3], [])


async def test_a_transient_failure_that_persists_leaves_the_record_unacknowledged() -> None:
    runtime, dlq, slept, runs = _runtime([ConnectionError("db")] * 3)
    with pytest.raises(NackRecord):
        await runtime.handle(RECORD, _handler)
    assert (len(runs), slept, dlq.sent) == (3, [0.2, 0.3], [])


async def test_an_unexpected_error_that_persists_is_dead_lettered_and_a_domain_error_at_once() -> None:
    runtime, dlq, _, runs = _runtime([RuntimeError("bug")] * 3)
    assert await runtime.handle(RECORD, _handler) == Outcome.DEAD_LETTERED
    assert len(runs) == 3
    assert (dlq.sent[0]["x-dlq-error-type"], dlq.sent[0]["x-dlq-reason"]) == ("unexpected-error", "RuntimeError: bug")
    runtime, dlq, slept, runs = _runtime([ValidationFailed("bad input")])
    assert await runtime.handle(RECORD, _handler) == Outcome.DEAD_LETTERED
    assert (len(runs), slept, dlq.sent[0]["x-dlq-reason"]) == (1, [], "bad input")


async def test_ds_reads_are_retried_with_scaled_jitter_within_the_deadline_and_writes_never() -> None:
    client = DolphinRestClient.create("http://127.0.0.1:9/dolphinscheduler", SecretStr("t"), backoff_initial=0.01)
    sent: list[str] = []

    async def down(method: str, url: str, *args: Any) -> Any:
        sent.append(method)
        raise DolphinUnavailable("down")

    client._attempt = down  # type: ignore[method-assign]
    async with client:
        with pytest.raises(DolphinUnavailable):
            await client._get("/projects")
        assert sent == ["GET"] * 3
        sent.clear()
        with pytest.raises(DolphinUnavailable):
            await client._post("/projects", form={})
        assert sent == ["POST"]
        sent.clear()
        with deadline.within(0.004), pytest.raises(DolphinUnavailable):  # no time for a backoff of 5-10 ms
            await client._get("/projects")
        assert sent == ["GET"]
