"""Retrying what failed for a reason that may pass — one helper for the platform (tenacity, configured one way).

``retrying(...)`` is an ``AsyncRetrying``: exponential backoff from ``initial_s`` up to ``max_s`` (``jitter``: added,
scaled or none), up to ``attempts`` tries and/or ``within_s`` seconds, only while ``retry_on(error)`` holds (by default
``is_transient``: a ``TransientError``, the database or the network unavailable), and never sleeping past what
``time_left()`` allows (a request's deadline); the last error is raised as it is. Use it as::

    async for attempt in retrying(attempts=3, initial_s=0.5, max_s=5):
        with attempt:
            await call()

Retry only what is idempotent (a read, an upsert, a DS call that is a no-op when repeated).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Literal

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    stop_never,
    wait_exponential,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from common.errors import TransientError
from common.outage import database_unavailable

#: called before each backoff: (the error, the attempt that failed (1 = the first), seconds until the next)
OnRetry = Callable[[BaseException, int, float], None]

#: how the backoff is randomised: ``added`` (up to ``initial_s`` more), ``scaled`` (50-100 % of the exponential
#: delay) or ``none`` (the exponential delay itself)
Jitter = Literal["added", "scaled", "none"]


class _scaled(wait_base):
    """``initial_s * 2**(n-1)`` capped at ``max_s``, times a random factor in [0.5, 1)."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        self._exp = wait_exponential(multiplier=initial_s, max=max_s)

    def __call__(self, retry_state: RetryCallState) -> float:
        return self._exp(retry_state) * (0.5 + random.random() / 2)


def _wait(initial_s: float, max_s: float, jitter: Jitter) -> wait_base:
    if jitter == "scaled":
        return _scaled(initial_s, max_s)
    if jitter == "none":
        return wait_exponential(multiplier=initial_s, max=max_s)
    return wait_exponential_jitter(multiplier=initial_s, max=max_s, jitter=initial_s)


class _no_time_left(stop_base):
    """Stops when the next backoff would reach past ``time_left()`` (``None``: no limit)."""

    def __init__(self, time_left: Callable[[], float | None]) -> None:
        self._time_left = time_left

    def __call__(self, retry_state: RetryCallState) -> bool:
        left = self._time_left()
        return left is not None and left <= retry_state.upcoming_sleep


def is_transient(exc: BaseException) -> bool:
    """A failure that may pass: a ``TransientError``, the database unavailable, a dropped connection, a timeout."""
    if isinstance(exc, TransientError) or database_unavailable(exc):
        return True
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OSError | TimeoutError | ConnectionError)


def retrying(
    *,
    initial_s: float,
    max_s: float,
    attempts: int | None = None,
    within_s: float | None = None,
    retry_on: Callable[[BaseException], bool] = is_transient,
    on_retry: OnRetry | None = None,
    jitter: Jitter = "added",
    time_left: Callable[[], float | None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncRetrying:
    stops: list[stop_base] = []
    if attempts is not None:
        stops.append(stop_after_attempt(attempts))
    if within_s is not None:
        stops.append(stop_after_delay(within_s))
    if time_left is not None:
        stops.append(_no_time_left(time_left))
    stop: stop_base = stop_never
    for s in stops:
        stop = s if stop is stop_never else stop | s

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is None or state.outcome is None:
            return
        error = state.outcome.exception()
        if error is not None:
            on_retry(error, state.attempt_number, state.upcoming_sleep)

    return AsyncRetrying(
        stop=stop,
        wait=_wait(initial_s, max_s, jitter),
        retry=retry_if_exception(retry_on),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
