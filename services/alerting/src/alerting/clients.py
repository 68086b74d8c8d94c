"""Clients of the platform's services this one reads (definition, publisher, history-sync): each a
``common.upstream.Upstream`` with this service's own identity, whose answers become our errors (404 ``NotFound``,
5xx or no answer ``UpstreamUnavailable`` / ``UpstreamTimeout``, another 4xx ``DomainError``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from alerting.ports import DriftReport, StaleReport, StaleWorkflow, TaskRef, WorkflowRef, WorkflowStructure
from common.errors import NotFound
from common.upstream import Upstream

PAGE_SIZE = 200


class DefinitionHttp:
    """definition's internal API (docs/api-contracts.md §1)."""

    def __init__(self, up: Upstream) -> None:
        self._up = up

    async def _pages(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            body = await self._up.request("GET", path, params={**params, "page": page, "page_size": PAGE_SIZE})
            items.extend(body["items"])
            if page * PAGE_SIZE >= int(body["total"]) or not body["items"]:
                return items
            page += 1

    async def unassigned_tasks(self) -> list[TaskRef]:
        rows = await self._pages("/internal/tasks", {"unassigned": "true"})
        return [TaskRef(int(r["id"]), str(r["name"]), r.get("workflow_id")) for r in rows]

    async def workflows(self) -> list[WorkflowRef]:
        rows = await self._pages("/internal/workflows", {"sort": "name"})
        return [
            WorkflowRef(
                int(r["id"]), str(r["name"]), str(r["publish_status"]), r.get("project_code"), r.get("workflow_code")
            )
            for r in rows
        ]

    async def workflow_structure(self, workflow_id: int) -> WorkflowStructure:
        body = await self._up.request("GET", f"/internal/workflows/{workflow_id}")
        return WorkflowStructure(
            id=workflow_id,
            task_ids=tuple(int(t["task_id"]) for t in body.get("tasks", [])),
            edges=tuple((int(e["upstream_task_id"]), int(e["downstream_task_id"])) for e in body.get("edges", [])),
        )

    async def tasks(self, ids: Sequence[int]) -> list[TaskRef]:
        out: list[TaskRef] = []
        unique = sorted(set(ids))
        for i in range(0, len(unique), PAGE_SIZE):
            chunk = unique[i : i + PAGE_SIZE]
            rows = await self._pages("/internal/tasks", {"ids": ",".join(map(str, chunk))})
            out.extend(TaskRef(int(r["id"]), str(r["name"]), r.get("workflow_id")) for r in rows)
        return out


class PublisherHttp:
    def __init__(self, up: Upstream) -> None:
        self._up = up

    async def drift(self, workflow_id: int) -> DriftReport | None:
        try:
            body = await self._up.request("GET", f"/internal/workflows/{workflow_id}/drift")
        except NotFound:
            return None
        subject = {
            k: body.get(k)
            for k in (
                "workflow_code",
                "project_code",
                "last_deployed_version_id",
                "last_deployed_hash",
                "ds_hash",
                "expected_ds_hash",
                "ds_version",
            )
            if body.get(k) is not None
        }
        return DriftReport(
            workflow_id=workflow_id,
            status=str(body["status"]),
            differences=tuple(str(d) for d in body.get("differences", [])),
            subject=subject,
        )


class HistoryHttp:
    def __init__(self, up: Upstream) -> None:
        self._up = up

    async def stale(self, cycles: int) -> StaleReport:
        body = await self._up.request("GET", "/internal/workflows/stale", params={"cycles": cycles})
        return StaleReport(
            threshold_s=float(body["threshold_s"]),
            workflows=tuple(
                StaleWorkflow(
                    workflow_id=int(w["workflow_id"]),
                    project_code=w.get("project_code"),
                    workflow_code=w.get("engine_workflow_code"),
                    last_synced_at=datetime.fromisoformat(w["last_synced_at"]) if w.get("last_synced_at") else None,
                    age_s=float(w["age_seconds"]),
                    last_error=w.get("last_error"),
                )
                for w in body["items"]
            ),
        )
