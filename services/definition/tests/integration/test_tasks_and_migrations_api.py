"""Task catalog and task migration over HTTP on real PostgreSQL."""

from __future__ import annotations

import httpx

from .conftest import as_user, new_tasks, new_workflow, problem_type, shell_task, uid


async def test_task_crud_validation_and_revision(client: httpx.AsyncClient) -> None:
    r = await client.post("/internal/tasks", json=shell_task(name=f"load-{uid()}"), headers=as_user("bob"))
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["params"]["kind"] == "SHELL"
    assert (task["revision"], task["created_by"], task["workflow_id"]) == (1, "bob", None)

    r = await client.post("/internal/tasks", json={**shell_task(), "params": {"sql": "select 1"}})
    assert r.status_code == 422
    assert any(e["location"].startswith("body.params") for e in r.json()["errors"])

    r = await client.post(
        "/internal/tasks", json={**shell_task(), "task_type": "SQL", "params": {"kind": "SHELL", "script": "x"}}
    )
    assert r.status_code == 422

    r = await client.post("/internal/tasks", json={**shell_task(), "task_type": "SPARK"})
    assert r.status_code == 422

    update = {**shell_task(name=task["name"], script="echo new"), "expected_revision": 1}
    r = await client.put(f"/internal/tasks/{task['id']}", json=update)
    assert r.status_code == 200
    assert (r.json()["revision"], r.json()["updated_by"]) == (
        2,
        "tester",
    )  # the verified actor of the call (the test client's)
    r = await client.put(f"/internal/tasks/{task['id']}", json=update)
    assert r.status_code == 409
    assert problem_type(r) == "stale-version"
    assert r.json()["current_revision"] == 2
    r = await client.put("/internal/tasks/999999999", json=update)
    assert r.status_code == 404
    assert (await client.get(f"/internal/tasks/{task['id']}")).json()["params"]["script"] == "echo new"


async def test_task_list_filters(client: httpx.AsyncClient) -> None:
    tag = uid()
    ids = []
    for i in range(3):
        r = await client.post("/internal/tasks", json=shell_task(name=f"Orders-{tag}-{i}"))
        ids.append(r.json()["id"])
    wf = await new_workflow(client, ids[:2])
    r = await client.get("/internal/tasks", params={"name": f"orders-{tag}"})
    assert r.json()["total"] == 3
    r = await client.get("/internal/tasks", params={"name": tag, "unassigned": "true"})
    assert [t["id"] for t in r.json()["items"]] == [ids[2]]
    r = await client.get("/internal/tasks", params={"workflow_id": wf["id"]})
    assert [(t["id"], t["workflow_name"]) for t in r.json()["items"]] == [(i, wf["name"]) for i in ids[:2]]
    r = await client.get("/internal/tasks", params={"ids": f"{ids[0]},{ids[2]}", "task_type": "SHELL"})
    assert [t["id"] for t in r.json()["items"]] == [ids[0], ids[2]]
    r = await client.get("/internal/tasks", params={"ids": "1,x"})
    assert r.status_code == 422


async def test_changing_a_task_in_a_workflow_writes_a_task_change_version(client: httpx.AsyncClient) -> None:
    a, b = await new_tasks(client, 2)
    wf = await new_workflow(client, [a, b], [(a, b)], node_attrs={a: {"retries": 4}})
    task = (await client.get(f"/internal/tasks/{a}")).json()
    r = await client.put(
        f"/internal/tasks/{a}",
        json={**shell_task(name=task["name"], script="echo changed"), "expected_revision": 1},
        headers=as_user("carol"),
    )
    assert r.status_code == 200, r.text
    detail = (await client.get(f"/internal/workflows/{wf['id']}")).json()
    assert detail["current_version_no"] == 2
    v2 = (await client.get(f"/internal/workflows/{wf['id']}/versions/2")).json()
    assert (v2["trigger_source"], v2["created_by"]) == ("task_change", "carol")
    changes = v2["change_summary"]["tasks_changed"]
    assert changes == [{"task_id": a, "changes": [{"field": "params.script", "old": "echo hi", "new": "echo changed"}]}]
    snap_a = next(t for t in v2["structure_snapshot"]["tasks"] if t["task_id"] == a)
    assert snap_a["node_attrs"]["retries"] == 4  # the node's attributes stay

    # an unassigned task changes without touching any workflow
    (c,) = await new_tasks(client, 1)
    task_c = (await client.get(f"/internal/tasks/{c}")).json()
    r = await client.put(f"/internal/tasks/{c}", json={**shell_task(name=task_c["name"]), "expected_revision": 1})
    assert r.status_code == 200


async def test_migration_preview_and_execute_write_both_versions(client: httpx.AsyncClient) -> None:
    a, b, c, d, x = await new_tasks(client, 5)
    source = await new_workflow(client, [a, b, c, d], [(a, b), (b, c), (c, d)])
    target = await new_workflow(client, [x])
    request = {"task_id": b, "target_workflow_id": target["id"], "mode": "only_current"}

    r = await client.post("/internal/migrations/preview", json=request)
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["moved_task_ids"] == [b]
    assert preview["bridged_edges"] == [[a, c]]
    assert {(e["upstream_task_id"], e["downstream_task_id"]) for e in preview["dropped_edges"]} == {(a, b), (b, c)}
    assert preview["source_after"]["edges"] == [[a, c], [c, d]]
    assert (preview["source_version_no"], preview["target_version_no"]) == (1, 1)
    # a preview changes nothing
    assert (await client.get(f"/internal/workflows/{source['id']}")).json()["current_version_no"] == 1

    r = await client.post(
        "/internal/migrations",
        json={**request, "expected_source_version_no": 0, "expected_target_version_no": 1},
    )
    assert r.status_code == 409
    assert problem_type(r) == "stale-version"

    r = await client.post(
        "/internal/migrations",
        json={**request, "expected_source_version_no": 1, "expected_target_version_no": 1},
        headers=as_user("dave"),
    )
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["source"]["current_version_no"] == 2
    assert result["target"]["current_version_no"] == 2
    assert sorted(t["task_id"] for t in result["target"]["tasks"]) == sorted([x, b])
    assert result["source"]["edges"] == [
        {"upstream_task_id": a, "downstream_task_id": c},
        {"upstream_task_id": c, "downstream_task_id": d},
    ]
    for wid in (source["id"], target["id"]):
        v2 = (await client.get(f"/internal/workflows/{wid}/versions/2")).json()
        assert (v2["trigger_source"], v2["created_by"]) == ("migration", "dave")
    owner = (await client.get("/internal/task-owners", params={"task_ids": str(b)})).json()["owners"][str(b)]
    assert owner["workflow_id"] == target["id"]
    moved = (await client.get("/internal/tasks", params={"workflow_id": target["id"]})).json()
    assert sorted(t["id"] for t in moved["items"]) == sorted([x, b])

    # cascade modes, emptying the source needs confirmation
    request = {"task_id": a, "target_workflow_id": target["id"], "mode": "cascade_downstream"}
    r = await client.post("/internal/migrations/preview", json=request)
    assert r.status_code == 409
    assert problem_type(r) == "migration-empties-workflow"
    r = await client.post("/internal/migrations/preview", json={**request, "allow_empty_source": True})
    assert r.json()["moved_task_ids"] == sorted([a, c, d])
    assert r.json()["source_emptied"] is True

    r = await client.post(
        "/internal/migrations/preview", json={"task_id": b, "target_workflow_id": target["id"], "mode": "only_current"}
    )
    assert r.status_code == 422
    assert problem_type(r) == "migration-not-possible"
    (loose,) = await new_tasks(client, 1)
    r = await client.post(
        "/internal/migrations/preview",
        json={"task_id": loose, "target_workflow_id": target["id"], "mode": "only_current"},
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "task_unassigned"
    r = await client.post(
        "/internal/migrations/preview", json={"task_id": a, "target_workflow_id": 999999999, "mode": "only_current"}
    )
    assert r.status_code == 404
