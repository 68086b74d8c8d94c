"""What the gateway checks on ``/api/`` before it reads a request's body: its size, the client's recent failed
sign-ins, and the API key.

FastAPI reads and parses a body before any dependency runs, so an unauthenticated 20 MB JSON body used to cost the
gateway ~190 MB and its whole parse before the 401. ``ApiGuard`` (pure ASGI, outside ``RejectNul`` which reads the
body) answers first:

1. a ``Content-Length`` over ``GATEWAY_MAX_BODY_BYTES`` → 413, nothing read; a body without a length is counted while
   it is read and cut at the limit (``common.guard.limit_body``);
2. a client with ``GATEWAY_AUTH_FAILURES_MAX`` failed authentications within ``GATEWAY_AUTH_FAILURE_WINDOW_S`` → 429
   with ``Retry-After`` until the window passes, without a database look-up (:class:`FailedAuthLimiter`; the client is
   the connection's address, or ``X-Forwarded-For`` from the proxies in ``GATEWAY_FORWARDED_ALLOW_IPS``);
3. the bearer API key (``gateway.auth.authenticate``) → 401 when missing, unknown or revoked, before the body is
   read. The principal it found is kept in the request's state: the routes' role checks do not look it up again.

Health, metrics, docs and the portal are not under ``/api/`` and pass.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter
from starlette.types import ASGIApp, Receive, Scope, Send

from common.errors import PlatformError, TooManyRequests, Unauthorized
from common.guard import content_length, run_with_body_limit, too_large
from common.http import outage_answer, problem
from common.outage import database_unavailable

log = logging.getLogger(__name__)

AUTH_FAILURES = Counter("gateway_auth_failures_total", "Requests refused for a missing, unknown or revoked API key")
AUTH_THROTTLED = Counter("gateway_auth_throttled_total", "Requests refused (429) after too many failed authentications")

API_PREFIX = "/api/"


class FailedAuthLimiter:
    """Failed authentications per client in a sliding window; at ``max_failures`` the client is refused until its
    oldest failure leaves the window. Remembers at most ``max_clients`` clients (the least recent go first)."""

    def __init__(
        self,
        max_failures: int = 10,
        window_s: float = 60.0,
        *,
        max_clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_clients = max_clients
        self._clock = clock
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def _recent(self, client: str, now: float) -> list[float]:
        times = self._failures.get(client)
        if times is None:
            return []
        cut = now - self.window_s
        while times and times[0] <= cut:
            times.pop(0)
        if not times:
            del self._failures[client]
        return times

    def retry_after(self, client: str) -> float | None:
        """Seconds the client must wait, or ``None`` when it may try."""
        if self.max_failures <= 0:
            return None
        now = self._clock()
        times = self._recent(client, now)
        if len(times) < self.max_failures:
            return None
        return max(1.0, times[0] + self.window_s - now)

    def failed(self, client: str) -> None:
        if self.max_failures <= 0:
            return
        now = self._clock()
        times = self._recent(client, now)
        times.append(now)
        self._failures[client] = times[-self.max_failures :]
        self._failures.move_to_end(client)
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)


Authenticate = Callable[[Any, str], Any]


class ApiGuard:
    """See the module's summary. ``authenticate(deps, secret)`` returns the principal or raises ``Unauthorized``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticate: Callable[..., Any],
        max_body_bytes: int,
        limiter: FailedAuthLimiter,
    ) -> None:
        self.app = app
        self.authenticate = authenticate
        self.max_body_bytes = max_body_bytes
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        length = content_length(scope)
        if length is not None and length > self.max_body_bytes:
            await too_large(self.max_body_bytes, path)(scope, receive, send)
            return
        client = _client(scope)
        wait = self.limiter.retry_after(client)
        if wait is not None:
            AUTH_THROTTLED.inc()
            await _problem(
                TooManyRequests(
                    f"too many failed authentications from this client; try again in {int(wait + 0.999)} s"
                ),
                path,
                {"Retry-After": str(int(wait + 0.999))},
            )(scope, receive, send)
            return
        deps = getattr(scope["app"].state, "deps", None)
        try:
            secret = _bearer(scope)
            principal = await self.authenticate(deps, secret)
        except Unauthorized as exc:
            AUTH_FAILURES.inc()
            self.limiter.failed(client)
            await _problem(exc, path)(scope, receive, send)
            return
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            await outage_answer(exc, path)(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["principal"] = principal
        state["actor"] = principal.name
        await run_with_body_limit(self.app, scope, receive, send, self.max_body_bytes)


def _bearer(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization":
            text: str = value.decode("latin-1")
            scheme, _, credentials = text.partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
            break
    raise Unauthorized("missing bearer token: send 'Authorization: Bearer <API key>'")


def _problem(exc: PlatformError, path: str, headers: dict[str, str] | None = None) -> Any:
    answer = problem(exc.status, exc.title, exc.detail, code=exc.code, instance=path, **exc.extras)
    for k, v in (headers or {}).items():
        answer.headers[k] = v
    return answer


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
