"""What the definition service calls outside, as ``Protocol``s (adapters: ``definition.lineage``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


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
