"""What the use cases get: sessions, outbox, the (throttled) DS port, clock and settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.clock import Clock, SystemClock
from common.outbox import Outbox
from history_sync.config import Settings
from history_sync.domain.alerts import AlertPolicy
from history_sync.ports import DolphinHistory


@dataclass
class Deps:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    outbox: Outbox
    dolphin: DolphinHistory
    clock: Clock = field(default_factory=SystemClock)

    @property
    def replica_id(self) -> str:
        return self.settings.replica_id

    @property
    def policy(self) -> AlertPolicy:
        s = self.settings
        return AlertPolicy(s.streak_threshold, s.rate_window, s.rate_threshold, s.rate_min_finished)
