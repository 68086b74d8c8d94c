"""OpenLineage over HTTP through the gateway, with the real ``openlineage-python`` client and its HTTP transport
configured as a user would (``transport: {type: http, url, auth: {type: api_key, apiKey}, compression: gzip}``): a
``lineage`` key sends RunEvents to ``/api/v1/lineage``; a job that is a task's OpenLineage identity updates the task's
tables at once; a job nobody mapped shows up among the unmapped jobs with its datasets, is mapped through the API,
and its pending lineage then becomes the tasks' dependency (and the workflow's edge). The key may do nothing else.
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


async def new_task(p: Platform, name: str) -> int:
    body = {"name": name, "task_type": "SHELL", "params": {"script": "echo hi"}}
    task: dict[str, Any] = await p.call("POST", "/api/v1/tasks", 201, json=body)
    return int(task["id"])


async def test_openlineage_client_posts_to_the_gateway_and_unmapped_jobs_are_mapped_by_a_person(
    platform: Platform,
) -> None:
    p = platform
    assert p.gateway is not None
    s = uid()
    writer, reader = await new_task(p, f"load_{s}"), await new_task(p, f"report_{s}")
    body = {"name": f"ol_{s}", "tasks": [{"task_id": writer}, {"task_id": reader}], "edges": []}
    wid = (await p.call("POST", "/api/v1/workflows", 201, json=body))["id"]
    key = (await p.call("POST", "/api/v1/api-keys", 201, json={"name": f"spark-{s}", "roles": ["lineage"]}))["key"]
    viewer = (await p.call("POST", "/api/v1/api-keys", 201, json={"name": f"eve-{s}", "roles": ["viewer"]}))["key"]
    namespace = f"spark://cluster-{s}"
    await p.call("PUT", f"/api/v1/tasks/{writer}/openlineage-job", json={"namespace": namespace, "name": f"load_{s}"})
    table = f"public.orders_{s}"

    async with serving(create_gateway(p.gateway), "gateway-http") as url:
        ol = client_for(url, key)
        # the writer's job is its task's identity: applied at once; the reader's job is nobody's yet
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

    pending = (await p.call("GET", "/api/v1/openlineage/unmapped-jobs", params={"q": s}))["items"]
    assert [(j["namespace"], j["name"], j["reads"], j["writes"]) for j in pending] == [
        (namespace, f"report_{s}", [f"postgres://warehouse:5432/{table}"], [])
    ]
    detail = await p.call("GET", f"/api/v1/tasks/{writer}")
    assert detail["upstream_task_ids"] == []
    assert (await p.workflow(wid))["edges"] == []

    # a person maps the job to the reader task: its pending lineage is applied
    mapped = await p.call(
        "PUT", f"/api/v1/tasks/{reader}/openlineage-job", json={"namespace": namespace, "name": f"report_{s}"}
    )
    assert [(a["name"], a["task_id"]) for a in mapped["applied"]] == [(f"report_{s}", reader)]
    assert (await p.call("GET", "/api/v1/openlineage/unmapped-jobs", params={"q": s}))["items"] == []
    assert (await p.call("GET", f"/api/v1/tasks/{reader}/openlineage-job"))["name"] == f"report_{s}"

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
