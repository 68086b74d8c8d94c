"""The HTTP transport under :class:`~common.dolphin.rest.DolphinRestClient`: aiohttp behind the httpx API.

httpcore's connection pool costs ~2 ms of CPU per request at 16 concurrent keep-alive connections (it re-checks
every connection's socket for each queued request); aiohttp's connector does the same work for a third of that.
``httpx_aiohttp.AiohttpTransport`` plugs it into an ``httpx.AsyncClient``, so the client code stays httpx.

Failures: the transport re-raises aiohttp errors as httpx errors, but its table turns every
``ClientConnectionError`` (a dropped or refused connection) into ``httpx.ConnectTimeout``.
:func:`transport_failure` classifies by the original aiohttp error instead (kept as ``__cause__``), so a refused
or dropped connection stays "unavailable" and only real timeouts are "timeout".
"""

from __future__ import annotations

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
