"""HTTP adapters of the ports: one pooled client per service, created in the app's lifespan.

The client is aiohttp's (``httpx_aiohttp.AiohttpTransport``, the transport the DS REST client uses too): calls go
straight to its session, with the CLIENT span made here (``common.telemetry.client_span``), and answers are parsed
from their bytes by pydantic-core. httpx's request and response objects and httpcore's pool (which re-checks every
connection's socket per queued request) were most of the gateway's CPU per composed page. Tests put a fake service
behind any other ``httpx`` transport; those calls go through ``httpx.AsyncClient`` with the same mapping of
outcomes.

Each call has a total time budget (``asyncio.timeout`` around the whole exchange; the clients' own timeouts are per
phase) and maps every failure to the gateway's errors, naming the service in words and never its URL.
Nothing is retried here: the services' mutating calls are not idempotent, and the reads sit behind a user who can
reload.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from prometheus_client import Histogram
from pydantic_core import from_json, to_json

from common import deadline
from common.errors import UpstreamTimeout, UpstreamUnavailable
from common.http import CLIENT_IDLE_S
from common.telemetry import client_span, end_client_span
from common.transport import aiohttp_session_of, aiohttp_timeout, transport_failure
from gateway.errors import BadUpstreamAnswer, UpstreamProblem
from gateway.ports import Caller, Json, Params

log = logging.getLogger(__name__)

UPSTREAM_SECONDS = Histogram(
    "gateway_upstream_request_seconds",
    "Calls from the gateway to a service, by service and outcome (ok, problem, unavailable, timeout, bad_answer)",
    ["upstream", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0),
)

JSON_HEADERS = {"Content-Type": "application/json"}


def http_client(
    base_url: str, *, timeout_s: float, max_connections: int, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """A pooled ``httpx`` client of one service (``transport`` lets tests put a fake service behind it)."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 2.0)),
        limits=_limits(max_connections),
        transport=transport,
        follow_redirects=False,
    )


def _limits(max_connections: int) -> httpx.Limits:
    return httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections, keepalive_expiry=CLIENT_IDLE_S
    )


#: the signed token of a call on behalf of the caller (``common.identity.Signer.token`` for one service)
Tokens = Callable[[Caller], str]


class Upstream:
    """One service: its client, its name in words and its time budget. ``session``: the aiohttp session the calls
    go to directly (see :meth:`connect`); without it they go through ``client``. ``tokens``: the caller's identity
    token for this service (``Authorization: Bearer``); without it no identity is sent (tests of the mapping)."""

    def __init__(
        self,
        name: str,
        label: str,
        client: httpx.AsyncClient,
        *,
        timeout_s: float,
        session: Callable[[], aiohttp.ClientSession] | None = None,
        tokens: Tokens | None = None,
    ) -> None:
        self.name = name
        self._tokens = tokens
        #: e.g. "history service" (used in error messages)
        self.label = label
        self.client = client
        self.timeout_s = timeout_s
        self._base = str(client.base_url).rstrip("/")
        self._session = session

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
        """The service at ``base_url`` over aiohttp, or behind ``transport`` (a fake service, in tests). Closing
        ``client`` closes the aiohttp session too."""
        transport = transport if transport is not None else AiohttpTransport(limits=_limits(max_connections))
        client = http_client(base_url, timeout_s=timeout_s, max_connections=max_connections, transport=transport)
        session = aiohttp_session_of(transport)
        return cls(name, f"{name} service", client, timeout_s=timeout_s, session=session, tokens=tokens)

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
        budget = timeout_s if timeout_s is not None else self.timeout_s
        headers = {
            **(extra_headers or {}),
            "X-Request-Id": caller.request_id,
            # the service answers within what is left of this call's budget (common.deadline)
            deadline.HEADER: deadline.header_value(budget),
        }
        if self._tokens is not None:
            headers["Authorization"] = f"Bearer {self._tokens(caller)}"
        query = _clean(params)
        started = time.perf_counter()
        outcome = "ok"
        try:
            try:
                async with asyncio.timeout(budget):
                    if self._session is not None:
                        status, content = await self._send(method, path, query, body, headers, budget)
                    else:
                        response = await self.client.request(
                            method,
                            path,
                            params=query,
                            json=body,
                            headers=headers,
                            timeout=httpx.Timeout(budget, connect=min(budget, 2.0)),
                        )
                        status, content = response.status_code, response.content
            except Exception as exc:
                failure = transport_failure(exc)
                if failure is None:
                    raise
                outcome = failure
                if failure == "timeout":
                    log.warning("%s did not answer within %.3g s", self.label, budget, extra={"upstream": self.name})
                    raise UpstreamTimeout(
                        f"{self.label} did not answer within {budget:g} s", service=self.name
                    ) from None
                log.warning("%s is unavailable: %s", self.label, _error_name(exc), extra={"upstream": self.name})
                raise UpstreamUnavailable(f"{self.label} is unavailable", service=self.name) from None
            return self._answer(status, content)
        except UpstreamProblem:
            outcome = "problem"
            raise
        except UpstreamUnavailable:
            outcome = "unavailable"
            raise
        except BadUpstreamAnswer:
            outcome = "bad_answer"
            raise
        finally:
            UPSTREAM_SECONDS.labels(self.name, outcome).observe(time.perf_counter() - started)

    async def _send(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str | int | float | bool | None]] | None,
        body: Json | None,
        headers: dict[str, str],
        budget: float,
    ) -> tuple[int, bytes]:
        """One exchange straight through the aiohttp session (the URL and its query encoded as httpx encodes them)."""
        assert self._session is not None
        url = f"{self._base}{path}"
        if query:
            url = f"{url}?{urlencode(query)}"
        data = None
        if body is not None:
            data = to_json(body)
            headers.update(JSON_HEADERS)
        timeout = aiohttp_timeout(httpx.Timeout(budget, connect=min(budget, 2.0)))
        with client_span(method, url, headers) as span:
            async with self._session().request(method, url, data=data, headers=headers, timeout=timeout) as answer:
                content = await answer.read()
            end_client_span(span, answer.status)
        return answer.status, content

    def _answer(self, status: int, content: bytes) -> Any:
        if status == 204:
            return None
        try:
            data = from_json(content) if content else None
        except ValueError:
            data = None
        if status < 300 and data is not None:
            return data
        if status >= 400 and isinstance(data, dict) and isinstance(data.get("status"), int) and "title" in data:
            raise UpstreamProblem(self.name, status, data)
        if status in (502, 503, 504):
            raise UpstreamUnavailable(f"{self.label} is unavailable (HTTP {status})", service=self.name)
        raise BadUpstreamAnswer(
            f"{self.label} answered HTTP {status} with an unexpected body", service=self.name, upstream_status=status
        )


def _error_name(exc: BaseException) -> str:
    """The transport's original error (aiohttp's), not the httpx type it was re-raised as."""
    return type(exc.__cause__ if isinstance(exc.__cause__, Exception) else exc).__name__


def _clean(
    params: Params | Sequence[tuple[str, str | int]] | None,
) -> list[tuple[str, str | int | float | bool | None]] | None:
    if params is None:
        return None
    items = params.items() if isinstance(params, Mapping) else params
    out: list[tuple[str, str | int | float | bool | None]] = []
    for k, v in items:
        if v is None:
            continue
        out.append((k, ("true" if v else "false") if isinstance(v, bool) else v))
    return out


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
