"""The OpenLineage job <-> task mapping as data, through the internal HTTP API and Kafka on real PostgreSQL: a job no
rule maps is parked with its datasets (not dead-lettered); a task's job identity (definition's, arriving on
``task.openlineage-job.set``) or a pattern rule maps it and its pending lineage is applied in the same transaction;
identities of two tasks arriving out of order keep the later owner; stored rules come before the configured seed
rules; the rules are validated; a RunEvent sent again over HTTP is a duplicate."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY

from common.events import OpenLineageJob, TaskOpenLineageJobSet, Topics
from common.testing.kafka_helpers import eventually
from common.testing.service import running
from lineage_resolver.config import Settings
from lineage_resolver.main import create_app

from .conftest import envelope_bytes, run_event


@pytest.fixture
async def client(settings: Settings) -> Any:
    """The app with its consumers: the tasks' identities come from definition over Kafka."""
    async with running(create_app(settings, telemetry=False)) as c:
        yield c


async def task_jobs(client: httpx.AsyncClient, *task_ids: int) -> list[tuple[int, str, str]]:
    r = await client.get("/internal/openlineage/task-jobs", params={"task_ids": ",".join(map(str, task_ids))})
    assert r.status_code == 200, r.text
    return [(i["task_id"], i["namespace"], i["name"]) for i in r.json()["items"]]


async def identity(
    producer: AIOKafkaProducer, settings: Settings, task_id: int, job: tuple[str, str] | None, revision: int
) -> None:
    """What definition publishes when the task's identity changes (keyed by the task, as its outbox does)."""
    event = TaskOpenLineageJobSet(
        task_id=task_id,
        job=OpenLineageJob(namespace=job[0], name=job[1]) if job is not None else None,
        revision=revision,
        set_by="tester",
    )
    topic = settings.topic(Topics.TASK_OPENLINEAGE_JOB_SET)
    await producer.send_and_wait(topic, envelope_bytes(event), key=event.key().encode())


async def until_jobs(client: httpx.AsyncClient, task_ids: tuple[int, ...], expected: list[Any]) -> None:
    async def matches() -> bool:
        return await task_jobs(client, *task_ids) == expected

    await eventually(matches, timeout_s=20)


async def send(client: httpx.AsyncClient, body: dict[str, Any], status: str) -> dict[str, Any]:
    r = await client.post("/internal/lineage/events", json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    assert out["status"] == status, out
    return out


def event(job: str, run: str, *, namespace: str = "spark", time: str = "2026-12-07T10:00:00Z", **kw: Any) -> Any:
    ins, outs = kw.get("inputs", ["orders"]), kw.get("outputs", ["orders_daily"])
    return run_event(job, run_id=run, time=time, inputs=ins, outputs=outs, namespace=namespace)


async def upstream_of(client: httpx.AsyncClient, task_id: int) -> list[int]:
    r = await client.get(f"/internal/tasks/{task_id}/dependencies", params={"direction": "upstream"})
    assert r.status_code == 200, r.text
    return [t["task_id"] for t in r.json()["tasks"]]


async def unmapped(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    r = await client.get("/internal/openlineage/unmapped-jobs")
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def run_events(status: str) -> float:
    return REGISTRY.get_sample_value("lineage_openlineage_run_events_total", {"status": status}) or 0.0


async def test_an_unmapped_job_is_parked_then_mapped_and_its_lineage_applied(
    client: httpx.AsyncClient, producer: AIOKafkaProducer, settings: Settings
) -> None:
    before = {s: run_events(s) for s in ("applied", "unmapped", "duplicate")}
    # task 2 reads what the job writes; the job is nobody's yet
    await send(client, {"type": "task.tables.set", "task_id": 2, "reads": ["pg/orders_daily"]}, "applied")
    first = await send(client, event("load_orders", "r1", time="2026-12-07T10:00:00Z", outputs=["old"]), "unmapped")
    assert first["job_namespace"] == "spark"
    assert "not mapped" in first["reason"]
    again = await send(client, event("load_orders", "r1", time="2026-12-07T10:00:00Z", outputs=["old"]), "duplicate")
    assert again["event_id"] == first["event_id"]
    await send(client, event("load_orders", "r2", time="2026-12-07T11:00:00Z"), "unmapped")
    # an older run arriving late counts as seen but does not replace the newer datasets
    await send(client, event("load_orders", "r0", time="2026-12-07T09:00:00Z", outputs=["older"]), "unmapped")
    [parked] = await unmapped(client)
    assert (parked["namespace"], parked["name"], parked["seen_count"]) == ("spark", "load_orders", 3)
    assert (parked["reads"], parked["writes"]) == (["pg/orders"], ["pg/orders_daily"])
    assert await upstream_of(client, 2) == []
    assert {s: run_events(s) - n for s, n in before.items()} == {"applied": 0, "unmapped": 3, "duplicate": 1}

    await identity(producer, settings, 1, ("spark", "load_orders"), revision=10)
    await until_jobs(client, (1, 2), [(1, "spark", "load_orders")])
    assert await upstream_of(client, 2) == [1]  # applied with the identity, in the same transaction
    assert await unmapped(client) == []

    # from now on the job's runs apply at once; a later run replaces the task's tables
    out = await send(client, event("load_orders", "r3", time="2026-12-07T12:00:00Z", outputs=["elsewhere"]), "applied")
    assert out["task_id"] == 1
    assert await upstream_of(client, 2) == []
    assert await task_jobs(client, 1, 2) == [(1, "spark", "load_orders")]


async def test_identities_follow_definition_and_the_later_owner_of_a_job_keeps_it(
    client: httpx.AsyncClient, producer: AIOKafkaProducer, settings: Settings
) -> None:
    await identity(producer, settings, 1, ("spark", "a"), revision=1)
    await until_jobs(client, (1, 2), [(1, "spark", "a")])
    # task 1 moved to b (revision 2), then task 2 took a (revision 3); task 2's event comes first (another partition)
    await identity(producer, settings, 2, ("spark", "a"), revision=3)
    await until_jobs(client, (1, 2), [(2, "spark", "a")])
    await identity(producer, settings, 1, ("spark", "b"), revision=2)
    await until_jobs(client, (1, 2), [(1, "spark", "b"), (2, "spark", "a")])
    # an older state of task 2 delivered late (it held c before a) does not take a from it
    await identity(producer, settings, 2, ("spark", "c"), revision=2)
    await identity(producer, settings, 3, ("spark", "d"), revision=4)  # a marker: everything before it is handled
    await until_jobs(client, (1, 2, 3), [(1, "spark", "b"), (2, "spark", "a"), (3, "spark", "d")])
    # a removed task loses its identity; a cleared one too
    await send(client, {"type": "task.removed", "task_id": 2}, "applied")
    await identity(producer, settings, 1, None, revision=5)
    await until_jobs(client, (1, 2, 3), [(3, "spark", "d")])
    # the identities are definition's: this service has no route that writes them
    r = await client.put("/internal/tasks/3/openlineage-job", json={"namespace": "spark", "name": "e"})
    assert r.status_code in (404, 405), r.text


async def test_pattern_rules_are_validated_ordered_and_apply_the_parked_jobs_they_map(
    client: httpx.AsyncClient,
) -> None:
    await send(client, event("etl_42", "p1"), "unmapped")
    await send(client, event("etl_x", "p2"), "unmapped")
    await send(client, event("other_7", "p3", namespace="flink"), "unmapped")

    for bad, where in [("etl_(\\d+)", "task_id"), ("etl_(", "invalid regex")]:
        r = await client.post("/internal/openlineage/patterns", json={"name_regex": bad})
        assert r.status_code == 422, r.text
        assert r.json()["detail"].startswith("name_regex"), r.json()
        assert where in r.json()["detail"]

    r = await client.post(
        "/internal/openlineage/patterns", json={"name_regex": r"etl_(?P<task_id>\d+)", "namespace": "spark"}
    )
    assert r.status_code == 201, r.text
    first = r.json()
    assert [(a["name"], a["task_id"]) for a in first["applied"]] == [("etl_42", 42)]
    r = await client.post(
        "/internal/openlineage/patterns", json={"name_regex": r"etl_(?P<task_id>\d+)", "namespace": "spark"}
    )
    assert r.status_code == 409, r.text

    # a rule put first; a rule for any namespace maps the flink job
    r = await client.post(
        "/internal/openlineage/patterns", json={"name_regex": r"other_(?P<task_id>\d+)", "position": 1}
    )
    assert r.status_code == 201, r.text
    second = r.json()
    assert [(a["namespace"], a["task_id"]) for a in second["applied"]] == [("flink", 7)]
    r = await client.get("/internal/openlineage/patterns")
    assert [(p["id"], p["position"]) for p in r.json()["items"]] == [(second["id"], 1), (first["id"], 2)]
    assert [j["name"] for j in await unmapped(client)] == ["etl_x"]

    r = await client.put(f"/internal/openlineage/patterns/{first['id']}", json={"name_regex": r"etl_(?P<task_id>\w+)"})
    assert r.status_code == 200, r.text
    assert r.json()["applied"] == []  # 'x' is no task id: the job stays parked
    assert [j["name"] for j in await unmapped(client)] == ["etl_x"]
    r = await client.delete(f"/internal/openlineage/patterns/{first['id']}")
    assert r.status_code == 204, r.text
    r = await client.delete(f"/internal/openlineage/patterns/{first['id']}")
    assert r.status_code == 404, r.text
    r = await client.put("/internal/openlineage/patterns/999999", json={"name_regex": r"(?P<task_id>\d+)"})
    assert r.status_code == 404, r.text


async def test_stored_rules_come_before_the_configured_seed_rules(
    client: httpx.AsyncClient, producer: AIOKafkaProducer, settings: Settings
) -> None:
    # the seed (conftest.OPENLINEAGE): airflow/dag.load_orders -> 11, airflow task_<n> -> n
    out = await send(client, event("dag.load_orders", "s1", namespace="airflow"), "applied")
    assert out["task_id"] == 11
    out = await send(client, event("task_5", "s2", namespace="airflow"), "applied")
    assert out["task_id"] == 5
    await identity(producer, settings, 12, ("airflow", "dag.load_orders"), revision=1)
    await until_jobs(client, (12,), [(12, "airflow", "dag.load_orders")])
    out = await send(client, event("dag.load_orders", "s3", namespace="airflow"), "applied")
    assert out["task_id"] == 12
    out = await send(
        client, event("dag.load_orders", "s4", namespace="airflow", outputs=[]) | {"inputs": []}, "ignored"
    )
    assert "no input or output" in out["reason"]


async def test_bad_bodies_are_422_and_change_nothing(client: httpx.AsyncClient) -> None:
    for body in [
        {"hello": "world"},
        {"type": "task.tables.set", "task_id": 1},
        {"run": {"runId": "x"}, "job": {"namespace": "a", "name": "b"}},
    ]:
        r = await client.post("/internal/lineage/events", json=body)
        assert r.status_code == 422, r.text
    assert await unmapped(client) == []
