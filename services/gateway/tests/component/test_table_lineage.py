"""Lineage for people (issue 21 item 3): table search, a table's lineage and its impact with the tasks named and
grouped by workflow, and a DAG's drawn edges checked against lineage — lineage-resolver and definition faked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from gateway.responses import DagLineageCheck, TableImpact, TableLineage

from .conftest import bearer, new_key
from .fakes import FakeServices

Start = Callable[..., Awaitable[httpx.AsyncClient]]


def seed(f: FakeServices) -> dict[str, int]:
    """extract (daily) writes db/a; load (daily) reads db/a, writes db/b; report (weekly) reads db/b."""
    extract = f.add_task("extract")["id"]
    load = f.add_task("load")["id"]
    report = f.add_task("report")["id"]
    daily = f.add_workflow("daily", task_ids=[extract, load])["id"]
    weekly = f.add_workflow("weekly", task_ids=[report])["id"]
    gone = 999  # lineage still knows a task the definition service does not
    f.table_answers[("lineage", "db/b")] = {
        "tables": [
            {"table": "db/a", "upstream_distance": 1, "downstream_distance": None},
            {"table": "db/b", "upstream_distance": 0, "downstream_distance": 0},
        ],
        "tasks": [
            {
                "task_id": load,
                "upstream_distance": 1,
                "downstream_distance": None,
                "reads": ["db/a"],
                "writes": ["db/b"],
            },
            {"task_id": report, "upstream_distance": None, "downstream_distance": 1, "reads": ["db/b"], "writes": []},
            {"task_id": gone, "upstream_distance": None, "downstream_distance": 1, "reads": ["db/b"], "writes": []},
        ],
        "table_edges": [],
        "truncated": False,
    }

    def step(kind: str, ref: str | int) -> dict[str, str | int]:
        return {"kind": kind, "table": ref} if kind == "table" else {"kind": kind, "task_id": ref}

    f.table_answers[("affected", "db/a")] = {
        "tables": [{"table": "db/b", "distance": 2}],
        "tasks": [
            {"task_id": load, "distance": 1, "path": [step("table", "db/a"), step("task", load)]},
            {
                "task_id": report,
                "distance": 3,
                "path": [step("table", "db/a"), step("task", load), step("table", "db/b"), step("task", report)],
            },
        ],
        "truncated": True,
    }
    return {"extract": extract, "load": load, "report": report, "daily": daily, "weekly": weekly, "gone": gone}


async def test_table_lineage_names_the_tasks_and_their_workflows(
    client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    ids = seed(fakes)
    r = await client.get("/api/v1/lineage/table", params={"name": "db/b", "depth": 3})
    assert r.status_code == 200, r.text
    body = TableLineage.model_validate(r.json())
    assert (body.table, body.depth, body.unavailable) == ("db/b", 3, [])
    by_id = {t.task_id: t for t in body.tasks}
    load = by_id[ids["load"]]
    assert (load.name, load.workflow_id, load.workflow_name, load.workflow_link) == (
        "load",
        ids["daily"],
        "daily",
        f"/workflows/{ids['daily']}",
    )
    assert (load.upstream_distance, load.reads, load.writes) == (1, ["db/a"], ["db/b"])
    unknown = by_id[ids["gone"]]
    assert (unknown.name, unknown.workflow_id, unknown.workflow_link) == (None, None, None)
    assert [(w.workflow_id, w.workflow_name, w.task_ids) for w in body.workflows] == [
        (ids["daily"], "daily", [ids["load"]]),
        (ids["weekly"], "weekly", [ids["report"]]),
    ]
    # the table name reaches lineage-resolver in its path, the depth as asked; the names in one definition call
    [seen] = fakes.calls("lineage", "/internal/tables/db/b/lineage")
    assert seen.query == {"depth": "3"}
    [names] = fakes.calls("definition", "/internal/tasks")
    assert sorted(int(i) for i in names.query["ids"].split(",")) == sorted([ids["load"], ids["report"], ids["gone"]])


async def test_impact_lists_each_task_and_workflow_once_nearest_first(
    client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    ids = seed(fakes)
    r = await client.get("/api/v1/lineage/impact", params={"name": "db/a"})
    assert r.status_code == 200, r.text
    body = TableImpact.model_validate(r.json())
    assert body.truncated is True
    assert [(t.task_id, t.name, t.distance) for t in body.tasks] == [
        (ids["load"], "load", 1),
        (ids["report"], "report", 3),
    ]
    assert [s.table or s.task_id for s in body.tasks[1].path] == ["db/a", ids["load"], "db/b", ids["report"]]
    assert [(w.workflow_id, w.distance, w.task_ids) for w in body.workflows] == [
        (ids["daily"], 1, [ids["load"]]),
        (ids["weekly"], 3, [ids["report"]]),
    ]
    assert fakes.calls("lineage", "/internal/tables/db/a/affected")[0].query == {"depth": "10"}


async def test_lineage_answers_without_names_when_the_definition_service_is_down(
    start: Start, fakes: FakeServices
) -> None:
    ids = seed(fakes)
    client = await start(down=("definition",))
    r = await client.get("/api/v1/lineage/impact", params={"name": "db/a"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unavailable"] == ["tasks"]
    assert [(t["task_id"], t["name"], t["workflow_id"]) for t in body["tasks"]] == [
        (ids["load"], None, None),
        (ids["report"], None, None),
    ]
    assert body["workflows"] == []


async def test_unknown_table_bad_depth_and_lineage_down_are_problems(start: Start, fakes: FakeServices) -> None:
    seed(fakes)
    client = await start()
    r = await client.get("/api/v1/lineage/table", params={"name": "db/nope"})
    assert r.status_code == 404, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "/problems/unknown-table"
    for url, params in (
        ("/api/v1/lineage/table", {"name": "db/b", "depth": 6}),
        ("/api/v1/lineage/table", {"name": "db/b", "depth": 0}),
        ("/api/v1/lineage/table", {}),
        ("/api/v1/lineage/table", {"name": ""}),
        ("/api/v1/lineage/impact", {"name": "db/a", "depth": 21}),
        ("/api/v1/lineage/tables", {"limit": 0}),
        ("/api/v1/lineage/dag-check", {"task_ids": "1,x"}),
        ("/api/v1/lineage/dag-check", {"task_ids": "1", "edges": "1>2"}),
        ("/api/v1/lineage/dag-check", {"task_ids": "1", "edges": "2-2"}),
        ("/api/v1/lineage/dag-check", {"task_ids": ",".join(str(i) for i in range(1, 502))}),
        ("/api/v1/lineage/dag-check", {"task_ids": ""}),
    ):
        r = await client.get(url, params=params)
        assert r.status_code == 422, (url, params, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    assert [c.path for c in fakes.calls("lineage")] == ["/internal/tables/db/nope/lineage"]  # nothing else asked
    down = await start(down=("lineage",))
    r = await down.get("/api/v1/lineage/table", params={"name": "db/b"})
    assert r.status_code == 503, r.text
    assert "lineage" in r.json()["detail"]


async def test_search_and_a_viewer_key(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    seed(fakes)
    key = await new_key(client, "vera", "viewer")
    r = await client.get("/api/v1/lineage/tables", params={"q": "B/"}, headers=bearer(key))
    assert r.status_code == 200, r.text
    assert r.json() == {"items": [{"table": "db/b", "readers": 1, "writers": 1}]}
    r = await client.get("/api/v1/lineage/tables", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401


async def test_dag_check_suggests_flags_and_confirms(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    # lineage: 1 -> 2 (db/a), 2 -> 3 (db/b), 1 -> 4 (db/a); 5 known but unrelated; 6 unknown
    fakes.table_answers["links"] = {
        "direct": [
            {"upstream_task_id": 1, "downstream_task_id": 2, "tables": ["db/a"]},
            {"upstream_task_id": 1, "downstream_task_id": 4, "tables": ["db/a"]},
            {"upstream_task_id": 2, "downstream_task_id": 3, "tables": ["db/b"]},
        ],
        "reachable": [[1, 2], [1, 3], [1, 4], [2, 3]],
        "known": [1, 2, 3, 4, 5],
        "truncated": False,
    }
    # drawn: 1 -> 3 (backed through 2), 3 -> 2 (reverse), 4 -> 5 (no data link), 5 -> 6 (6 unknown)
    r = await client.get("/api/v1/lineage/dag-check", params={"task_ids": "1,2,3,4,5,6", "edges": "1-3,3-2,4-5,5-6"})
    assert r.status_code == 200, r.text
    body = DagLineageCheck.model_validate(r.json())
    # 1 -> 2 is implied by the drawn 1 -> 3 -> 2: not suggested
    assert [(s.upstream_task_id, s.downstream_task_id, s.tables, s.closes_cycle) for s in body.suggested] == [
        (1, 4, ["db/a"], False),
        (2, 3, ["db/b"], True),  # 3 -> 2 is drawn: flagged below, accepting this first would close a cycle
    ]
    assert [(f.upstream_task_id, f.downstream_task_id, f.reason, f.tables) for f in body.flagged] == [
        (3, 2, "reverse", ["db/b"]),
        (4, 5, "no_data_link", []),
    ]
    assert body.confirmed == [(1, 3)]
    assert body.unknown_task_ids == [6]
    [seen] = fakes.calls("lineage", "/internal/task-links")
    assert seen.query["task_ids"] == "1,2,3,4,5,6"
    # an edge implied by drawn ones is not suggested again; nothing is said of "no data link" when truncated
    fakes.table_answers["links"] = {**fakes.table_answers["links"], "truncated": True}
    r = await client.get("/api/v1/lineage/dag-check", params={"task_ids": "1,2,3,4,5", "edges": "1-2,2-3,4-5"})
    body = DagLineageCheck.model_validate(r.json())
    assert [(s.upstream_task_id, s.downstream_task_id) for s in body.suggested] == [(1, 4)]
    assert body.flagged == []
    assert body.truncated is True


async def test_a_table_name_reaches_lineage_as_it_is(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    """Slashes, dots (never resolved as ``..`` segments), ``?``, ``#``, ``%`` and spaces: the name arrives whole."""
    for name in ("a/../b", "..", ".", "db/x?y#z %41 ", "/lead/trail/"):
        r = await client.get("/api/v1/lineage/table", params={"name": name})
        assert r.status_code == 404, (name, r.text)
        assert r.json()["table"] == name
        r = await client.get("/api/v1/lineage/impact", params={"name": name})
        assert r.json()["table"] == name
    fakes.table_answers[("lineage", "a/../b")] = {"tables": [], "tasks": [], "table_edges": [], "truncated": False}
    r = await client.get("/api/v1/lineage/table", params={"name": "a/../b"})
    assert (r.status_code, r.json()["table"]) == (200, "a/../b")
