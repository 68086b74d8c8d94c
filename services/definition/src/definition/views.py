"""Adapters of the ports over the other services' internal HTTP APIs:

- ``ports.DependencyView`` and ``ports.ExecutionsView``: the batch reads of lineage-resolver and history-sync that
  ``python -m definition sync-dependencies`` / ``sync-executions`` refill the read projections from (never called at
  request time);
- ``ports.DatasourceCatalog``: the publisher's datasource lookup, asked when a SQL task is saved (a short budget; an
  answer that does not come in time only turns the check into a warning)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx

from common.errors import TransientError
from common.events.models import ExecutionSummary
from definition.ports import CachedExecutions, DependencySets

#: lineage-resolver answers at most this many task ids per request
LINEAGE_MAX_IDS = 1000
#: history-sync's default ``HISTORY_BATCH_MAX_IDS``
HISTORY_MAX_IDS = 500


async def _read_batch(
    client: httpx.AsyncClient, path: str, param: str, ids: Sequence[int], *, max_batch: int, service: str
) -> dict[str, Any]:
    """``GET path?param=1,2,3`` → the JSON answer; an outage or any answer but 200 is a ``TransientError``."""
    if len(ids) > max_batch:
        raise ValueError(f"at most {max_batch} ids per call")
    try:
        r = await client.get(path, params={param: ",".join(str(i) for i in ids)})
    except httpx.HTTPError as exc:
        raise TransientError(f"{service} is unavailable ({type(exc).__name__})") from None
    if r.status_code != 200:
        raise TransientError(f"{service} answered HTTP {r.status_code} to GET {path}")
    answer: dict[str, Any] = r.json()
    return answer


class LineageDependencyView:
    """lineage-resolver's ``GET /internal/dependency-view``."""

    def __init__(self, client: httpx.AsyncClient, *, max_batch: int = LINEAGE_MAX_IDS) -> None:
        self.client = client
        self.max_batch = min(max_batch, LINEAGE_MAX_IDS)

    async def dependency_sets(self, task_ids: Sequence[int]) -> list[DependencySets]:
        if not task_ids:
            return []
        answer = await _read_batch(
            self.client,
            "/internal/dependency-view",
            "task_ids",
            task_ids,
            max_batch=self.max_batch,
            service="lineage-resolver",
        )
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

    def __init__(self, client: httpx.AsyncClient, *, max_batch: int = HISTORY_MAX_IDS) -> None:
        self.client = client
        self.max_batch = max_batch

    async def cached_executions(self, workflow_ids: Sequence[int]) -> list[CachedExecutions]:
        if not workflow_ids:
            return []
        answer = await _read_batch(
            self.client,
            "/internal/workflows/executions",
            "ids",
            workflow_ids,
            max_batch=self.max_batch,
            service="history-sync",
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

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def exists(self, name: str, datasource_type: str) -> bool | None:
        try:
            r = await self.client.get("/internal/datasources", params={"name": name, "type": datasource_type})
        except httpx.HTTPError as exc:
            log.warning("datasource check: the publisher is unavailable (%s)", type(exc).__name__)
            return None
        if r.status_code != 200:
            log.warning("datasource check: the publisher answered HTTP %d", r.status_code)
            return None
        return bool(r.json().get("exists"))
