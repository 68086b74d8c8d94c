"""The periodic sync: a background task that drains due workflows at every cycle boundary (and on each poll)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time

from history_sync import metrics, service
from history_sync.deps import Deps
from history_sync.domain.tracking import next_cycle_start

log = logging.getLogger(__name__)


class SyncWorker:
    """Runs :func:`service.sync_due_workflows` until stopped. Several replicas may run it on the same schema: the
    leases in ``tracked_workflow`` split the work."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_housekeeping = 0.0
        self.cycles = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="history-sync-worker")

    async def stop(self, grace_s: float = 30.0) -> None:
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(task, timeout=grace_s)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        with contextlib.suppress(Exception):
            released = await service.release_my_leases(self._deps)
            if released:
                log.info("released %d leases on shutdown", released)

    async def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                report = await service.sync_due_workflows(self._deps, stop=self._stop)
            except Exception:
                log.exception("sync cycle failed")
            else:
                if report.batches:
                    self.cycles += 1
                    metrics.CYCLE_SECONDS.observe(time.perf_counter() - started)
                    r = report.result
                    log.info(
                        "sync drained: %d synced, %d failed, %d changed, %d lost in %.2fs",
                        r.synced, r.failed, r.changed, r.lost, time.perf_counter() - started,
                    )  # fmt: skip
            await self._housekeeping()
            await self._sleep()

    async def _housekeeping(self) -> None:
        every = min(30.0, self._deps.settings.sync_interval_s)
        if time.monotonic() - self._last_housekeeping < every:
            return
        self._last_housekeeping = time.monotonic()
        try:
            await service.housekeeping(self._deps)
        except Exception:
            log.warning("history-sync housekeeping failed", exc_info=True)

    async def _sleep(self) -> None:
        """Until the next poll, or just past the next cycle boundary when that comes first."""
        s = self._deps.settings
        now = self._deps.clock.now()
        to_boundary = (next_cycle_start(now, s.sync_interval_s) - now).total_seconds()
        delay = min(s.poll_interval_s, to_boundary + random.uniform(0.005, 0.05))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=max(0.005, delay))
