"""The time a service reads, as a port: use cases take a ``Clock`` (``Deps.clock``) so tests can set the time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, timezone-aware (UTC)."""

    def now(self) -> datetime:
        return datetime.now(UTC)
