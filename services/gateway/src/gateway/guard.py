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
   Without an ``Authorization`` header, a person's session cookie (``gateway.sessions``) → 401 ``session-ended``
   when it has ended; a mutation (POST/PUT/PATCH/DELETE) with the cookie must carry the session's CSRF token in
   ``X-CSRF-Token`` → 403 ``csrf-token-missing`` / ``csrf-token-invalid``. A bearer key needs no CSRF token (a
   browser never sends one by itself).

Health, metrics, docs and the portal are not under ``/api/`` and pass.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from common.errors import Forbidden, PlatformError, TooManyRequests, TransientError, Unauthorized
from common.guard import content_length, run_with_body_limit, too_large
from common.http import outage_answer, problem
from common.outage import database_unavailable
from gateway.domain.sessions import csrf_matches
from gateway.principals import Principal
from gateway.sessions import (
    CSRF_HEADER,
    SESSION_COOKIE,
    CsrfTokenInvalid,
    CsrfTokenMissing,
    SessionService,
)

log = logging.getLogger(__name__)

AUTH_FAILURES = Counter("gateway_auth_failures_total", "Requests refused for a missing, unknown or revoked API key")
AUTH_THROTTLED = Counter("gateway_auth_throttled_total", "Requests refused (429) after too many failed authentications")

API_PREFIX = "/api/"
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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
            principal = await self._principal(scope, deps)
        except Unauthorized as exc:
            AUTH_FAILURES.inc()
            self.limiter.failed(client)
            await _problem(exc, path)(scope, receive, send)
            return
        except (Forbidden, TransientError) as exc:
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

    async def _principal(self, scope: Scope, deps: Any) -> Principal:
        header = _header(scope, b"authorization")
        web: SessionService | None = getattr(deps, "web_sessions", None)
        if header is None and web is not None:
            session_id = _cookie(scope, SESSION_COOKIE)
            if session_id is not None:
                principal = await web.authenticate(session_id)
                if scope["method"] in MUTATING:
                    check_csrf(principal, _header(scope, CSRF_HEADER.encode()))
                return principal
        principal = await self.authenticate(deps, _bearer(header))
        assert isinstance(principal, Principal)
        return principal


def check_csrf(principal: Principal, sent: str | None) -> None:
    if not sent:
        raise CsrfTokenMissing("this change needs the session's CSRF token in the X-CSRF-Token header")
    if principal.csrf_token is None or not csrf_matches(principal.csrf_token, sent):
        raise CsrfTokenInvalid("the X-CSRF-Token header does not match this session")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    return cookie_parser(raw).get(name) or None


def _bearer(header: str | None) -> str:
    if header is not None:
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    raise Unauthorized("missing bearer token: send 'Authorization: Bearer <API key>' (or sign in)")


def _problem(exc: PlatformError, path: str, headers: dict[str, str] | None = None) -> Any:
    answer = problem(exc.status, exc.title, exc.detail, code=exc.code, instance=path, **exc.extras)
    for k, v in (headers or {}).items():
        answer.headers[k] = v
    return answer


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
