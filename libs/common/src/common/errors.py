"""One error hierarchy for every service.

Two families:
- ``DomainError``: the request or message itself is wrong (4xx over HTTP). Never retried; a Kafka message that
  raises one goes to the DLQ with the reason.
- ``TransientError``: something outside us failed in a way that may pass (a timeout, a dropped connection, a 5xx).
  Retried with backoff; over HTTP it becomes 503.

Every error carries a stable machine ``code`` (used as the problem ``type`` suffix), a human ``detail`` and optional
structured ``extras`` that are rendered into the problem JSON. Nothing secret may be put into an error.
"""

from __future__ import annotations

from typing import Any, ClassVar


class PlatformError(Exception):
    """Base of every error the platform raises on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"
    retryable: ClassVar[bool] = False

    def __init__(self, detail: str, **extras: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extras = extras

    def __str__(self) -> str:
        return self.detail


class DomainError(PlatformError):
    """The input breaks a rule; retrying the same input will fail the same way."""

    status = 400
    code = "invalid-request"
    title = "Invalid request"


class ValidationFailed(DomainError):
    status = 422
    code = "validation-failed"
    title = "Validation failed"


class NotFound(DomainError):
    status = 404
    code = "not-found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class StaleVersion(Conflict):
    code = "stale-version"
    title = "Stale version"


class InvalidTransition(Conflict):
    code = "invalid-transition"
    title = "Invalid state transition"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"
    title = "Unauthorized"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class PayloadTooLarge(DomainError):
    """A request body over the size limit, refused before it is read whole."""

    status = 413
    code = "payload-too-large"
    title = "Request body too large"


class TooManyRequests(DomainError):
    status = 429
    code = "too-many-requests"
    title = "Too many requests"


class PoisonMessage(DomainError):
    """A Kafka message that can never be processed (bad JSON, schema violation, unknown type or version)."""

    status = 422
    code = "poison-message"
    title = "Unprocessable message"


class TransientError(PlatformError):
    """A failure that may pass; callers retry with backoff."""

    status = 503
    code = "temporarily-unavailable"
    title = "Temporarily unavailable"
    retryable = True


class UpstreamTimeout(TransientError):
    status = 504
    code = "upstream-timeout"
    title = "Upstream timeout"


class UpstreamUnavailable(TransientError):
    code = "upstream-unavailable"
    title = "Upstream unavailable"
