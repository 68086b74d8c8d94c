"""End-to-end deadlines: how long the caller at the front still waits travels with every internal request.

The gateway gives each call to a service a time budget and sends what is left of it in the ``X-Request-Budget-Ms``
header (relative milliseconds: no clock is shared between hosts). A service that receives it (``DeadlineMiddleware``)
runs the request under that deadline, and every call it makes outside (DolphinScheduler, another service) is cut at
the deadline less a reserve for its own answer (``within``). So inner timeouts are always shorter than outer ones:
the inner service answers "outcome unknown" or "stale" while its caller still listens, instead of both timing out
and the work happening later anyway.

Without the header nothing changes: the service's own timeouts apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar

from starlette.types import ASGIApp, Receive, Scope, Send

HEADER = "X-Request-Budget-Ms"
_HEADER_KEY = HEADER.lower().encode()

#: the absolute deadline (``time.monotonic()``) of the work in this context, if any
_deadline: ContextVar[float | None] = ContextVar("request_deadline", default=None)


def remaining() -> float | None:
    """Seconds left before the deadline (may be ≤ 0), or ``None`` when the work has none."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def budget(default: float) -> float:
    """``default`` seconds, or what is left of the deadline when that is less (never below 1 ms)."""
    left = remaining()
    return default if left is None else max(0.001, min(default, left))


@contextlib.contextmanager
def within(seconds: float | None = None, *, reserve: float = 0.0) -> Iterator[None]:
    """Run the block under a deadline ``seconds`` from now (when given) and ``reserve`` seconds before the one it
    already has, whichever comes first: the reserve is the time the caller keeps for itself to answer."""
    now = time.monotonic()
    candidates = [d for d in (_deadline.get(),) if d is not None]
    if candidates:
        candidates = [candidates[0] - reserve]
    if seconds is not None:
        candidates.append(now + seconds)
    token = _deadline.set(min(candidates) if candidates else None)
    try:
        yield
    finally:
        _deadline.reset(token)


def header_value(own_budget: float) -> str:
    """The header value for an outgoing call that the caller gives ``own_budget`` seconds."""
    return str(max(1, int(budget(own_budget) * 1000)))


class DeadlineExceeded(TimeoutError):
    """The deadline passed before the work finished."""


@contextlib.asynccontextmanager
async def cut() -> AsyncIterator[None]:
    """Cancel the block at the deadline, raising :class:`DeadlineExceeded` (no deadline: no limit)."""
    left = remaining()
    if left is None:
        yield
        return
    try:
        async with asyncio.timeout(max(0.0, left)):
            yield
    except TimeoutError as exc:
        raise DeadlineExceeded(f"the request's deadline passed ({left:.3g} s were left)") from exc


class DeadlineMiddleware:
    """Runs each request under the deadline its ``X-Request-Budget-Ms`` header gives (a malformed or missing header:
    none)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = next((v for k, v in scope["headers"] if k == _HEADER_KEY), None)
        millis = int(raw) if raw is not None and raw.isdigit() else None
        if millis is None:
            await self.app(scope, receive, send)
            return
        token = _deadline.set(time.monotonic() + millis / 1000)
        try:
            await self.app(scope, receive, send)
        finally:
            _deadline.reset(token)
