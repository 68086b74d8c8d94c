"""DolphinScheduler errors, mapped onto the platform hierarchy (``common.errors``).

- A DS business error (HTTP 200, ``code != 0``) becomes a :class:`DolphinApiError` (a ``DomainError``)
  that keeps DS's numeric ``ds_code`` and ``ds_msg``; a few codes get a more precise subclass (not found,
  conflict, invalid input).
  The rare codes that mean "the server is not ready" (:data:`TRANSIENT_DS_CODES`) become
  :class:`DolphinTransientApiError` (a ``TransientError``) instead.
- HTTP 401 (DS answers it with an empty body) becomes :class:`DolphinAuthError`; so does a py4j
  "bad auth token".
- 5xx, timeouts, dropped connections become :class:`DolphinUnavailable` / :class:`DolphinTimeout`;
  an unreachable py4j gateway becomes :class:`DolphinGatewayUnavailable`.
- A Java exception raised by the gateway becomes :class:`DolphinGatewayError` with the Java message.

No error text ever contains a token: messages are built from route templates, DS codes and DS messages
only, and the gateway scrubs known secrets from Java messages.
"""

from __future__ import annotations

from typing import Any

from common.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    TransientError,
    Unauthorized,
    UpstreamTimeout,
    UpstreamUnavailable,
    ValidationFailed,
)

#: DS codes that describe the server's own state rather than the request: retrying later may succeed.
#: 10000 internal server error, 10025 no master available.
TRANSIENT_DS_CODES: frozenset[int] = frozenset({10000, 10025})

_NOT_FOUND_CODES = frozenset({10008, 10010, 10017, 10018, 10020, 50001, 50003, 50030, 70015})
_CONFLICT_CODES = frozenset({10019, 10023, 10126, 10168, 10204, 50004, 50008, 50021, 50023})
_INVALID_CODES = frozenset({10001, 10141, 10202, 50017, 50018, 50019, 50020, 50035, 50036, 80003})
_FORBIDDEN_CODES = frozenset({30001, 30002, 10148})


class DolphinError:
    """Marker mixin shared by every DolphinScheduler error, so callers can ``except DolphinError``."""


class _DsCoded(DolphinError):
    """An answer carrying DS's own ``code`` and ``msg`` (kept as attributes and problem extras)."""

    ds_code: int
    ds_msg: str
    endpoint: str

    def __init__(self, ds_code: int, ds_msg: str, *, endpoint: str, **extras: Any) -> None:
        super().__init__(  # type: ignore[call-arg]  # cooperative: PlatformError
            f"DolphinScheduler {endpoint} failed with code {ds_code}: {ds_msg}",
            ds_code=ds_code,
            ds_msg=ds_msg,
            endpoint=endpoint,
            **extras,
        )
        self.ds_code = ds_code
        self.ds_msg = ds_msg
        self.endpoint = endpoint


class DolphinApiError(_DsCoded, DomainError):
    """DS answered a REST call with a non-zero ``code`` (a business error; never retried)."""

    code = "dolphin-api-error"
    title = "DolphinScheduler rejected the request"


class DolphinNotFound(DolphinApiError, NotFound):
    code = "dolphin-not-found"
    title = "Not found in DolphinScheduler"


class DolphinConflict(DolphinApiError, Conflict):
    code = "dolphin-conflict"
    title = "DolphinScheduler state conflict"


class DolphinInvalidRequest(DolphinApiError, ValidationFailed):
    code = "dolphin-invalid-request"
    title = "DolphinScheduler rejected the input"


class DolphinForbidden(DolphinApiError, Forbidden):
    code = "dolphin-forbidden"
    title = "No permission in DolphinScheduler"


class DolphinTransientApiError(_DsCoded, TransientError):
    """DS answered with a code that means "not now" (see :data:`TRANSIENT_DS_CODES`)."""

    code = "dolphin-busy"
    title = "DolphinScheduler is not ready"


def api_error_for(ds_code: int, ds_msg: str, *, endpoint: str) -> DolphinApiError | DolphinTransientApiError:
    """The error to raise for a DS envelope with a non-zero code."""
    if ds_code in TRANSIENT_DS_CODES:
        return DolphinTransientApiError(ds_code, ds_msg, endpoint=endpoint)
    cls: type[DolphinApiError] = DolphinApiError
    if ds_code in _NOT_FOUND_CODES:
        cls = DolphinNotFound
    elif ds_code in _CONFLICT_CODES:
        cls = DolphinConflict
    elif ds_code in _INVALID_CODES:
        cls = DolphinInvalidRequest
    elif ds_code in _FORBIDDEN_CODES:
        cls = DolphinForbidden
    return cls(ds_code, ds_msg, endpoint=endpoint)


class DolphinAuthError(DolphinError, Unauthorized):
    """The REST access token or the gateway auth token was refused."""

    code = "dolphin-unauthorized"
    title = "DolphinScheduler refused our credentials"


class DolphinHttpError(DolphinError, DomainError):
    """An unexpected 4xx other than 401 (for example a wrong route: 404 from the servlet container)."""

    code = "dolphin-http-error"
    title = "Unexpected DolphinScheduler HTTP status"

    def __init__(self, status_code: int, *, endpoint: str) -> None:
        super().__init__(
            f"DolphinScheduler {endpoint} answered HTTP {status_code}",
            http_status=status_code,
            endpoint=endpoint,
        )
        self.http_status = status_code
        self.endpoint = endpoint


class DolphinUnavailable(DolphinError, UpstreamUnavailable):
    """5xx, a refused or dropped connection, or an answer that is not the DS envelope."""

    code = "dolphin-unavailable"
    title = "DolphinScheduler unavailable"


class DolphinTimeout(DolphinError, UpstreamTimeout):
    code = "dolphin-timeout"
    title = "DolphinScheduler timed out"


class DolphinGatewayUnavailable(DolphinError, UpstreamUnavailable):
    """The py4j gateway could not be reached, dropped the connection, or did not answer in time."""

    code = "dolphin-gateway-unavailable"
    title = "DolphinScheduler Python gateway unavailable"


class DolphinGatewayError(DolphinError, DomainError):
    """The gateway's Java code raised (``Py4JJavaError``), or the call itself was invalid (unknown method)."""

    code = "dolphin-gateway-error"
    title = "DolphinScheduler Python gateway call failed"

    def __init__(self, method: str, java_message: str, *, java_class: str | None = None) -> None:
        super().__init__(
            f"DolphinScheduler gateway {method} failed: {java_message}",
            method=method,
            java_message=java_message,
            java_class=java_class,
        )
        self.method = method
        self.java_message = java_message
        self.java_class = java_class
