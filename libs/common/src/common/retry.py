"""Retrying what failed for a reason that may pass — one helper for the platform (tenacity, configured one way).

``retrying(...)`` is an ``AsyncRetrying``: exponential backoff with jitter between ``initial_s`` and ``max_s``, up to
``attempts`` tries and/or ``within_s`` seconds, only while ``retry_on(error)`` holds (by default ``is_transient``:
a ``TransientError``, the database or the network unavailable); the last error is raised as it is. Use it as::

    async for attempt in retrying(attempts=3, initial_s=0.5, max_s=5):
        with attempt:
            await call()

Retry only what is idempotent (a read, an upsert, a DS call that is a no-op when repeated).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    stop_never,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from common.errors import TransientError
from common.outage import database_unavailable

#: called before each backoff: (the error, the attempt that failed (1 = the first), seconds until the next)
OnRetry = Callable[[BaseException, int, float], None]


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
) -> AsyncRetrying:
    stop: stop_base = stop_never
    if attempts is not None:
        stop = stop_after_attempt(attempts)
    if within_s is not None:
        stop = stop_after_delay(within_s) if attempts is None else stop | stop_after_delay(within_s)

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is None or state.outcome is None:
            return
        error = state.outcome.exception()
        if error is not None:
            on_retry(error, state.attempt_number, state.upcoming_sleep)

    return AsyncRetrying(
        stop=stop,
        wait=wait_exponential_jitter(multiplier=initial_s, max=max_s, jitter=initial_s),
        retry=retry_if_exception(retry_on),
        before_sleep=before_sleep,
        reraise=True,
    )
