"""What the definition service calls outside, as ``Protocol``s (adapters: ``definition.clients``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from common.events.models import ExecutionSummary


@dataclass(frozen=True)
class DependencySets:
    """One task's dependency sets as lineage-resolver's ``task_dependency_view`` holds them."""

    task_id: int
    upstream: tuple[int, ...]
    downstream: tuple[int, ...]


class DependencyView(Protocol):
    """lineage-resolver's dependency view: the sets of each of ``task_ids`` (empty sets for a task without
    dependencies), at most ``max_batch`` ids per call."""

    max_batch: int

    async def dependency_sets(self, task_ids: Sequence[int]) -> list[DependencySets]: ...


@dataclass(frozen=True)
class CachedExecutions:
    """One workflow's last executions as history-sync's cache holds them (newest first) and when it last synced."""

    workflow_id: int
    synced_at: datetime
    executions: tuple[ExecutionSummary, ...]


class ExecutionsView(Protocol):
    """history-sync's execution cache: the workflows of ``workflow_ids`` it has synced at least once (others are left
    out), at most ``max_batch`` ids per call."""

    max_batch: int

    async def cached_executions(self, workflow_ids: Sequence[int]) -> list[CachedExecutions]: ...


class DatasourceCatalog(Protocol):
    """Which datasources DolphinScheduler has (the publisher's lookup): ``True``/``False``, or ``None`` when it could
    not be asked in time."""

    async def exists(self, name: str, datasource_type: str) -> bool | None: ...
