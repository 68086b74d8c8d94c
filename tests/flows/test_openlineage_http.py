"""OpenLineage over HTTP through the gateway, with the real ``openlineage-python`` client and its HTTP transport
configured as a user would (``transport: {type: http, url, auth: {type: api_key, apiKey}, compression: gzip}``): a
``lineage`` key sends RunEvents to ``/api/v1/lineage``; a task registered WITH its OpenLineage job identity gets its
job's lineage without any other mapping step (the identity reaches the lineage service through definition's outbox:
an event that arrives first waits among the unmapped jobs and is applied when the identity does); a job nobody mapped
shows up among the unmapped jobs with its datasets, is mapped through the API, and its pending lineage then becomes
the tasks' dependency (and the workflow's edge); an edited identity takes the new job's lineage; a job is one task's
(409). The key may do nothing else.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState

from common.testing.gateway_api import until
from gateway.main import create_app as create_gateway

from .conftest import Platform, serving, uid

pytestmark = pytest.mark.slow

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python"


def client_for(url: str, api_key: str) -> OpenLineageClient:
    transport = {
        "type": "http",
        "url": url,
        "auth": {"type": "api_key", "apiKey": api_key},
        "compression": "gzip",
        "retry": {"total": 0},
    }
    return OpenLineageClient(config={"transport": transport})


def complete(namespace: str, job: str, *, reads: list[str], writes: list[str]) -> RunEvent:
    return RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=datetime.now(UTC).isoformat(),
        run=Run(runId=str(uuid.uuid4())),
        job=Job(namespace=namespace, name=job),
        producer=PRODUCER,
        inputs=[InputDataset(namespace="postgres://Warehouse:5432", name=t) for t in reads],
        outputs=[OutputDataset(namespace="postgres://Warehouse:5432", name=t) for t in writes],
    )


async def new_task(p: Platform, name: str, **extra: Any) -> int:
    body = {"name": name, "task_type": "SHELL", "params": {"script": "echo hi"}, **extra}
    task: dict[str, Any] = await p.call("POST", "/api/v1/tasks", 201, json=body)
    return int(task["id"])


async def writers_of(p: Platform, table: str) -> list[int] | None:
    r = await p.api.get("/api/v1/lineage/table", params={"name": table, "depth": 1})
    if r.status_code == 404:  # lineage does not know the table (yet)
        return None
    assert r.status_code == 200, r.text
    return sorted(t["task_id"] for t in r.json()["tasks"] if t["writes"])


async def test_openlineage_client_posts_to_the_gateway_and_unmapped_jobs_are_mapped_by_a_person(
    platform: Platform,
) -> None:
    p = platform
    assert p.gateway is not None
    s = uid()
    namespace = f"spark://cluster-{s}"
    # the writer is registered with its OpenLineage job: no other mapping step
    writer = await new_task(p, f"load_{s}", openlineage_job={"namespace": namespace, "name": f"load_{s}"})
    reader = await new_task(p, f"report_{s}")
    body = {"name": f"ol_{s}", "tasks": [{"task_id": writer}, {"task_id": reader}], "edges": []}
    wid = (await p.call("POST", "/api/v1/workflows", 201, json=body))["id"]
    key = (await p.call("POST", "/api/v1/api-keys", 201, json={"name": f"spark-{s}", "roles": ["lineage"]}))["key"]
    viewer = (await p.call("POST", "/api/v1/api-keys", 201, json={"name": f"eve-{s}", "roles": ["viewer"]}))["key"]
    table = f"public.orders_{s}"
    wh = "postgres://warehouse:5432"

    async with serving(create_gateway(p.gateway), "gateway-http") as url:
        ol = client_for(url, key)
        # the writer's job is its task's identity; the reader's job is nobody's yet
        await asyncio.to_thread(ol.emit, complete(namespace, f"load_{s}", reads=["public.raw"], writes=[table]))
        await asyncio.to_thread(ol.emit, complete(namespace, f"report_{s}", reads=[table], writes=[]))

        # the key sends lineage and nothing else; other keys cannot send lineage
        r = await asyncio.to_thread(requests.get, f"{url}/api/v1/tasks", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 403, r.text
        with pytest.raises(requests.HTTPError) as refused:
            await asyncio.to_thread(client_for(url, viewer).emit, complete(namespace, "x", reads=[table], writes=[]))
        assert refused.value.response is not None
        assert refused.value.response.status_code == 403
        # a bad event: a problem naming the field, nothing applied
        bad: dict[str, Any] = {
            "eventType": "COMPLETE",
            "eventTime": "now",
            "run": {"runId": "1"},
            "job": {"namespace": "a", "name": "b"},
        }
        r = await asyncio.to_thread(
            requests.post, f"{url}/api/v1/lineage", json=bad, headers={"Authorization": f"Bearer {key}"}
        )
        assert r.status_code == 422, r.text
        assert "eventTime" in r.json()["detail"]

    # the writer's lineage lands on the writer; only the reader's job waits to be mapped
    async def writer_applied() -> list[int] | None:
        return [writer] if await writers_of(p, f"{wh}/{table}") == [writer] else None

    await until(writer_applied, "the writer's RunEvent applied to the task registered with its job")

    async def only_reader_pending() -> list[Any] | None:
        pending = (await p.call("GET", "/api/v1/openlineage/unmapped-jobs", params={"q": s}))["items"]
        got = [(j["namespace"], j["name"], j["reads"], j["writes"]) for j in pending]
        return got if got == [(namespace, f"report_{s}", [f"{wh}/{table}"], [])] else None

    await until(only_reader_pending, "only the reader's job among the unmapped jobs")
    detail = await p.call("GET", f"/api/v1/tasks/{writer}")
    assert detail["openlineage_job"] == {"namespace": namespace, "name": f"load_{s}"}
    assert detail["upstream_task_ids"] == []
    assert (await p.workflow(wid))["edges"] == []

    # a person maps the job to the reader task: recorded with the task, its pending lineage is applied
    mapped = await p.call(
        "PUT", f"/api/v1/tasks/{reader}/openlineage-job", json={"namespace": namespace, "name": f"report_{s}"}
    )
    assert (mapped["task_id"], mapped["name"]) == (reader, f"report_{s}")
    assert (await p.call("GET", f"/api/v1/tasks/{reader}/openlineage-job"))["name"] == f"report_{s}"

    async def nothing_pending() -> bool | None:
        return (await p.call("GET", "/api/v1/openlineage/unmapped-jobs", params={"q": s}))["items"] == [] or None

    await until(nothing_pending, "the mapped job leaves the unmapped jobs")

    async def dependency() -> dict[str, Any] | None:
        task = await p.call("GET", f"/api/v1/tasks/{reader}")
        return task if task["upstream_task_ids"] == [writer] else None

    await until(dependency, "the reader's upstream = the writer, from the mapped job's lineage")

    async def edge() -> dict[str, Any] | None:
        d = await p.workflow(wid)
        return (
            d if [(e["upstream_task_id"], e["downstream_task_id"]) for e in d["edges"]] == [(writer, reader)] else None
        )

    await until(edge, "the lineage edge writer→reader in the workflow")

    # a job is one task's: another task cannot take the writer's (registration or the identity route)
    taken = {"namespace": namespace, "name": f"load_{s}"}
    clash = await p.api.post(
        "/api/v1/tasks",
        json={"name": f"thief_{s}", "task_type": "SHELL", "params": {"script": "x"}, "openlineage_job": taken},
    )
    assert clash.status_code == 409, clash.text
    assert (clash.json()["task_id"], clash.json()["type"]) == (writer, "/problems/openlineage-job-taken")
    clash = await p.api.put(f"/api/v1/tasks/{reader}/openlineage-job", json=taken)
    assert clash.status_code == 409, clash.text
    assert clash.json()["task_id"] == writer
    assert (await p.call("GET", "/api/v1/tasks", params={"name": f"thief_{s}"}))["total"] == 0

    # the writer's identity edited in its task (the integration renamed the job): the new job's lineage lands on it
    task = await p.call("GET", f"/api/v1/tasks/{writer}")
    edit = {k: task[k] for k in ("name", "task_type", "description", "params", "worker_group", "owner")}
    renamed = {"namespace": namespace, "name": f"load_v2_{s}"}
    edited = await p.call(
        "PUT",
        f"/api/v1/tasks/{writer}",
        json={**edit, "expected_revision": task["revision"], "openlineage_job": renamed},
    )
    assert edited["openlineage_job"] == renamed
    other_table = f"public.orders_v2_{s}"
    async with serving(create_gateway(p.gateway), "gateway-http") as url:
        ol = client_for(url, key)
        await asyncio.to_thread(ol.emit, complete(namespace, f"load_v2_{s}", reads=[], writes=[other_table]))

    async def renamed_applied() -> list[int] | None:
        return [writer] if await writers_of(p, f"{wh}/{other_table}") == [writer] else None

    await until(renamed_applied, "the renamed job's lineage applied to the writer")
    # the old name is free again: another task may take it
    await new_task(p, f"heir_{s}", openlineage_job=taken)
