"""Bounded concurrency and a token-bucket rate limit in front of DolphinScheduler."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from common.dolphin.models import InstanceTasks, LogChunk, Page, WorkflowInstance
from common.dolphin.rest import Digested
from history_sync.ports import DolphinHistory

R = TypeVar("R")


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; ``rate`` 0 means unlimited."""

    def __init__(self, rate: float, burst: int, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        if rate < 0 or burst < 1:
            raise ValueError("rate must be >= 0 and burst >= 1")
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._monotonic = monotonic
        self._last = monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        if self._rate == 0:
            return
        async with self._lock:  # FIFO: waiters are served in arrival order
            while True:
                now = self._monotonic()
                self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
                self._last = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await asyncio.sleep((1.0 - self._tokens) / self._rate)


class ThrottledDolphin:
    """A :class:`DolphinHistory` that lets at most ``concurrency`` calls run and ``rate`` start per second."""

    def __init__(self, inner: DolphinHistory, *, concurrency: int, rate: float, burst: int) -> None:
        self._inner = inner
        self._semaphore = asyncio.Semaphore(concurrency)
        self._bucket = TokenBucket(rate, burst)
        self.in_flight = 0
        self.max_in_flight = 0

    async def _run(self, call: Callable[[], Awaitable[R]]) -> R:
        async with self._semaphore:
            await self._bucket.acquire()
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                return await call()
            finally:
                self.in_flight -= 1

    async def list_workflow_instances(
        self, project_code: int, *, page_no: int = 1, page_size: int = 10, workflow_code: int | None = None
    ) -> Page[WorkflowInstance]:
        return await self._run(
            lambda: self._inner.list_workflow_instances(
                project_code, page_no=page_no, page_size=page_size, workflow_code=workflow_code
            )
        )

    async def list_workflow_instances_digested(
        self, project_code: int, workflow_code: int, *, page_size: int = 10, known_digest: bytes | None = None
    ) -> Digested[Page[WorkflowInstance]]:
        return await self._run(
            lambda: self._inner.list_workflow_instances_digested(
                project_code, workflow_code, page_size=page_size, known_digest=known_digest
            )
        )

    async def get_workflow_instance(self, project_code: int, instance_id: int) -> WorkflowInstance:
        return await self._run(lambda: self._inner.get_workflow_instance(project_code, instance_id))

    async def get_instance_tasks(self, project_code: int, instance_id: int) -> InstanceTasks:
        return await self._run(lambda: self._inner.get_instance_tasks(project_code, instance_id))

    async def get_task_log(self, task_instance_id: int, *, skip_line_num: int = 0, limit: int = 1000) -> LogChunk:
        return await self._run(
            lambda: self._inner.get_task_log(task_instance_id, skip_line_num=skip_line_num, limit=limit)
        )
