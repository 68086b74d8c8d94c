"""Bulk republish (issue 24), the plain parts: which workflows to republish, the rate limiter every publisher replica
shares (its state is one timestamp on the run's row), and the progress figures (rate, ETA)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

#: a republish item's outcome at planning: converting the deployed version gives another content hash (to
#: republish), the same one (skipped), or fails (failed, with the reason)
PlanStatus = Literal["pending", "skipped", "failed"]


@dataclass(frozen=True)
class PlannedItem:
    workflow_id: int
    status: PlanStatus
    deployed_hash: str | None
    planned_hash: str | None
    reason: str | None


def plan_item(workflow_id: int, deployed_hash: str, planned_hash: str | None, error: str | None) -> PlannedItem:
    """The item of one deployed workflow: ``planned_hash`` is what converting its deployed version gives now
    (``None`` with ``error`` when it cannot be converted)."""
    if planned_hash is None:
        return PlannedItem(workflow_id, "failed", deployed_hash, None, f"cannot convert the deployed version: {error}")
    if planned_hash == deployed_hash:
        return PlannedItem(workflow_id, "skipped", deployed_hash, planned_hash, "unchanged: same content hash")
    return PlannedItem(workflow_id, "pending", deployed_hash, planned_hash, None)


def burst_of(rate_per_s: float) -> int:
    """How many publishes may start at once after an idle spell: one second's worth, at least one."""
    return max(1, int(rate_per_s))


@dataclass(frozen=True)
class Grant:
    #: publishes that may start now
    count: int
    #: the limiter's new state (store it with the run)
    next_slot_at: datetime
    #: when none may start: the wait until one may
    wait_s: float


def take(now: datetime, next_slot_at: datetime | None, *, rate_per_s: float, want: int) -> Grant:
    """GCRA (a token bucket kept as one timestamp): at most ``burst_of(rate)`` at once, then ``rate_per_s`` a second
    on average, however many processes take from it (they serialise on the run's row)."""
    if rate_per_s <= 0:
        raise ValueError("rate_per_s must be positive")
    interval = 1.0 / rate_per_s
    burst = burst_of(rate_per_s)
    tat = now if next_slot_at is None or next_slot_at < now else next_slot_at
    ahead = (tat - now).total_seconds()
    # slack of a microsecond: timestamps are stored in microseconds
    free = math.floor((burst * interval - ahead) / interval + 1e-6)
    count = max(0, min(want, free))
    wait = 0.0 if count > 0 or want <= 0 else max(0.0, ahead - (burst - 1) * interval)
    return Grant(count, tat + timedelta(seconds=count * interval), wait)


@dataclass(frozen=True)
class Progress:
    total: int
    pending: int
    queued: int
    republished: int
    skipped: int
    failed: int
    cancelled: int
    #: items finished by a publish record (republished, failed or skipped when it ran) since the first dispatch
    finished_by_publish: int
    #: seconds since the first dispatch (``None``: nothing dispatched yet)
    elapsed_s: float | None
    rate_limit_per_s: float

    @property
    def remaining(self) -> int:
        return self.pending + self.queued

    @property
    def rate_per_s(self) -> float | None:
        """Publishes finished per second so far (``None`` before the first one)."""
        if not self.elapsed_s or self.finished_by_publish == 0:
            return None
        return self.finished_by_publish / self.elapsed_s

    @property
    def eta_s(self) -> float | None:
        """Seconds until the last item is finished, at the rate so far (never faster than the rate limit allows);
        before the first publish finished, at the rate limit. ``0`` when nothing remains."""
        if self.remaining == 0:
            return 0.0
        rate = self.rate_per_s
        rate = self.rate_limit_per_s if rate is None else min(rate, self.rate_limit_per_s)
        return self.remaining / rate
