"""The HTTP transport of the platform's clients (the DS REST client, the gateway's calls to the services): aiohttp
behind the httpx API.

httpcore's connection pool costs ~2 ms of CPU per request at 16 concurrent keep-alive connections (it re-checks
every connection's socket for each queued request); aiohttp's connector does the same work for a third of that.
``httpx_aiohttp.AiohttpTransport`` plugs it into an ``httpx.AsyncClient``, so the client code stays httpx. While
tracing is off nothing wraps the transport, and the DS client sends through its aiohttp session directly
(:func:`aiohttp_session_of`): httpx's request and response objects were half of the client's CPU per call.

Failures: the transport re-raises aiohttp errors as httpx errors, but its table turns every
``ClientConnectionError`` (a dropped or refused connection) into ``httpx.ConnectTimeout``.
:func:`transport_failure` classifies by the original aiohttp error instead (kept as ``__cause__``), so a refused
or dropped connection stays "unavailable" and only real timeouts are "timeout".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from common.telemetry import instrument_transport

Failure = Literal["timeout", "unavailable"]


def aiohttp_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    """An aiohttp-backed transport with ``limits`` (max connections, keep-alive expiry). Its aiohttp session is
    created on the first request (inside the running loop) and closed with the ``httpx.AsyncClient``."""
    transport: httpx.AsyncBaseTransport = instrument_transport(AiohttpTransport(limits=limits))
    return transport


def aiohttp_session_of(transport: httpx.AsyncBaseTransport) -> Callable[[], aiohttp.ClientSession] | None:
    """For the bare transport of :func:`aiohttp_transport` (tracing off, nothing wraps it): a getter of its aiohttp
    session (created on first use, inside the running loop, and closed with the transport), so a client can send
    without httpx request and response objects. ``None`` for any other transport (a tracing wrapper needs them)."""
    if not isinstance(transport, AiohttpTransport):
        return None
    bare = transport

    def session() -> aiohttp.ClientSession:
        client = bare.client
        if not isinstance(client, aiohttp.ClientSession):
            client = bare.client = bare.get_client()
        return client

    return session


def aiohttp_timeout(timeout: httpx.Timeout) -> aiohttp.ClientTimeout:
    """``timeout`` as :class:`AiohttpTransport` maps it (connect -> socket connect, read -> socket read, pool ->
    waiting for a connection)."""
    return aiohttp.ClientTimeout(sock_connect=timeout.connect, sock_read=timeout.read, connect=timeout.pool)


def transport_failure(exc: BaseException) -> Failure | None:
    """``timeout`` / ``unavailable`` for an error of the HTTP layer (httpx's own, or aiohttp's through the
    transport, mapped or not); ``None`` for anything else."""
    cause = exc.__cause__ if isinstance(exc, httpx.TransportError) else exc
    if isinstance(cause, aiohttp.ClientError):
        # ServerTimeoutError (connect / socket read timeouts) is both a ClientError and a TimeoutError
        return "timeout" if isinstance(cause, TimeoutError) else "unavailable"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.TransportError):
        return "unavailable"
    if isinstance(exc, TimeoutError):  # aiohttp's own deadline, raised unmapped
        return "timeout"
    return None
