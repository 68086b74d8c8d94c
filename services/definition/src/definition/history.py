"""Adapter of ``ports.ExecutionsView``: history-sync's ``GET /internal/workflows/executions`` over HTTP (used by
``python -m definition sync-executions``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx

from common.errors import TransientError
from common.events.models import ExecutionSummary
from definition.ports import CachedExecutions

#: history-sync's default ``HISTORY_BATCH_MAX_IDS``
HISTORY_MAX_IDS = 500


class HistoryExecutionsView:
    def __init__(self, client: httpx.AsyncClient, *, max_batch: int = HISTORY_MAX_IDS) -> None:
        self.client = client
        self.max_batch = max_batch

    async def cached_executions(self, workflow_ids: Sequence[int]) -> list[CachedExecutions]:
        if not workflow_ids:
            return []
        if len(workflow_ids) > self.max_batch:
            raise ValueError(f"at most {self.max_batch} workflow ids per call")
        try:
            r = await self.client.get(
                "/internal/workflows/executions", params={"ids": ",".join(str(w) for w in workflow_ids)}
            )
        except httpx.HTTPError as exc:
            raise TransientError(f"history-sync is unavailable ({type(exc).__name__})") from None
        if r.status_code != 200:
            raise TransientError(f"history-sync answered HTTP {r.status_code} to the executions batch")
        workflows: list[dict[str, Any]] = r.json()["workflows"]
        return [
            CachedExecutions(
                workflow_id=int(w["workflow_id"]),
                synced_at=datetime.fromisoformat(w["synced_at"]),
                executions=tuple(ExecutionSummary.model_validate(e) for e in w["executions"]),
            )
            for w in workflows
            if w.get("synced_at")  # tracked but never synced: nothing to copy yet
        ]
