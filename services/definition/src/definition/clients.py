"""Adapters of the ports over the other services' internal HTTP APIs:

- ``ports.DependencyView`` and ``ports.ExecutionsView``: the batch reads of lineage-resolver and history-sync that
  ``python -m definition sync-dependencies`` / ``sync-executions`` refill the read projections from (never called at
  request time);
- ``ports.DatasourceCatalog``: the publisher's datasource lookup, asked when a SQL task is saved (a short budget; an
  answer that does not come in time only turns the check into a warning).

Each is a ``common.upstream.Upstream`` (this service's own identity; its outcomes mapped to our errors)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from common.errors import PlatformError
from common.events.models import ExecutionSummary
from common.upstream import Upstream, UpstreamProblem
from definition.ports import CachedExecutions, DependencySets

#: lineage-resolver answers at most this many task ids per request
LINEAGE_MAX_IDS = 1000
#: history-sync's default ``HISTORY_BATCH_MAX_IDS``
HISTORY_MAX_IDS = 500


async def _read_batch(up: Upstream, path: str, param: str, ids: Sequence[int], *, max_batch: int) -> dict[str, Any]:
    """``GET path?param=1,2,3`` → the JSON answer (an outage is a ``TransientError``)."""
    if len(ids) > max_batch:
        raise ValueError(f"at most {max_batch} ids per call")
    answer: dict[str, Any] = await up.request("GET", path, params={param: ",".join(str(i) for i in ids)})
    return answer


class LineageDependencyView:
    """lineage-resolver's ``GET /internal/dependency-view``."""

    def __init__(self, up: Upstream, *, max_batch: int = LINEAGE_MAX_IDS) -> None:
        self.up = up
        self.max_batch = min(max_batch, LINEAGE_MAX_IDS)

    async def dependency_sets(self, task_ids: Sequence[int]) -> list[DependencySets]:
        if not task_ids:
            return []
        answer = await _read_batch(self.up, "/internal/dependency-view", "task_ids", task_ids, max_batch=self.max_batch)
        return [
            DependencySets(
                task_id=int(i["task_id"]),
                upstream=tuple(int(x) for x in i["upstream_task_ids"]),
                downstream=tuple(int(x) for x in i["downstream_task_ids"]),
            )
            for i in answer["items"]
        ]


class HistoryExecutionsView:
    """history-sync's ``GET /internal/workflows/executions`` (its cache; never calls DS)."""

    def __init__(self, up: Upstream, *, max_batch: int = HISTORY_MAX_IDS) -> None:
        self.up = up
        self.max_batch = max_batch

    async def cached_executions(self, workflow_ids: Sequence[int]) -> list[CachedExecutions]:
        if not workflow_ids:
            return []
        answer = await _read_batch(
            self.up, "/internal/workflows/executions", "ids", workflow_ids, max_batch=self.max_batch
        )
        return [
            CachedExecutions(
                workflow_id=int(w["workflow_id"]),
                synced_at=datetime.fromisoformat(w["synced_at"]),
                executions=tuple(ExecutionSummary.model_validate(e) for e in w["executions"]),
            )
            for w in answer["workflows"]
            if w.get("synced_at")  # tracked but never synced: nothing to copy yet
        ]


log = logging.getLogger(__name__)


class PublisherDatasources:
    """The publisher's ``GET /internal/datasources?name=&type=``."""

    def __init__(self, up: Upstream) -> None:
        self.up = up

    async def exists(self, name: str, datasource_type: str) -> bool | None:
        try:
            answer = await self.up.request(
                "GET", "/internal/datasources", params={"name": name, "type": datasource_type}
            )
        except (PlatformError, UpstreamProblem) as exc:
            log.warning("datasource check: %s", exc)
            return None
        return bool(answer.get("exists"))
