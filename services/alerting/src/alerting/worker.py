"""Background loops of the service: one delivery loop per channel, the history-sync staleness poll and the daily
inspection. Each loop survives errors (logged) and stops on ``stop()``. Several replicas may run them: deliveries are
leased and the token buckets row-locked, alerts are deduplicated by incident key, and a scheduled inspection slot is
claimed by exactly one replica."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from alerting import service
from alerting.deps import Deps
from alerting.domain.inspection import latest_slot, next_slot

log = logging.getLogger(__name__)


class Workers:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        s = self._deps.settings
        if s.delivery_enabled:
            for name in self._deps.notifiers:
                self._spawn(f"deliver-{name}", self._deliver(name))
        if s.history_poll_interval_s > 0:
            self._spawn("history-stale", self._every(s.history_poll_interval_s, self._poll_history))
        if s.inspection_enabled:
            self._spawn("inspection", self._schedule())

    async def stop(self, grace_s: float = 15.0) -> None:
        self._stop.set()
        tasks, self._tasks = self._tasks, []
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace_s)
        for t in pending:
            t.cancel()
        for t in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    def _spawn(self, name: str, coro: Awaitable[None]) -> None:
        async def run() -> None:
            await coro

        self._tasks.append(asyncio.create_task(run(), name=f"alerting-{name}"))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=max(0.001, seconds))

    async def _deliver(self, channel: str) -> None:
        poll = self._deps.settings.delivery_poll_interval_s
        while not self._stop.is_set():
            try:
                step = await service.deliver_once(self._deps, channel)
            except Exception:
                log.exception("delivery to channel %s failed", channel)
                await self._sleep(poll)
                continue
            if step.carried:
                continue
            await self._sleep(poll if step.wait_s is None else min(poll, step.wait_s))

    async def _every(self, interval_s: float, fn: Callable[[], Awaitable[None]]) -> None:
        while not self._stop.is_set():
            try:
                await fn()
            except Exception as exc:
                log.warning("%s failed: %s", getattr(fn, "__name__", "job"), type(exc).__name__, exc_info=True)
            await self._sleep(interval_s)

    async def _poll_history(self) -> None:
        created = await service.check_history_staleness(self._deps)
        if created:
            log.info("history-sync staleness: %d new incident(s)", created)

    async def _schedule(self) -> None:
        """Run the inspection of the latest daily slot unless some replica already did (a slot missed while the
        service was down is caught up at start), then sleep until the next slot."""
        s = self._deps.settings
        done = None
        while not self._stop.is_set():
            now = self._deps.clock.now()
            slot = latest_slot(now, s.inspection_clock, s.inspection_timezone)
            if slot != done:
                try:
                    report = await service.run_scheduled_inspection(self._deps, slot)
                    done = slot
                    if report is not None:
                        log.info("daily inspection %d done: %s", report.id, report.summary)
                except Exception:
                    log.exception("daily inspection failed; retrying in 5 minutes")
                    await self._sleep(300)
                    continue
            wait = (next_slot(now, s.inspection_clock, s.inspection_timezone) - now).total_seconds()
            await self._sleep(min(wait + 1, 600))
