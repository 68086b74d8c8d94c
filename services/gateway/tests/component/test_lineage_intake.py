"""``POST /api/v1/lineage`` as the OpenLineage HTTP transport calls it (JSON or gzip, a bearer API key with the
``lineage`` scope), its refusals (4xx problem JSON naming the field, nothing forwarded), and the scope's limits; the
OpenLineage job mapping routes' checks at the edge."""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx
import pytest

from .conftest import bearer, new_key
from .fakes import FakeServices


def run_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventType": "COMPLETE",
        "eventTime": "2026-12-07T10:00:00.000Z",
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": "0192f6a4-0000-7000-8000-000000000001", "facets": {"parent": {"job": {"name": "x"}}}},
        "job": {"namespace": "airflow", "name": "dag.load_orders", "facets": {}},
        "inputs": [{"namespace": "postgres://db:5432", "name": "public.orders", "facets": {}}],
        "outputs": [{"namespace": "postgres://db:5432", "name": "public.orders_daily", "facets": {}}],
    }
    event.update(overrides)
    return event


@pytest.fixture
async def lineage_key(client: httpx.AsyncClient) -> dict[str, str]:
    return bearer(await new_key(client, "spark-integration", "lineage"))


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    return body


async def test_a_run_event_is_forwarded_as_sent_with_the_callers_identity(
    client: httpx.AsyncClient, fakes: FakeServices, lineage_key: dict[str, str]
) -> None:
    event = run_event()
    r = await client.post("/api/v1/lineage", json=event, headers=lineage_key)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "unmapped"
    assert r.json()["job_name"] == "dag.load_orders"
    assert fakes.lineage_events == [event]  # facets and all: the lineage-resolver is the judge
    [seen] = fakes.calls("lineage", "/internal/lineage/events")
    assert (seen.actor, seen.roles) == ("spark-integration", ("lineage",))


async def test_a_gzip_body_is_decompressed(
    client: httpx.AsyncClient, fakes: FakeServices, lineage_key: dict[str, str]
) -> None:
    event = run_event()
    body = gzip.compress(json.dumps(event).encode())
    headers = {**lineage_key, "Content-Type": "application/json", "Content-Encoding": "gzip"}
    r = await client.post("/api/v1/lineage", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert fakes.lineage_events == [event]


async def test_a_native_command_is_forwarded(
    client: httpx.AsyncClient, fakes: FakeServices, lineage_key: dict[str, str]
) -> None:
    command = {"type": "task.tables.set", "task_id": 7, "reads": ["pg/a"], "writes": ["pg/b"]}
    r = await client.post("/api/v1/lineage", json=command, headers=lineage_key)
    assert r.status_code == 200, r.text
    assert (r.json()["kind"], r.json()["status"]) == ("native", "applied")
    assert fakes.lineage_events == [command]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (run_event(run={}), "run.runId"),
        (run_event(run={"runId": ""}), "run.runId"),
        (run_event(eventTime="yesterday"), "eventTime"),
        (run_event(job={"namespace": "airflow"}), "job.name"),
        (run_event(inputs=[{"namespace": "pg"}]), "inputs.0.name"),
        (run_event(outputs="pg.b"), "outputs"),
        ({k: v for k, v in run_event().items() if k != "eventTime"}, "eventTime"),
        ({"type": "task.tables.set", "task_id": 0, "reads": []}, "task_id"),
        ({"type": "task.tables.set", "task_id": 3}, "reads and/or writes"),
        ({"type": "table.lineage.added", "edges": []}, "edges"),
        ({"type": "table.lineage.added", "edges": [{"source": "a"}]}, "edges.0.target"),
        ({"hello": "world"}, "type"),
        ([run_event()], "body"),
    ],
)
async def test_bad_events_are_422_naming_the_field_and_never_forwarded(
    client: httpx.AsyncClient, fakes: FakeServices, lineage_key: dict[str, str], body: Any, field: str
) -> None:
    r = await client.post("/api/v1/lineage", json=body, headers=lineage_key)
    p = problem(r, 422)
    assert field in p["detail"], p
    assert fakes.calls("lineage") == []


async def test_bodies_that_are_not_json_or_not_gzip_are_refused(
    client: httpx.AsyncClient, fakes: FakeServices, lineage_key: dict[str, str]
) -> None:
    r = await client.post("/api/v1/lineage", content=b"{not json", headers=lineage_key)
    assert "body: not valid JSON" in problem(r, 422)["detail"]
    gz = {**lineage_key, "Content-Encoding": "gzip"}
    r = await client.post("/api/v1/lineage", content=b"plain, not gzip", headers=gz)
    assert "not valid gzip" in problem(r, 422)["detail"]
    r = await client.post("/api/v1/lineage", content=gzip.compress(b'{"run": 1')[:-6], headers=gz)
    assert problem(r, 422)["detail"].startswith("body:")
    nul = gzip.compress(json.dumps(run_event(producer="a\u0000b")).encode())
    r = await client.post("/api/v1/lineage", content=nul, headers=gz)
    assert "NUL" in problem(r, 422)["detail"]
    r = await client.post("/api/v1/lineage", content=b"{}", headers={**lineage_key, "Content-Encoding": "br"})
    assert "'br'" in problem(r, 415)["detail"]
    # small enough for any size limit, too deep for the JSON parser's recursion (a 500 before)
    r = await client.post("/api/v1/lineage", content=b"[" * 100_000, headers=lineage_key)
    assert "nested too deeply" in problem(r, 422)["detail"]
    assert fakes.calls("lineage") == []


async def test_a_gzip_body_is_bounded_once_decompressed(start: Any, fakes: FakeServices) -> None:
    client = await start(max_body_bytes=4096)
    key = bearer(await new_key(client, "spark", "lineage"))
    bomb = gzip.compress(json.dumps(run_event(producer="x" * 100_000)).encode())
    assert len(bomb) < 4096
    r = await client.post("/api/v1/lineage", content=bomb, headers={**key, "Content-Encoding": "gzip"})
    problem(r, 413)
    assert fakes.calls("lineage") == []


async def test_dataset_and_job_events_are_ignored_without_a_call(
    client: httpx.AsyncClient, fakes: FakeServices, lineage_key: dict[str, str]
) -> None:
    job_event = {"eventTime": "2026-12-07T10:00:00Z", "job": {"namespace": "a", "name": "b"}, "inputs": []}
    r = await client.post("/api/v1/lineage", json=job_event, headers=lineage_key)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ignored"
    assert fakes.calls("lineage") == []


async def test_the_lineage_scope_allows_nothing_else_and_other_roles_cannot_send_lineage(
    client: httpx.AsyncClient, fakes: FakeServices, lineage_key: dict[str, str]
) -> None:
    for method, path in [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/tasks"),
        ("GET", "/api/v1/openlineage/unmapped-jobs"),
        ("PUT", "/api/v1/tasks/1/openlineage-job"),
        ("GET", "/api/v1/api-keys"),
    ]:
        r = await client.request(method, path, headers=lineage_key, json={"namespace": "a", "name": "b"})
        p = problem(r, 403)
        assert p["type"] == "/problems/forbidden", (method, path, p)
        assert "spark-integration" in p["detail"], (method, path, p)
    for role in ("viewer", "editor", "publisher"):
        key = bearer(await new_key(client, f"person-{role}", role))
        r = await client.post("/api/v1/lineage", json=run_event(), headers=key)
        assert "'lineage'" in problem(r, 403)["detail"]
    assert fakes.seen == []
    r = await client.post("/api/v1/lineage", json=run_event(), headers={"Authorization": "Bearer nope"})
    problem(r, 401)


async def test_job_identity_and_pattern_bodies_are_checked_at_the_edge(
    client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    task = fakes.add_task("load_orders")["id"]
    r = await client.put(f"/api/v1/tasks/{task}/openlineage-job", json={"namespace": "airflow", "name": ""})
    assert "name" in problem(r, 422)["detail"]
    r = await client.put(f"/api/v1/tasks/{task}/openlineage-job", json={"namespace": "airflow", "name": "x", "y": 1})
    assert "y" in problem(r, 422)["detail"]
    r = await client.put("/api/v1/tasks/999/openlineage-job", json={"namespace": "airflow", "name": "x"})
    problem(r, 404)
    r = await client.get(f"/api/v1/tasks/{task}/openlineage-job")
    problem(r, 404)
    # the identity is the task's: definition records it, the lineage service is not called
    r = await client.put(f"/api/v1/tasks/{task}/openlineage-job", json={"namespace": " airflow ", "name": "x"})
    assert r.status_code == 200, r.text
    assert r.json() == {"task_id": task, "namespace": "airflow", "name": "x", "task_revision": 2}
    assert fakes.calls("lineage") == []
    r = await client.get(f"/api/v1/tasks/{task}/openlineage-job")
    assert (r.status_code, r.json()["namespace"]) == (200, "airflow")
    assert (await client.get(f"/api/v1/tasks/{task}")).json()["openlineage_job"] == {
        "namespace": "airflow",
        "name": "x",
    }
    other = fakes.add_task("other")["id"]
    r = await client.put(f"/api/v1/tasks/{other}/openlineage-job", json={"namespace": "airflow", "name": "x"})
    assert problem(r, 409)["task_id"] == task
    r = await client.post(
        "/api/v1/tasks",
        json={"name": "t", "task_type": "SHELL", "params": {"script": "x"}, "openlineage_job": {"namespace": "a"}},
    )
    assert "openlineage_job.name" in problem(r, 422)["detail"]
    r = await client.post("/api/v1/openlineage/patterns", json={"name_regex": "etl_(\\d+)"})
    assert "name_regex" in problem(r, 422)["detail"]
    assert "task_id" in r.json()["detail"]
    r = await client.post("/api/v1/openlineage/patterns", json={"name_regex": "etl_(?P<task_id>"})
    assert "not a valid regular expression" in problem(r, 422)["detail"]
    r = await client.post("/api/v1/openlineage/patterns", json={"name_regex": "etl_(?P<task_id>\\d+)", "position": 0})
    assert "position" in problem(r, 422)["detail"]
    assert fakes.calls("lineage", "/internal/openlineage/patterns") == []
