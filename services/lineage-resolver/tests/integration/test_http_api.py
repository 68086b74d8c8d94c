"""The internal HTTP API, with lineage staged through ``POST /internal/lineage`` (same use case as Kafka)."""

from __future__ import annotations

from typing import Any

import httpx

from common.events import TaskDependencyChanged, Topics, registry
from common.testing.kafka_helpers import read_topic
from common.testing.service import running
from lineage_resolver.config import Settings
from lineage_resolver.main import create_app


async def post(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await client.post("/internal/lineage", json=body)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def get(client: httpx.AsyncClient, url: str, **params: Any) -> Any:
    r = await client.get(url, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def test_cycle_is_reported_with_its_tables_in_the_response_and_the_events(
    settings: Settings, kafka_bootstrap: str
) -> None:
    async with running(create_app(settings, telemetry=False)) as client:
        first = await post(client, task_id=1, read_tables=["db/c"], write_tables=["db/a"])
        assert first["applied"] is True
        assert first["changes"] == []
        assert first["cycles"] == []
        await post(client, task_id=2, read_tables=["db/a"], write_tables=["db/b"])
        closing = await post(client, task_id=3, read_tables=["db/b"], write_tables=["db/c"])
        records = await read_topic(kafka_bootstrap, settings.topic(Topics.TASK_DEPENDENCY_CHANGED), expect=5)

    assert [(c["tasks"], c["tables"]) for c in closing["cycles"]] == [([1, 2, 3, 1], ["db/a", "db/b", "db/c"])]
    assert "db/a" in closing["cycles"][0]["description"]
    assert len(records) == 5
    events = [registry.decode(r.value)[1] for r in records]
    assert all(isinstance(e, TaskDependencyChanged) for e in events)
    closing_events = [
        e for e in events if isinstance(e, TaskDependencyChanged) and e.cause_event_id == closing["event_id"]
    ]
    assert sorted(e.task_id for e in closing_events) == [1, 2, 3]
    for event in closing_events:
        assert event.cycle is not None
        assert event.cycle.task_path == (1, 2, 3, 1)
        assert event.cycle.tables == ("db/a", "db/b", "db/c")
    first_events = [e for e in events if isinstance(e, TaskDependencyChanged) and e not in closing_events]
    assert all(e.cycle is None for e in first_events)


async def test_query_endpoints(settings: Settings) -> None:
    settings = settings.model_copy(update={"topic_partitions": 1})
    async with running(create_app(settings, telemetry=False, consume=False)) as client:
        # 1 -> 2 -> 3, and 1 -> 4 (through db/a); db/raw -> db/a is external lineage
        await post(
            client,
            task_id=1,
            write_tables=["db/a"],
            table_edges_added=[{"source_table": "db/raw", "target_table": "db/a"}],
        )
        await post(client, task_id=2, read_tables=["db/a"], write_tables=["db/b"])
        await post(client, task_id=3, read_tables=["db/b"])
        await post(client, task_id=4, read_tables=["db/a"])

        deps = await get(client, "/internal/tasks/1/dependencies", direction="downstream")
        assert deps == {
            "task_id": 1,
            "direction": "downstream",
            "depth": 1,
            "tasks": [{"task_id": 2, "distance": 1}, {"task_id": 4, "distance": 1}],
        }
        deps = await get(client, "/internal/tasks/3/dependencies", direction="upstream", depth=5)
        assert deps["tasks"] == [{"task_id": 2, "distance": 1}, {"task_id": 1, "distance": 2}]
        assert (await get(client, "/internal/tasks/99/dependencies"))["tasks"] == []

        view = await get(client, "/internal/dependency-view", task_ids="2,99")
        assert [
            (i["task_id"], i["upstream_task_ids"], i["downstream_task_ids"], i["upstream_count"], i["downstream_count"])
            for i in view["items"]
        ] == [(2, [1], [3], 1, 1), (99, [], [], 0, 0)]
        assert view["items"][0]["updated_at"] is not None
        assert view["items"][1]["updated_at"] is None
        repeated = await client.get("/internal/dependency-view?task_ids=4&task_ids=1")
        assert [i["task_id"] for i in repeated.json()["items"]] == [4, 1]

        tables = await get(client, "/internal/task-tables", task_ids="2,1,99")
        assert tables["items"] == [
            {"task_id": 2, "reads": ["db/a"], "writes": ["db/b"]},
            {"task_id": 1, "reads": [], "writes": ["db/a"]},
            {"task_id": 99, "reads": [], "writes": []},
        ]
        assert (await client.get("/internal/task-tables", params={"task_ids": "x"})).status_code == 422

        page = await get(client, "/internal/dependency-view/filter", upstream_task_id=1, limit=1)
        assert page == {"task_ids": [2], "next_after": 2}
        page = await get(client, "/internal/dependency-view/filter", upstream_task_id=1, limit=1, after=2)
        assert page == {"task_ids": [4], "next_after": 4}
        page = await get(client, "/internal/dependency-view/filter", upstream_task_id=1, limit=1, after=4)
        assert page == {"task_ids": [], "next_after": None}
        assert (await get(client, "/internal/dependency-view/filter", downstream_task_id=3))["task_ids"] == [2]
        both = await get(client, "/internal/dependency-view/filter", upstream_task_id=1, downstream_task_id=3)
        assert both["task_ids"] == [2]

        impact = await get(client, "/internal/tables/db/raw/impact", depth=3)
        assert impact["tables"] == [{"table": "db/a", "distance": 1}, {"table": "db/b", "distance": 3}]
        assert impact["tasks"] == [{"task_id": 2, "distance": 2}, {"task_id": 4, "distance": 2}]
        shallow = await get(client, "/internal/tables/db/raw/impact", depth=1)
        assert shallow["tasks"] == []

        rebuild = (await client.post("/internal/rebuild", params={"dry_run": "false"})).json()
        assert rebuild["clean"] is True
        assert rebuild["dry_run"] is False
        assert rebuild["rows_written"] == 0


async def test_errors_are_problem_json(settings: Settings) -> None:
    async with running(create_app(settings, telemetry=False, consume=False)) as client:
        r = await client.get("/internal/tasks/1/dependencies", params={"depth": 21})
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"] == "/problems/validation-failed"

        r = await client.get("/internal/dependency-view/filter")
        assert r.status_code == 422
        assert "upstream_task_id" in r.json()["detail"]

        r = await client.get("/internal/dependency-view", params={"task_ids": "1,x"})
        assert r.status_code == 422
        assert "'x'" in r.json()["detail"]

        r = await client.post("/internal/lineage", json={"task_removed": True})
        assert r.status_code == 422
        assert r.json()["type"] == "/problems/invalid-lineage-message"

        r = await client.post("/internal/lineage", json={"task_id": 1, "read_tables": ["  "]})
        assert r.status_code == 422
        assert r.json()["type"] == "/problems/invalid-lineage-message"


async def _chain(client: httpx.AsyncClient) -> None:
    """db/raw -(edge)-> db/a; 1 writes db/a; 2 reads db/a, writes db/b; 3 reads db/b, writes db/c; 4 reads db/a;
    5 reads db/c."""
    await post(
        client, task_id=1, write_tables=["db/a"], table_edges_added=[{"source_table": "db/raw", "target_table": "db/a"}]
    )
    await post(client, task_id=2, read_tables=["db/a"], write_tables=["db/b"])
    await post(client, task_id=3, read_tables=["db/b"], write_tables=["db/c"])
    await post(client, task_id=4, read_tables=["db/a"])
    await post(client, task_id=5, read_tables=["db/c"])


async def test_table_search_lineage_affected_and_task_links(settings: Settings) -> None:
    async with running(create_app(settings, telemetry=False, consume=False)) as client:
        await _chain(client)

        found = await get(client, "/internal/tables", q="DB/")
        assert found["items"] == [
            {"table": "db/a", "readers": 2, "writers": 1},
            {"table": "db/b", "readers": 1, "writers": 1},
            {"table": "db/c", "readers": 1, "writers": 1},
            {"table": "db/raw", "readers": 0, "writers": 0},
        ]
        assert [i["table"] for i in (await get(client, "/internal/tables", q="b/", limit=2))["items"]] == [
            "db/a",
            "db/b",
        ]
        assert (await get(client, "/internal/tables", q="%"))["items"] == []  # a LIKE wildcard is a character

        one = await get(client, "/internal/tables/db/b/lineage", depth=1)
        assert one["table"] == "db/b"
        assert one["truncated"] is False
        assert [(t["table"], t["upstream_distance"], t["downstream_distance"]) for t in one["tables"]] == [
            ("db/a", 1, None),
            ("db/b", 0, 0),
            ("db/c", None, 1),
        ]
        assert one["tasks"] == [
            {"task_id": 2, "upstream_distance": 1, "downstream_distance": None, "reads": ["db/a"], "writes": ["db/b"]},
            {"task_id": 3, "upstream_distance": None, "downstream_distance": 1, "reads": ["db/b"], "writes": ["db/c"]},
        ]
        assert one["table_edges"] == []
        two = await get(client, "/internal/tables/db/b/lineage", depth=2)
        assert [(t["table"], t["upstream_distance"], t["downstream_distance"]) for t in two["tables"]] == [
            ("db/a", 1, None),
            ("db/b", 0, 0),
            ("db/c", None, 1),
            ("db/raw", 2, None),
        ]
        assert [(t["task_id"], t["upstream_distance"], t["downstream_distance"]) for t in two["tasks"]] == [
            (1, 2, None),
            (2, 1, None),
            (3, None, 1),
            (5, None, 2),
        ]
        assert two["table_edges"] == [{"source_table": "db/raw", "target_table": "db/a"}]

        affected = await get(client, "/internal/tables/db/a/affected")
        assert affected["tables"] == [{"table": "db/b", "distance": 2}, {"table": "db/c", "distance": 4}]
        assert [(t["task_id"], t["distance"]) for t in affected["tasks"]] == [(2, 1), (4, 1), (3, 3), (5, 5)]
        paths = {t["task_id"]: [s.get("table") or s.get("task_id") for s in t["path"]] for t in affected["tasks"]}
        assert paths[5] == ["db/a", 2, "db/b", 3, "db/c", 5]
        assert paths[4] == ["db/a", 4]
        via_edge = await get(client, "/internal/tables/db/raw/affected", depth=2)
        assert [[s.get("table") or s.get("task_id") for s in t["path"]] for t in via_edge["tasks"]] == [
            ["db/raw", "db/a", 2],
            ["db/raw", "db/a", 4],
        ]

        links = await get(client, "/internal/task-links", task_ids="5,4,3,1")
        assert links["direct"] == [
            {"upstream_task_id": 1, "downstream_task_id": 4, "tables": ["db/a"]},
            {"upstream_task_id": 3, "downstream_task_id": 5, "tables": ["db/c"]},
        ]
        assert links["reachable"] == [[1, 3], [1, 4], [1, 5], [3, 5]]
        assert links["known"] == [1, 3, 4, 5]
        assert links["truncated"] is False
        shallow = await get(client, "/internal/task-links", task_ids="1,3,4,5,99", depth=1)
        assert shallow["reachable"] == [[1, 4], [3, 5]]
        assert shallow["known"] == [1, 3, 4, 5]


async def test_table_queries_refuse_unknown_tables_and_bad_bounds(settings: Settings) -> None:
    async with running(create_app(settings, telemetry=False, consume=False)) as client:
        await _chain(client)
        for url in ("/internal/tables/db/nope/lineage", "/internal/tables/db/nope/affected"):
            r = await client.get(url)
            assert r.status_code == 404, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["type"] == "/problems/unknown-table"
            assert r.json()["table"] == "db/nope"
        for url, params in (
            ("/internal/tables/db/a/lineage", {"depth": 6}),
            ("/internal/tables/db/a/lineage", {"depth": 0}),
            ("/internal/tables/db/a/affected", {"depth": 21}),
            ("/internal/task-links", {"task_ids": ",".join(str(i) for i in range(1, 502))}),
            ("/internal/task-links", {"task_ids": "1,x"}),
            ("/internal/tables", {"limit": 101}),
        ):
            r = await client.get(url, params=params)
            assert r.status_code == 422, (url, params, r.text)
            assert r.headers["content-type"] == "application/problem+json"
