"""The task list (ONE definition call: filters, owners, counts) and the task detail (definition + lineage's ids)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from gateway.responses import TaskPage

from .conftest import DS_UI
from .fakes import FakeServices

Start = Callable[..., Awaitable[httpx.AsyncClient]]


def seed(f: FakeServices) -> dict[str, int]:
    a = f.add_task("extract orders")["id"]
    b = f.add_task("load orders", ds_task_code=555)["id"]
    c = f.add_task("report")["id"]
    d = f.add_task("orphan")["id"]
    wf = f.add_workflow("daily", task_ids=[a, b], codes=(77, 123))["id"]
    other = f.add_workflow("weekly", task_ids=[c])["id"]  # never deployed: no codes
    f.deps[a] = ([], [b, c])
    f.deps[b] = ([a], [])
    f.deps[c] = ([a], [])
    return {"a": a, "b": b, "c": c, "d": d, "wf": wf, "other": other}


async def test_list_without_filters(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    ids = seed(fakes)
    r = await client.get("/api/v1/tasks")
    assert r.status_code == 200, r.text
    body = r.json()
    # sent as the service shaped it (``json_page``, not validated on the way): its documented model holds
    TaskPage.model_validate(body)
    assert body["total"] == 4
    assert body["unavailable"] == []
    by_id = {t["id"]: t for t in body["items"]}
    a = by_id[ids["a"]]
    assert (a["workflow_id"], a["workflow_name"]) == (ids["wf"], "daily")
    assert (a["upstream_count"], a["downstream_count"]) == (0, 2)
    assert a["workflow_link"] == f"/workflows/{ids['wf']}"
    assert a["ds_link"] == f"{DS_UI}/projects/77/workflow/definitions/123"
    assert by_id[ids["b"]]["ds_link"] == f"{DS_UI}/projects/77/task/instances?taskCode=555"  # the task node
    assert by_id[ids["c"]]["ds_link"] is None  # its workflow was never deployed
    orphan = by_id[ids["d"]]
    assert (orphan["workflow_id"], orphan["workflow_name"], orphan["workflow_link"], orphan["ds_link"]) == (
        None,
        None,
        None,
        None,
    )
    assert (orphan["upstream_count"], orphan["downstream_count"]) == (0, 0)
    # the counts come with the definition service's answer: lineage is not asked
    assert fakes.calls("lineage") == []
    # the definition's tasks carry workflow_id/workflow_name: no /task-owners call needed
    assert fakes.calls("definition", "/internal/task-owners") == []
    # one look-up per distinct owning workflow for DS links, none for the orphan
    looked_up = sorted(s.path for s in fakes.calls("definition") if s.path.startswith("/internal/workflows/"))
    assert looked_up == sorted([f"/internal/workflows/{ids['wf']}", f"/internal/workflows/{ids['other']}"])


async def test_owners_come_from_task_owners_when_tasks_lack_them(
    client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    ids = seed(fakes)
    fakes.tasks_without_owner = True
    r = await client.get("/api/v1/tasks", params={"name": "orders"})
    assert r.status_code == 200
    items = r.json()["items"]
    assert [(t["id"], t["workflow_name"]) for t in items] == [(ids["a"], "daily"), (ids["b"], "daily")]
    owners = fakes.calls("definition", "/internal/task-owners")
    assert owners[0].query == {"task_ids": f"{ids['a']},{ids['b']}"}


async def test_filters_forwarded_to_definition(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    ids = seed(fakes)
    r = await client.get("/api/v1/tasks", params={"workflowId": ids["wf"], "name": "load", "page": 1, "page_size": 5})
    assert [t["id"] for t in r.json()["items"]] == [ids["b"]]
    q = fakes.calls("definition", "/internal/tasks")[0].query
    assert q == {"workflow_id": str(ids["wf"]), "name": "load", "page": "1", "page_size": "5"}
    assert fakes.calls("lineage") == []


async def test_upstream_filter_is_one_definition_call(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    ids = seed(fakes)
    r = await client.get("/api/v1/tasks", params={"upstreamTaskId": ids["a"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [t["id"] for t in body["items"]] == sorted([ids["b"], ids["c"]])
    assert body["total"] == 2
    assert body["unavailable"] == []
    assert [(t["upstream_count"], t["downstream_count"]) for t in body["items"]] == [(1, 0), (1, 0)]
    calls = fakes.calls("definition", "/internal/tasks")
    assert [c.query for c in calls] == [{"upstream_task_id": str(ids["a"]), "page": "1", "page_size": "20"}]
    # the DS codes come with the tasks in production; here one owner look-up per owning workflow remains
    assert fakes.calls("lineage") == []
    # combined with a workflow filter and paging: the definition service applies all of them
    r = await client.get(
        "/api/v1/tasks", params={"upstreamTaskId": ids["a"], "workflowId": ids["other"], "page_size": 1}
    )
    assert [t["id"] for t in r.json()["items"]] == [ids["c"]]
    assert fakes.calls("definition", "/internal/tasks")[-1].query == {
        "workflow_id": str(ids["other"]),
        "upstream_task_id": str(ids["a"]),
        "page": "1",
        "page_size": "1",
    }


async def test_downstream_filter(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    ids = seed(fakes)
    r = await client.get("/api/v1/tasks", params={"downstreamTaskId": ids["b"]})
    assert [t["id"] for t in r.json()["items"]] == [ids["a"]]
    r = await client.get("/api/v1/tasks", params={"downstreamTaskId": ids["d"]})
    assert r.status_code == 200
    assert r.json() == {"items": [], "total": 0, "page": 1, "page_size": 20, "unavailable": []}


async def test_lineage_down(start: Start, fakes: FakeServices) -> None:
    ids = seed(fakes)
    client = await start(down=("lineage",))
    # the list needs no lineage-resolver: filters and counts come from the definition service
    r = await client.get("/api/v1/tasks")
    assert r.status_code == 200
    assert r.json()["unavailable"] == []
    r = await client.get("/api/v1/tasks", params={"upstreamTaskId": ids["a"]})
    assert r.status_code == 200
    assert r.json()["total"] == 2
    # the detail's id lists do come from lineage-resolver
    detail = (await client.get(f"/api/v1/tasks/{ids['a']}")).json()
    assert detail["upstream_task_ids"] is None
    assert detail["unavailable"] == ["counts"]


@pytest.mark.parametrize(
    "params",
    [{"workflowId": "x"}, {"upstreamTaskId": "0"}, {"page_size": "500"}, {"downstreamTaskId": "-3"}],
)
async def test_bad_query(client: httpx.AsyncClient, fakes: FakeServices, params: dict[str, str]) -> None:
    assert (await client.get("/api/v1/tasks", params=params)).status_code == 422
    assert fakes.seen == []


async def test_task_detail(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    ids = seed(fakes)
    r = await client.get(f"/api/v1/tasks/{ids['a']}")
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["name"] == "extract orders"
    assert t["workflow_name"] == "daily"
    assert t["downstream_task_ids"] == [ids["b"], ids["c"]]
    assert t["upstream_task_ids"] == []
    assert t["downstream_count"] == 2
    assert t["unavailable"] == []
    r = await client.get("/api/v1/tasks/999")
    assert r.status_code == 404
    assert r.json()["detail"] == "task 999 does not exist"


async def test_the_task_node_link_from_the_definition_services_task_code(
    client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    """The definition service answers a task with its DS code in what DS holds (``ds_task_code``): the list and the
    detail link to that node and pass the code on; a code without a deployed workflow makes no link."""
    ids = seed(fakes)
    fakes.tasks[ids["c"]]["ds_task_code"] = 556  # its workflow "weekly" has no DS codes
    r = await client.get("/api/v1/tasks")
    assert r.status_code == 200, r.text
    by_id = {t["id"]: t for t in r.json()["items"]}
    assert (by_id[ids["b"]]["ds_task_code"], by_id[ids["a"]]["ds_task_code"]) == (555, None)
    assert by_id[ids["b"]]["ds_link"] == f"{DS_UI}/projects/77/task/instances?taskCode=555"
    assert by_id[ids["c"]]["ds_link"] is None
    r = await client.get(f"/api/v1/tasks/{ids['b']}")
    assert r.status_code == 200, r.text
    assert (r.json()["ds_task_code"], r.json()["ds_link"]) == (555, f"{DS_UI}/projects/77/task/instances?taskCode=555")
    r = await client.get(f"/api/v1/tasks/{ids['c']}")
    assert r.status_code == 200, r.text
    assert r.json()["ds_link"] is None


async def test_ds_links_unavailable_when_definition_lookup_fails(start: Start, fakes: FakeServices) -> None:
    ids = seed(fakes)
    client = await start()
    del fakes.workflows[ids["wf"]]  # the owner look-up now fails with 404
    r = await client.get("/api/v1/tasks", params={"workflowId": ids["wf"]})
    assert r.status_code == 200
    assert "ds_links" in r.json()["unavailable"]
    assert all(t["ds_link"] is None for t in r.json()["items"])


async def test_no_ds_links_without_ds_ui_url(start: Start, fakes: FakeServices) -> None:
    seed(fakes)
    client = await start(ds_ui_url="")
    items = (await client.get("/api/v1/tasks")).json()["items"]
    assert all(t["ds_link"] is None for t in items)
    assert [s for s in fakes.calls("definition") if s.path.startswith("/internal/workflows/")] == []


async def test_create_and_update_task(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    body = {"name": "new", "task_type": "SQL", "params": {"sql": "select 1", "datasource_name": "dw"}}
    r = await client.post("/api/v1/tasks", json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["created_by"] == "admin"
    assert fakes.calls("definition", "/internal/tasks")[0].body == body
    upd = {**body, "description": "changed", "expected_revision": 1}
    r = await client.put(f"/api/v1/tasks/{created['id']}", json=upd)
    assert r.status_code == 200
    assert r.json()["revision"] == 2
    r = await client.put(f"/api/v1/tasks/{created['id']}", json=upd)
    assert r.status_code == 409
    assert r.json()["type"] == "/problems/stale-version"
    assert r.json()["current_revision"] == 2


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "task_type": "BASH", "params": {}},
        {"task_type": "SHELL"},
        {"name": "x", "task_type": "SHELL", "params": "echo"},
    ],
    ids=["bad-type", "no-name", "params-not-object"],
)
async def test_create_task_bad_input(client: httpx.AsyncClient, fakes: FakeServices, body: dict[str, object]) -> None:
    assert (await client.post("/api/v1/tasks", json=body)).status_code == 422
    assert fakes.seen == []


async def test_update_task_needs_expected_revision(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    r = await client.put("/api/v1/tasks/1", json={"name": "x", "task_type": "SHELL", "params": {}})
    assert r.status_code == 422
    assert "expected_revision" in r.json()["detail"]


async def test_ds_links_from_codes_on_the_task_need_no_workflow_lookup(
    client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    ids = seed(fakes)
    # the definition service answers each task with its workflow's DS codes (None before a deploy)
    for key, codes in (("a", (77, 123)), ("b", (77, 123)), ("c", (None, None))):
        fakes.tasks[ids[key]] |= {"project_code": codes[0], "workflow_code": codes[1]}
    r = await client.get("/api/v1/tasks")
    assert r.status_code == 200, r.text
    by_id = {t["id"]: t for t in r.json()["items"]}
    assert by_id[ids["a"]]["ds_link"] == f"{DS_UI}/projects/77/workflow/definitions/123"
    assert by_id[ids["b"]]["ds_link"] == f"{DS_UI}/projects/77/task/instances?taskCode=555"  # the task node
    assert by_id[ids["c"]]["ds_link"] is None
    assert [s.path for s in fakes.calls("definition") if s.path.startswith("/internal/workflows/")] == []


async def test_the_openlineage_job_travels_with_the_task_and_an_edit_without_it_keeps_it(
    client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    """The gateway forwards the field only when the caller sent it: a task edit that leaves it out keeps the
    identity, ``null`` clears it; the list and the detail answer it."""
    job = {"namespace": "spark://c", "name": "load_orders"}
    shell = {"name": "load", "task_type": "SHELL", "params": {"script": "echo"}}
    r = await client.post("/api/v1/tasks", json={**shell, "openlineage_job": {"namespace": " spark://c", **job}})
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    assert fakes.calls("definition", "/internal/tasks")[-1].body["openlineage_job"] == job
    r = await client.put(f"/api/v1/tasks/{tid}", json={**shell, "description": "x", "expected_revision": 1})
    assert r.status_code == 200, r.text
    assert "openlineage_job" not in fakes.calls("definition", f"/internal/tasks/{tid}")[-1].body
    assert r.json()["openlineage_job"] == job
    assert [t["openlineage_job"] for t in (await client.get("/api/v1/tasks")).json()["items"]] == [job]
    r = await client.put(f"/api/v1/tasks/{tid}", json={**shell, "expected_revision": 2, "openlineage_job": None})
    assert r.status_code == 200, r.text
    assert (await client.get(f"/api/v1/tasks/{tid}")).json()["openlineage_job"] is None
    r = await client.put(
        f"/api/v1/tasks/{tid}", json={**shell, "expected_revision": 3, "openlineage_job": {"name": "x", "bad": 1}}
    )
    assert r.status_code == 422
    assert "openlineage_job.namespace" in r.json()["detail"]
