"""The gateway's ``/api/v1`` as fault tests and benchmarks drive it: tasks, a scheduled chain workflow, a new version,
publish and wait until it is final, publish records — every call checks its status. ``every_item`` reads every page
of a list (the stateful driver, the flows and the browser test use it)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

#: one page of an ``/api/v1`` list: ``{"items": [...], "total": n, "page": p, "page_size": s}``
Page = Mapping[str, Any]


class _Pages:
    """The items read so far and the next page to ask for; ``add`` says whether that was the last page."""

    def __init__(self, page_size: int) -> None:
        self.page_size = page_size
        self.page = 1
        self.items: list[Any] = []

    def add(self, body: Page) -> bool:
        self.items += body["items"]
        self.page += 1
        return len(self.items) >= body["total"] or not body["items"]


def every_item(get_page: Callable[[int, int], Page], *, page_size: int = 200) -> list[Any]:
    """Every item of a paged list: ``get_page(page, page_size)`` answers one page (pages count from 1); reads on
    until the items reach the total or a page is empty (a list that shrank while it was read)."""
    pages = _Pages(page_size)
    while not pages.add(get_page(pages.page, pages.page_size)):
        pass
    return pages.items


async def every_item_async(get_page: Callable[[int, int], Awaitable[Page]], *, page_size: int = 200) -> list[Any]:
    """``every_item`` with an async ``get_page``."""
    pages = _Pages(page_size)
    while not pages.add(await get_page(pages.page, pages.page_size)):
        pass
    return pages.items


async def until(
    check: Callable[[], Awaitable[Any]], what: str, *, timeout_s: float = 30.0, every_s: float = 0.2
) -> Any:
    """Poll ``check()`` until it returns something truthy (returned); fails naming ``what`` and the last value."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f}s (last: {last!r})")
        await asyncio.sleep(every_s)


DAILY = {
    "crontab": "0 0 2 * * ? *",
    "timezone": "UTC",
    "start_time": "2025-01-01T00:00:00Z",
    "end_time": "2099-12-31T00:00:00Z",
}


class GatewayApi:
    def __init__(self, client: httpx.AsyncClient) -> None:
        """``client``: based at the gateway, with an ``Authorization`` header."""
        self.client = client

    async def call(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        r = await self.client.request(method, f"/api/v1{path}", **kw)
        assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    async def task(self, name: str, script: str = "echo hello") -> int:
        body = {"name": name, "task_type": "SHELL", "params": {"script": script}, "worker_group": "default"}
        return int((await self.call("POST", "/tasks", 201, json=body))["id"])

    async def workflow(self, workflow_id: int) -> dict[str, Any]:
        detail: dict[str, Any] = await self.call("GET", f"/workflows/{workflow_id}")
        return detail

    async def new_workflow(self, name: str, *, tasks: int = 2, cron: bool = True) -> int:
        """A workflow of ``tasks`` SHELL tasks in a chain (with a daily schedule unless ``cron`` is false), approved."""
        ids = [await self.task(f"{name}-t{i}") for i in range(tasks)]
        body: dict[str, Any] = {
            "name": name,
            "tasks": [{"task_id": t} for t in ids],
            "edges": [{"upstream_task_id": a, "downstream_task_id": b} for a, b in itertools.pairwise(ids)],
        }
        if cron:
            body["schedule"] = DAILY
        created = await self.call("POST", "/workflows", 201, json=body)
        workflow_id = int(created["id"])
        await self.approve(workflow_id, int(created["current_version_no"]))
        return workflow_id

    async def approve(self, workflow_id: int, version_no: int) -> None:
        """Approve the version reviewed (409 when another one was saved since)."""
        await self.call("POST", f"/workflows/{workflow_id}/approve", json={"version_no": version_no})

    async def new_version(self, workflow_id: int) -> int:
        """Add a task at the end of the chain (a new version) and approve it; returns the new version number."""
        detail = await self.workflow(workflow_id)
        added = await self.task(f"{detail['name']}-v{detail['current_version_no'] + 1}")
        last = detail["exit_task_ids"][0]
        body = {
            "name": detail["name"],
            "expected_version_no": detail["current_version_no"],
            "tasks": [{"task_id": t["task_id"]} for t in detail["tasks"]] + [{"task_id": added}],
            "edges": [*detail["edges"], {"upstream_task_id": last, "downstream_task_id": added}],
            "schedule": detail["schedule"],
        }
        updated = await self.call("PUT", f"/workflows/{workflow_id}", json=body)
        await self.approve(workflow_id, int(updated["current_version_no"]))
        return int(updated["current_version_no"])

    async def publish(self, workflow_id: int, operation: str) -> dict[str, Any]:
        body = {"operation": operation}
        accepted: dict[str, Any] = await self.call("POST", f"/workflows/{workflow_id}/publish", 202, json=body)
        return accepted

    async def settled(self, workflow_id: int, *, timeout_s: float = 60.0) -> dict[str, Any]:
        """The workflow detail once its latest publish is final (``published`` or ``failed``)."""

        async def done() -> dict[str, Any] | None:
            detail = await self.workflow(workflow_id)
            return detail if detail["publish_status"] in ("published", "failed") else None

        result: dict[str, Any] = await until(done, f"publish of workflow {workflow_id} final", timeout_s=timeout_s)
        return result

    async def records(self, workflow_id: int) -> list[dict[str, Any]]:
        """The workflow's publish records, newest first."""
        page = await self.call("GET", f"/workflows/{workflow_id}/publish-records", params={"page_size": 100})
        items: list[dict[str, Any]] = page["items"]
        return items
