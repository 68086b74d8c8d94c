"""Background work of the publisher: the publish workers, which run the ``pending`` publish records (and re-run
abandoned ones), and the run reconciler.

Each worker claims one record at a time (``service.publish_queue.run_next_publish``); several workers publish different
workflows in parallel while one workflow's records always run in order. Workers are woken when a request is
accepted and otherwise poll every ``poll_interval_s``, which is also how records abandoned by a dead process are
found once their lease has expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from common.retry import retrying
from publisher import runs
from publisher.deps import Deps
from publisher.service import publish_queue

logger = logging.getLogger(__name__)


class PublishWorkers:
    def __init__(self, deps: Deps, *, workers: int, poll_interval_s: float, stop_timeout_s: float = 30.0) -> None:
        self._deps = deps
        self._n = workers
        self._poll = poll_interval_s
        self._stop_timeout = stop_timeout_s
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    def wake(self) -> None:
        self._wakeup.set()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(), name=f"publish-worker-{i}") for i in range(self._n)]

    async def stop(self) -> None:
        """Let running publishes finish (up to ``stop_timeout_s``); an interrupted one is re-run after its lease."""
        self._stopping = True
        self._wakeup.set()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=self._stop_timeout)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                if await self._next():
                    continue
            except Exception:  # failed while stopping: the record stays claimable
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll)
            if not self._stopping:
                self._wakeup.clear()

    async def _next(self) -> bool:
        """Run the next due record, if any; a failure (a database outage: the record stays claimable) is retried
        after a backoff from the poll interval up to 30 s, until the workers stop."""

        def on_retry(exc: BaseException, attempt: int, delay: float) -> None:
            logger.warning("publish worker failed; retrying in %.1fs", delay, exc_info=exc)

        retries = retrying(
            initial_s=self._poll,
            max_s=30.0,
            jitter="none",
            retry_on=lambda exc: isinstance(exc, Exception) and not self._stopping,
            on_retry=on_retry,
        )
        async for attempt in retries:
            with attempt:
                return await publish_queue.run_next_publish(self._deps)
        raise AssertionError("unreachable")  # pragma: no cover


class RunReconciler:
    """Settles the runs whose outcome DS left unknown (``runs.reconcile_due``), and forgets old runs' keys."""

    def __init__(self, deps: Deps, *, poll_interval_s: float, retention_s: float) -> None:
        self._deps = deps
        self._poll = poll_interval_s
        self._retention_s = retention_s
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wakeup.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="run-reconciler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        rounds = 0
        while True:
            try:
                await runs.reconcile_due(self._deps)
                if rounds % 1000 == 0:
                    await runs.prune(self._deps, older_than_s=self._retention_s)
            except Exception:  # database or DS outage: the runs stay due and are checked again
                logger.warning("run reconciliation failed; retrying", exc_info=True)
            rounds += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll)
            self._wakeup.clear()
