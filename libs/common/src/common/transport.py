"""The one HTTP path of the platform's clients (the DS REST client, the calls between services): an aiohttp session.

Why aiohttp and not httpx's own pool: it costs a third of httpcore's CPU per request (docs/decisions/
0101-one-http-transport.md). Every call goes through :meth:`HttpTransport.send`, with its CLIENT span made here
(``common.telemetry.client_span``). Tests put a fake server behind it as an ``httpx`` transport (``fake=``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal
from urllib.parse import quote_plus

import aiohttp
import httpx

from common.telemetry import client_span, end_client_span

Failure = Literal["timeout", "unavailable"]

#: query parameter values as callers give them (``None`` dropped, booleans as ``true``/``false``)
QueryValue = str | int | float | bool | None

#: headers aiohttp adds that no caller needs (answers are small and never compressed)
_SKIP_AUTO_HEADERS = ("User-Agent", "Accept-Encoding")


def query_string(params: Mapping[str, QueryValue] | Sequence[tuple[str, QueryValue]] | None) -> str:
    """``params`` encoded as httpx encodes them: ``None`` dropped, booleans as Spring and FastAPI read them."""
    if not params:
        return ""
    items = params.items() if isinstance(params, Mapping) else params
    parts: list[str] = []
    for key, value in items:
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int):
            text = str(value)  # digits and "-": what ``urlencode`` leaves as they are (a DS read sends only these)
        else:
            text = quote_plus(str(value))
        parts.append(f"{quote_plus(key)}={text}")
    return "&".join(parts)


class HttpTransport:
    """Pooled keep-alive connections to one base URL (up to ``max_connections``, idle ones kept ``keepalive_s``).

    The aiohttp session is created on the first call (inside the running loop) and closed by :meth:`aclose`.
    ``fake``: an ``httpx`` transport standing for the server (a ``MockTransport``, an ``ASGITransport``) in tests."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: httpx.Timeout,
        max_connections: int = 20,
        keepalive_s: float | None = 5.0,
        fake: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._aiohttp_timeout = aiohttp_timeout(timeout)
        self._max_connections = max_connections
        self._keepalive_s = keepalive_s
        self._fake = fake
        self._session: aiohttp.ClientSession | None = None

    def url(self, path: str, query: str = "") -> str:
        """The absolute URL of ``path`` (relative to the base URL) with its encoded ``query``."""
        return f"{self.base_url}/{path.lstrip('/')}{'?' if query else ''}{query}"

    async def send(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str],
        timeout: httpx.Timeout | None = None,  # noqa: ASYNC109 - per phase, not a deadline for the call
    ) -> tuple[int, bytes]:
        """One exchange: (status, body). ``url`` is absolute (:meth:`url`); ``headers`` get the trace context.
        Raises the HTTP layer's errors as they are (aiohttp's, or httpx's from a fake): see :func:`transport_failure`.
        """
        with client_span(method, url, headers) as span:
            if self._fake is not None:
                status, body = await self._send_fake(method, url, content, headers, timeout or self.timeout)
            else:
                async with self._client().request(
                    method,
                    url,
                    data=content,
                    headers=headers,
                    timeout=self._aiohttp_timeout if timeout is None else aiohttp_timeout(timeout),
                    allow_redirects=False,
                ) as answer:
                    status, body = answer.status, await answer.read()
            end_client_span(span, status)
        return status, body

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=self._keepalive_s)
            # the skipped headers set once for the session: per request, aiohttp rebuilds the set at every call
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, skip_auto_headers=_SKIP_AUTO_HEADERS
            )
        return self._session

    async def _send_fake(
        self, method: str, url: str, content: bytes | None, headers: dict[str, str], phases: httpx.Timeout
    ) -> tuple[int, bytes]:
        assert self._fake is not None
        request = httpx.Request(method, url, content=content, headers=headers, extensions={"timeout": phases.as_dict()})
        response = await self._fake.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response.status_code, response.content

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._fake is not None:
            await self._fake.aclose()

    def __repr__(self) -> str:
        return f"HttpTransport({self.base_url!r})"


def aiohttp_timeout(timeout: httpx.Timeout) -> aiohttp.ClientTimeout:
    """``timeout``'s phases for aiohttp: connect -> socket connect, read -> socket read, pool -> waiting for a
    connection."""
    return aiohttp.ClientTimeout(sock_connect=timeout.connect, sock_read=timeout.read, connect=timeout.pool)


def transport_failure(exc: BaseException) -> Failure | None:
    """``timeout`` / ``unavailable`` for an error of the HTTP layer (aiohttp's, or httpx's from a fake, or httpx's
    re-raised from aiohttp's); ``None`` for anything else."""
    cause = exc.__cause__ if isinstance(exc, httpx.TransportError) else exc
    if isinstance(cause, aiohttp.ClientError):
        # ServerTimeoutError (connect / socket read timeouts) is both a ClientError and a TimeoutError
        return "timeout" if isinstance(cause, TimeoutError) else "unavailable"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.TransportError):
        return "unavailable"
    if isinstance(exc, TimeoutError):  # aiohttp's own deadline
        return "timeout"
    return None


def error_name(exc: BaseException) -> str:
    """The HTTP layer's original error (the cause of an httpx error re-raised from it)."""
    return type(exc.__cause__ if isinstance(exc.__cause__, Exception) else exc).__name__
