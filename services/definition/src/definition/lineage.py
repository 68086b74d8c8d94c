"""Adapter of ``ports.DependencyView``: lineage-resolver's ``GET /internal/dependency-view`` over HTTP (used by
``python -m definition sync-dependencies``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from common.errors import TransientError
from definition.ports import DependencySets

#: lineage-resolver answers at most this many task ids per request
LINEAGE_MAX_IDS = 1000


class LineageDependencyView:
    def __init__(self, client: httpx.AsyncClient, *, max_batch: int = LINEAGE_MAX_IDS) -> None:
        self.client = client
        self.max_batch = min(max_batch, LINEAGE_MAX_IDS)

    async def dependency_sets(self, task_ids: Sequence[int]) -> list[DependencySets]:
        if not task_ids:
            return []
        if len(task_ids) > self.max_batch:
            raise ValueError(f"at most {self.max_batch} task ids per call")
        try:
            r = await self.client.get(
                "/internal/dependency-view", params={"task_ids": ",".join(str(t) for t in task_ids)}
            )
        except httpx.HTTPError as exc:
            raise TransientError(f"lineage-resolver is unavailable ({type(exc).__name__})") from None
        if r.status_code != 200:
            raise TransientError(f"lineage-resolver answered HTTP {r.status_code} to the dependency view")
        items: list[dict[str, Any]] = r.json()["items"]
        return [
            DependencySets(
                task_id=int(i["task_id"]),
                upstream=tuple(int(x) for x in i["upstream_task_ids"]),
                downstream=tuple(int(x) for x in i["downstream_task_ids"]),
            )
            for i in items
        ]
