"""Adapters of the ports over the services' internal APIs: one ``common.upstream.Upstream`` per service, created in
the app's lifespan, sending the caller's identity and request id with every call.

Each call has a total time budget and maps every failure to the gateway's errors (``common.upstream``), naming the
service in words and never its URL. Nothing is retried here: the services' mutating calls are not idempotent, and
the reads sit behind a user who can reload.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx
from prometheus_client import Histogram

from common import upstream
from common.transport import HttpTransport, QueryValue
from gateway.ports import Caller, Json, Params

UPSTREAM_SECONDS = Histogram(
    "gateway_upstream_request_seconds",
    "Calls from the gateway to a service, by service and outcome (ok, problem, unavailable, timeout, bad_answer)",
    ["upstream", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0),
)

#: the signed token of a call on behalf of the caller (``common.identity.Signer.token`` for one service)
Tokens = Callable[[Caller], str]


class Upstream(upstream.Upstream):
    """One service, called on behalf of a ``Caller``. ``tokens``: the caller's identity token for this service
    (``Authorization: Bearer``); without it no identity is sent (tests of the mapping)."""

    def __init__(
        self,
        name: str,
        http: HttpTransport,
        *,
        timeout_s: float,
        label: str | None = None,
        tokens: Tokens | None = None,
    ) -> None:
        super().__init__(name, http, timeout_s=timeout_s, label=label, metric=UPSTREAM_SECONDS)
        self._tokens = tokens

    @classmethod
    def connect(
        cls,
        name: str,
        base_url: str,
        *,
        timeout_s: float,
        max_connections: int,
        transport: httpx.AsyncBaseTransport | None = None,
        tokens: Tokens | None = None,
    ) -> Upstream:
        """The service at ``base_url``, or a fake behind ``transport`` (in tests)."""
        http = cls.transport(base_url, timeout_s=timeout_s, max_connections=max_connections, fake=transport)
        return cls(name, http, timeout_s=timeout_s, tokens=tokens)

    async def call(
        self,
        method: str,
        path: str,
        caller: Caller,
        *,
        params: Params | Sequence[tuple[str, str | int]] | None = None,
        body: Json | None = None,
        timeout_s: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Any:
        headers = {**(extra_headers or {}), "X-Request-Id": caller.request_id}
        if self._tokens is not None:
            headers["Authorization"] = f"Bearer {self._tokens(caller)}"
        query: Mapping[str, QueryValue] | Sequence[tuple[str, QueryValue]] | None = params
        return await self.request(method, path, params=query, body=body, timeout_s=timeout_s, headers=headers)


def _segment(name: str) -> str:
    """A table name as one path segment, every reserved character escaped: ``/`` and the dots too, which a URL
    parser would otherwise resolve as ``..`` segments (``a/../b`` would ask for ``b``)."""
    return quote(name, safe="").replace(".", "%2E")


def _ids(ids: Sequence[int]) -> str:
    return ",".join(str(i) for i in ids)


class DefinitionClient:
    def __init__(self, upstream: Upstream) -> None:
        self.up = upstream

    async def create_task(self, body: Json, caller: Caller) -> Json:
        out: Json = await self.up.call("POST", "/internal/tasks", caller, body=body)
        return out

    async def update_task(self, task_id: int, body: Json, caller: Caller) -> Json:
        out: Json = await self.up.call("PUT", f"/internal/tasks/{task_id}", caller, body=body)
        return out

    async def get_task(self, task_id: int, caller: Caller) -> Json:
        out: Json = await self.up.call("GET", f"/internal/tasks/{task_id}", caller)
        return out

    async def put_task_job(self, task_id: int, body: Json, caller: Caller) -> Json:
        out: Json = await self.up.call("PUT", f"/internal/tasks/{task_id}/openlineage-job", caller, body=body)
        return out

    async def delete_task_job(self, task_id: int, caller: Caller) -> None:
        await self.up.call("DELETE", f"/internal/tasks/{task_id}/openlineage-job", caller)

    async def list_tasks(self, params: Params, ids: Sequence[int] | None, caller: Caller) -> Json:
        query = {**params, "ids": _ids(ids) if ids else None}
        out: Json = await self.up.call("GET", "/internal/tasks", caller, params=query)
        return out

    async def task_owners(self, task_ids: Sequence[int], caller: Caller) -> Json:
        out: Json = await self.up.call("GET", "/internal/task-owners", caller, params={"task_ids": _ids(task_ids)})
        return out

    async def create_workflow(self, body: Json, caller: Caller) -> Json:
        out: Json = await self.up.call("POST", "/internal/workflows", caller, body=body)
        return out

    async def update_workflow(self, workflow_id: int, body: Json, caller: Caller) -> Json:
        out: Json = await self.up.call("PUT", f"/internal/workflows/{workflow_id}", caller, body=body)
        return out

    async def get_workflow(self, workflow_id: int, caller: Caller) -> Json:
        out: Json = await self.up.call("GET", f"/internal/workflows/{workflow_id}", caller)
        return out

    async def list_workflows(self, params: Params, caller: Caller) -> Json:
        out: Json = await self.up.call("GET", "/internal/workflows", caller, params=params)
        return out

    async def delete_workflow(self, workflow_id: int, caller: Caller, *, expected_version_no: int | None) -> None:
        params = {"expected_version_no": expected_version_no}
        await self.up.call("DELETE", f"/internal/workflows/{workflow_id}", caller, params=params)

    async def delete_task(self, task_id: int, caller: Caller) -> None:
        await self.up.call("DELETE", f"/internal/tasks/{task_id}", caller)

    async def workflow_states(self, workflow_ids: Sequence[int], caller: Caller) -> Json:
        params = {"ids": _ids(workflow_ids)}
        out: Json = await self.up.call("GET", "/internal/workflow-states", caller, params=params)
        return out

    async def workflow_action(self, workflow_id: int, action: str, caller: Caller, body: Json | None = None) -> Json:
        path = f"/internal/workflows/{workflow_id}/actions/{action}"
        out: Json = await self.up.call("POST", path, caller, body=body or {})
        return out

    async def list_versions(self, workflow_id: int, page: int, page_size: int, caller: Caller) -> Json:
        params = {"page": page, "page_size": page_size}
        out: Json = await self.up.call("GET", f"/internal/workflows/{workflow_id}/versions", caller, params=params)
        return out

    async def get_version(self, workflow_id: int, version_no: int, caller: Caller) -> Json:
        out: Json = await self.up.call("GET", f"/internal/workflows/{workflow_id}/versions/{version_no}", caller)
        return out

    async def diff(self, workflow_id: int, from_no: int, to_no: int, caller: Caller) -> Json:
        params = {"from": from_no, "to": to_no}
        out: Json = await self.up.call("GET", f"/internal/workflows/{workflow_id}/diff", caller, params=params)
        return out

    async def rollback(self, workflow_id: int, body: Json, caller: Caller) -> Json:
        out: Json = await self.up.call("POST", f"/internal/workflows/{workflow_id}/rollback", caller, body=body)
        return out

    async def publish(self, workflow_id: int, body: Json, caller: Caller) -> Json:
        out: Json = await self.up.call("POST", f"/internal/workflows/{workflow_id}/publish", caller, body=body)
        return out

    async def preview_migration(self, body: Json, caller: Caller) -> Json:
        out: Json = await self.up.call("POST", "/internal/migrations/preview", caller, body=body)
        return out

    async def migrate(self, body: Json, caller: Caller) -> Json:
        out: Json = await self.up.call("POST", "/internal/migrations", caller, body=body)
        return out

    async def list_proposals(self, params: Params, caller: Caller) -> Json:
        out: Json = await self.up.call("GET", "/internal/proposals", caller, params=params)
        return out

    async def rebuild_proposals(self, caller: Caller) -> Json:
        out: Json = await self.up.call("POST", "/internal/proposals/rebuild", caller)
        return out

    async def preview_proposal(self, proposal_id: int, caller: Caller) -> Json:
        out: Json = await self.up.call("GET", f"/internal/proposals/{proposal_id}/preview", caller)
        return out

    async def accept_proposal(self, proposal_id: int, body: Json, caller: Caller) -> Json:
        out: Json = await self.up.call("POST", f"/internal/proposals/{proposal_id}/accept", caller, body=body)
        return out

    async def dismiss_proposal(self, proposal_id: int, caller: Caller) -> Json:
        out: Json = await self.up.call("POST", f"/internal/proposals/{proposal_id}/dismiss", caller)
        return out


class PublisherClient:
    def __init__(self, upstream: Upstream) -> None:
        self.up = upstream

    async def list_publish_records(self, workflow_id: int, page: int, page_size: int, caller: Caller) -> Json:
        params = {"page": page, "page_size": page_size}
        path = f"/internal/workflows/{workflow_id}/publish-records"
        out: Json = await self.up.call("GET", path, caller, params=params)
        return out

    async def get_publish_record(self, record_id: int, caller: Caller) -> Json:
        out: Json = await self.up.call("GET", f"/internal/publish-records/{record_id}", caller)
        return out

    async def list_runs(self, workflow_id: int, limit: int, caller: Caller) -> Json:
        path = f"/internal/workflows/{workflow_id}/runs"
        out: Json = await self.up.call("GET", path, caller, params={"limit": limit})
        return out

    async def retry_publish(self, record_id: int, caller: Caller, *, key: str | None = None) -> Json:
        body: Json = {}  # the operator is the caller the token names
        headers = {"Idempotency-Key": key} if key is not None else None
        path = f"/internal/publish-records/{record_id}/retry"
        out: Json = await self.up.call("POST", path, caller, body=body, extra_headers=headers)
        return out

    async def run_workflow(self, workflow_id: int, body: Json, caller: Caller, *, key: str | None = None) -> Json:
        headers = {"Idempotency-Key": key} if key is not None else None
        path = f"/internal/workflows/{workflow_id}/run"
        out: Json = await self.up.call("POST", path, caller, body=body, extra_headers=headers)
        return out

    async def get_run(self, workflow_id: int, run_id: int, caller: Caller) -> Json:
        out: Json = await self.up.call("GET", f"/internal/workflows/{workflow_id}/runs/{run_id}", caller)
        return out

    async def batch_run(self, body: Json, caller: Caller) -> Json:
        out: Json = await self.up.call("POST", "/internal/workflows/batch-run", caller, body=body)
        return out

    async def get_restore(self, workflow_id: int, caller: Caller) -> Json:
        out: Json = await self.up.call("GET", f"/internal/workflows/{workflow_id}/restore", caller)
        return out

    async def restore_now(self, workflow_id: int, caller: Caller) -> Json:
        body: Json = {}  # the operator is the caller the token names
        out: Json = await self.up.call("POST", f"/internal/workflows/{workflow_id}/restore", caller, body=body)
        return out

    async def cancel_restore(self, workflow_id: int, caller: Caller) -> Json:
        body: Json = {}  # the operator is the caller the token names
        path = f"/internal/workflows/{workflow_id}/restore/cancel"
        out: Json = await self.up.call("POST", path, caller, body=body)
        return out


class HistoryClient:
    def __init__(self, upstream: Upstream, *, direct_timeout_s: float) -> None:
        self.up = upstream
        self.direct_timeout_s = direct_timeout_s

    async def executions(
        self, workflow_id: int, caller: Caller, *, direct: bool = False, max_age_s: float | None = None
    ) -> Json:
        """``direct``: the executions page itself (longer budget: a stale cache is refreshed from DS first);
        otherwise a part of a composed page (short budget)."""
        timeout = self.direct_timeout_s if direct else None
        path = f"/internal/workflows/{workflow_id}/executions"
        params = {"max_age_seconds": max_age_s} if max_age_s is not None else None
        out: Json = await self.up.call("GET", path, caller, params=params, timeout_s=timeout)
        return out

    async def task_metrics(self, workflow_ids: Sequence[int], caller: Caller) -> Json:
        """Task-level metrics of these workflows (a part of the task pages: short budget; never calls DS)."""
        out: Json = await self.up.call(
            "GET", "/internal/workflows/task-metrics", caller, params={"ids": _ids(workflow_ids)}
        )
        return out

    async def instance(self, instance_id: int, workflow_id: int, caller: Caller) -> Json:
        params = {"workflow_id": workflow_id}
        path = f"/internal/instances/{instance_id}"
        out: Json = await self.up.call("GET", path, caller, params=params, timeout_s=self.direct_timeout_s)
        return out

    async def task_log(
        self,
        workflow_id: int,
        task_instance_id: int,
        skip_line_num: int,
        limit: int,
        caller: Caller,
        *,
        instance_id: int | None = None,
    ) -> Json:
        params = {
            "workflow_id": workflow_id,
            "instance_id": instance_id,
            "skip_line_num": skip_line_num,
            "limit": limit,
        }
        path = f"/internal/task-instances/{task_instance_id}/log"
        out: Json = await self.up.call("GET", path, caller, params=params, timeout_s=self.direct_timeout_s)
        return out


class LineageClient:
    def __init__(self, upstream: Upstream) -> None:
        self.up = upstream

    async def dependency_view(self, task_ids: Sequence[int], caller: Caller) -> Json:
        params = {"task_ids": _ids(task_ids)}
        out: Json = await self.up.call("GET", "/internal/dependency-view", caller, params=params)
        return out

    async def task_tables(self, task_ids: Sequence[int], caller: Caller) -> Json:
        params = {"task_ids": _ids(task_ids)}
        out: Json = await self.up.call("GET", "/internal/task-tables", caller, params=params)
        return out

    async def post_event(self, body: Json, caller: Caller) -> Json:
        out: Json = await self.up.call("POST", "/internal/lineage/events", caller, body=body)
        return out

    async def list_patterns(self, caller: Caller) -> Json:
        out: Json = await self.up.call("GET", "/internal/openlineage/patterns", caller)
        return out

    async def create_pattern(self, body: Json, caller: Caller) -> Json:
        out: Json = await self.up.call("POST", "/internal/openlineage/patterns", caller, body=body)
        return out

    async def update_pattern(self, pattern_id: int, body: Json, caller: Caller) -> Json:
        out: Json = await self.up.call("PUT", f"/internal/openlineage/patterns/{pattern_id}", caller, body=body)
        return out

    async def delete_pattern(self, pattern_id: int, caller: Caller) -> None:
        await self.up.call("DELETE", f"/internal/openlineage/patterns/{pattern_id}", caller)

    async def unmapped_jobs(self, params: Params, caller: Caller) -> Json:
        out: Json = await self.up.call("GET", "/internal/openlineage/unmapped-jobs", caller, params=params)
        return out

    async def search_tables(self, q: str, limit: int, caller: Caller) -> Json:
        out: Json = await self.up.call("GET", "/internal/tables", caller, params={"q": q, "limit": limit})
        return out

    async def table_lineage(self, table: str, depth: int, caller: Caller) -> Json:
        path = f"/internal/tables/{_segment(table)}/lineage"
        out: Json = await self.up.call("GET", path, caller, params={"depth": depth})
        return out

    async def affected(self, table: str, depth: int, caller: Caller) -> Json:
        path = f"/internal/tables/{_segment(table)}/affected"
        out: Json = await self.up.call("GET", path, caller, params={"depth": depth})
        return out

    async def task_links(self, task_ids: Sequence[int], caller: Caller) -> Json:
        params = {"task_ids": _ids(task_ids)}
        out: Json = await self.up.call("GET", "/internal/task-links", caller, params=params)
        return out
