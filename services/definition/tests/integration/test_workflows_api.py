"""Workflows over HTTP on real PostgreSQL: validation errors, versions, optimistic concurrency, ownership."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from .conftest import new_tasks, new_workflow, problem_type, uid, workflow_body


async def test_create_computes_entry_exit_and_first_version(client: httpx.AsyncClient) -> None:
    a, b, c = await new_tasks(client, 3)
    wf = await new_workflow(client, [a, b, c], [(a, b), (a, c)], node_attrs={b: {"retries": 2}})
    assert wf["current_version_no"] == 1
    assert wf["status"] == "draft"
    assert wf["publish_status"] == "never_published"
    assert wf["entry_task_ids"] == [a]
    assert wf["exit_task_ids"] == [b, c]
    assert wf["created_by"] == "ann"
    assert wf["task_count"] == 3
    assert wf["allowed_actions"] == ["approve", "archive"]
    by_id = {t["task_id"]: t for t in wf["tasks"]}
    assert by_id[b]["node_attrs"]["retries"] == 2
    assert by_id[a]["downstream_count"] == 2
    assert by_id[b]["upstream_count"] == 1
    versions = (await client.get(f"/internal/workflows/{wf['id']}/versions")).json()
    assert versions["total"] == 1
    v1 = versions["items"][0]
    assert (v1["version_no"], v1["trigger_source"], v1["created_by"]) == (1, "manual_edit", "ann")
    owners = (await client.get("/internal/task-owners", params={"task_ids": f"{a},{b}"})).json()["owners"]
    assert owners[str(a)] == {"workflow_id": wf["id"], "workflow_name": wf["name"]}


async def test_structure_errors_are_precise(client: httpx.AsyncClient) -> None:
    a, b, c = await new_tasks(client, 3)

    r = await client.post("/internal/workflows", json=workflow_body([a, 999_999_001, 999_999_002]))
    assert r.status_code == 422
    assert problem_type(r) == "invalid-workflow-structure"
    unknown = [e for e in r.json()["errors"] if e["code"] == "unknown_task"]
    assert unknown[0]["task_ids"] == [999_999_001, 999_999_002]

    r = await client.post("/internal/workflows", json=workflow_body([a, b, c], [(a, b), (b, c), (c, a)]))
    assert r.status_code == 422
    cycle = [e for e in r.json()["errors"] if e["code"] == "cycle"]
    assert cycle[0]["path"] == [a, b, c, a]
    assert f"{a} → {b} → {c} → {a}" in r.json()["detail"]

    r = await client.post("/internal/workflows", json=workflow_body([a, b], [(a, a)]))
    assert r.status_code == 422
    assert [e["task_ids"] for e in r.json()["errors"] if e["code"] == "self_loop"] == [[a]]

    r = await client.post("/internal/workflows", json=workflow_body([a, b], [(a, b), (a, b)]))
    assert r.status_code == 422
    assert [e["edges"] for e in r.json()["errors"] if e["code"] == "duplicate_edge"] == [[[a, b]]]

    r = await client.post("/internal/workflows", json=workflow_body([]))
    assert r.status_code == 422
    assert [e["code"] for e in r.json()["errors"]] == ["empty_dag"]

    r = await client.post("/internal/workflows", json=workflow_body([a], node_attrs={a: {"retries": -1}}))
    assert r.status_code == 422
    assert problem_type(r) == "validation-failed"
    assert r.json()["errors"][0]["location"] == "body.tasks.0.node_attrs.retries"

    r = await client.post("/internal/workflows", json=workflow_body([a], node_attrs={a: {"timeout_strategy": "WARN"}}))
    assert r.status_code == 422
    assert r.json()["errors"][0]["location"] == "body.tasks.0.node_attrs"

    schedule = {
        "crontab": "0 0 25 * * MON",
        "timezone": "Mars/Olympus",
        "start_time": "2025-01-01T00:00:00Z",
        "end_time": "2030-01-01T00:00:00Z",
    }
    r = await client.post("/internal/workflows", json=workflow_body([a], schedule=schedule))
    assert r.status_code == 422
    assert problem_type(r) == "invalid-schedule"
    codes = {e["code"] for e in r.json()["errors"]}
    assert {"cron_field", "cron_day_fields", "timezone"} <= codes

    # nothing of the rejected requests was stored: the tasks are still unassigned
    owners = (await client.get("/internal/task-owners", params={"task_ids": f"{a},{b},{c}"})).json()["owners"]
    assert owners == {str(a): None, str(b): None, str(c): None}


async def test_task_owned_by_another_workflow_is_409_with_owner_and_modes(client: httpx.AsyncClient) -> None:
    a, b = await new_tasks(client, 2)
    first = await new_workflow(client, [a])
    r = await client.post("/internal/workflows", json=workflow_body([a, b], [(a, b)]))
    assert r.status_code == 409
    assert problem_type(r) == "task-owned-by-another-workflow"
    body = r.json()
    assert body["tasks"] == [{"task_id": a, "owner_workflow_id": first["id"]}]
    assert body["owner_workflow_ids"] == [first["id"]]
    assert body["migration_modes"] == ["only_current", "cascade_downstream", "cascade_up_and_downstream"]
    assert f"workflow {first['id']}" in body["detail"]


async def test_duplicate_name_is_409(client: httpx.AsyncClient) -> None:
    a, b = await new_tasks(client, 2)
    wf = await new_workflow(client, [a])
    r = await client.post("/internal/workflows", json=workflow_body([b], name=wf["name"]))
    assert r.status_code == 409
    assert problem_type(r) == "workflow-name-taken"


async def test_update_versions_diff_noop_and_stale(client: httpx.AsyncClient) -> None:
    a, b, c = await new_tasks(client, 3)
    wf = await new_workflow(client, [a, b], [(a, b)])
    wid, name = wf["id"], wf["name"]

    body = workflow_body([a, b, c], [(a, b), (b, c)], name=name, node_attrs={c: {"retries": 3}})
    r = await client.put(f"/internal/workflows/{wid}", json={**body, "expected_version_no": 1})
    assert r.status_code == 200, r.text
    assert r.json()["current_version_no"] == 2
    assert r.json()["exit_task_ids"] == [c]

    # the same definition again: no new version, 200 with the version unchanged
    r = await client.put(f"/internal/workflows/{wid}", json={**body, "expected_version_no": 2})
    assert r.status_code == 200
    assert r.json()["current_version_no"] == 2

    r = await client.put(f"/internal/workflows/{wid}", json={**body, "expected_version_no": 1})
    assert r.status_code == 409
    assert problem_type(r) == "stale-version"
    assert (r.json()["current_version_no"], r.json()["expected_version_no"]) == (2, 1)

    v2 = (await client.get(f"/internal/workflows/{wid}/versions/2")).json()
    assert v2["trigger_source"] == "manual_edit"
    assert v2["change_summary"]["tasks_added"] == [c]
    assert v2["change_summary"]["edges_added"] == [[b, c]]
    assert [t["task_id"] for t in v2["structure_snapshot"]["tasks"]] == [a, b, c]

    diff = (await client.get(f"/internal/workflows/{wid}/diff", params={"from": 2, "to": 1})).json()
    assert diff["tasks_removed"] == [c]
    assert diff["edges_removed"] == [[b, c]]

    r = await client.get(f"/internal/workflows/{wid}/versions/9")
    assert r.status_code == 404


async def test_rollback_writes_a_new_version_equal_to_the_old_one(client: httpx.AsyncClient) -> None:
    a, b, c = await new_tasks(client, 3)
    wf = await new_workflow(client, [a, b], [(a, b)])
    wid, name = wf["id"], wf["name"]
    body = workflow_body([a, c], [(a, c)], name=name)
    r = await client.put(f"/internal/workflows/{wid}", json={**body, "expected_version_no": 1})
    assert r.status_code == 200

    r = await client.post(f"/internal/workflows/{wid}/rollback", json={"to_version_no": 1, "expected_version_no": 2})
    assert r.status_code == 200, r.text
    assert r.json()["current_version_no"] == 3
    assert sorted(t["task_id"] for t in r.json()["tasks"]) == [a, b]
    # c was in version 2 only: the rollback leaves it in no workflow, and says so
    assert r.json()["unassigned_task_ids"] == [c]
    v1 = (await client.get(f"/internal/workflows/{wid}/versions/1")).json()
    v3 = (await client.get(f"/internal/workflows/{wid}/versions/3")).json()
    assert v3["trigger_source"] == "rollback"
    assert v3["change_summary"]["tasks_unassigned"] == [c]
    assert f"tasks {c} now in no workflow" in v3["summary"]
    assert v3["content_hash"] == v1["content_hash"]
    assert v3["structure_snapshot"] == v1["structure_snapshot"]
    owners = (await client.get("/internal/task-owners", params={"task_ids": f"{b},{c}"})).json()["owners"]
    assert owners[str(b)]["workflow_id"] == wid
    assert owners[str(c)] is None

    # rolling back to a version whose task now belongs to another workflow is refused
    other = await new_workflow(client, [c])
    r = await client.post(f"/internal/workflows/{wid}/rollback", json={"to_version_no": 2, "expected_version_no": 3})
    assert r.status_code == 409
    assert problem_type(r) == "task-owned-by-another-workflow"
    assert r.json()["owner_workflow_ids"] == [other["id"]]


async def test_fifty_concurrent_edits_yield_contiguous_versions_and_no_lost_update(
    client: httpx.AsyncClient,
) -> None:
    tasks = await new_tasks(client, 52)
    head, pool = tasks[:2], tasks[2:]
    wf = await new_workflow(client, head, [(head[0], head[1])])
    wid, name = wf["id"], wf["name"]

    def edit(extra: int, expected: int) -> dict[str, Any]:
        body = workflow_body([*head, extra], [(head[0], head[1]), (head[1], extra)], name=name)
        return {**body, "expected_version_no": expected}

    results = await asyncio.gather(*(client.put(f"/internal/workflows/{wid}", json=edit(t, 1)) for t in pool))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] + [409] * 49, statuses
    assert all(problem_type(r) == "stale-version" for r in results if r.status_code == 409)
    winner = next(r.json() for r in results if r.status_code == 200)

    # then a sequence of edits, each based on the version the previous one produced
    expected = 2
    for t in pool[:10]:
        r = await client.put(f"/internal/workflows/{wid}", json=edit(t, expected))
        if r.status_code == 200 and r.json()["current_version_no"] == expected:
            continue  # the winner's own definition again: no new version
        assert r.status_code == 200, r.text
        expected += 1
        assert r.json()["current_version_no"] == expected
        winner = r.json()

    versions = (await client.get(f"/internal/workflows/{wid}/versions", params={"page_size": 200})).json()
    assert [v["version_no"] for v in versions["items"]] == list(range(expected, 0, -1))
    current = (await client.get(f"/internal/workflows/{wid}/versions/{expected}")).json()["structure_snapshot"]
    assert sorted(t["task_id"] for t in current["tasks"]) == sorted(t["task_id"] for t in winner["tasks"])
    owned = (await client.get("/internal/tasks", params={"workflow_id": wid, "page_size": 200})).json()
    assert sorted(t["id"] for t in owned["items"]) == sorted(t["task_id"] for t in winner["tasks"])


async def test_concurrent_creates_with_the_same_task_one_wins(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        (shared,) = await new_tasks(client, 1)
        r1, r2 = await asyncio.gather(
            client.post("/internal/workflows", json=workflow_body([shared])),
            client.post("/internal/workflows", json=workflow_body([shared])),
        )
        assert sorted((r1.status_code, r2.status_code)) == [201, 409], (r1.text, r2.text)
        loser = r1 if r1.status_code == 409 else r2
        winner = r2 if loser is r1 else r1
        assert problem_type(loser) == "task-owned-by-another-workflow"
        assert loser.json()["tasks"] == [{"task_id": shared, "owner_workflow_id": winner.json()["id"]}]


async def test_database_constraint_catches_a_race_the_app_check_missed(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Simulate the race: the ownership lookup answers "unassigned" (as it would before the other transaction
    committed); the UNIQUE constraint still refuses the second owner, and the answer is the same 409."""
    from definition.db.repository import tasks as task_repo

    (shared,) = await new_tasks(client, 1)
    first = await new_workflow(client, [shared])
    real = task_repo.catalog_tasks

    async def stale_catalog(session: Any, task_ids: Any) -> Any:
        rows = await real(session, task_ids)
        return [SimpleNamespace(**{**r._mapping, "workflow_id": None}) for r in rows]

    monkeypatch.setattr(task_repo, "catalog_tasks", stale_catalog)
    body = workflow_body([shared])
    r = await client.post("/internal/workflows", json=body)
    assert r.status_code == 409, r.text
    assert problem_type(r) == "task-owned-by-another-workflow"
    assert r.json()["tasks"] == [{"task_id": shared, "owner_workflow_id": first["id"]}]
    listed = (await client.get("/internal/workflows", params={"name": body["name"]})).json()
    assert listed["total"] == 0


async def test_status_transitions_and_invalid_ones(client: httpx.AsyncClient) -> None:
    (a,) = await new_tasks(client, 1)
    wf = await new_workflow(client, [a])
    wid = wf["id"]

    r = await client.post(f"/internal/workflows/{wid}/actions/online", json={})
    assert r.status_code == 409
    assert problem_type(r) == "invalid-transition"
    assert r.json()["allowed_actions"] == ["approve", "archive"]
    assert "allowed actions: approve" in r.json()["detail"]

    r = await client.post(f"/internal/workflows/{wid}/actions/approve", json={"version_no": 1})
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["approved"]) == ("ready", True)
    assert r.json()["allowed_publish_operations"] == ["deploy", "online"]

    r = await client.post(f"/internal/workflows/{wid}/actions/approve", json={"version_no": 1})
    assert r.status_code == 409
    assert r.json()["allowed_actions"] == ["online", "archive"]

    r = await client.post(f"/internal/workflows/{wid}/actions/online", json={})
    assert r.json()["status"] == "online"
    r = await client.post(f"/internal/workflows/{wid}/actions/offline", json={})
    assert r.json()["status"] == "offline"
    assert r.json()["allowed_actions"] == ["online", "archive"]

    r = await client.post(f"/internal/workflows/{wid}/actions/launch", json={})
    assert r.status_code == 422

    r = await client.post(f"/internal/workflows/{wid}/publish", json={"operation": "offline"})
    assert r.status_code == 409
    assert problem_type(r) == "publish-not-allowed"
    assert r.json()["reason"] == "not_deployed"
    assert r.json()["allowed_operations"] == ["deploy"]

    r = await client.post("/internal/workflows/999999999/actions/approve", json={"version_no": 1})
    assert r.status_code == 404


async def test_list_filters_sort_and_paging(client: httpx.AsyncClient) -> None:
    tag = uid()
    a, b, c = await new_tasks(client, 3)
    w1 = await new_workflow(client, [a], name=f"Sales-{tag}-daily")
    w2 = await new_workflow(client, [b], name=f"sales-{tag}-hourly")
    await new_workflow(client, [c], name=f"other-{tag}")
    await client.post(f"/internal/workflows/{w2['id']}/actions/approve", json={"version_no": 1})

    r = await client.get("/internal/workflows", params={"name": f"SALES-{tag}", "sort": "name"})
    page = r.json()
    assert page["total"] == 2
    assert [i["id"] for i in page["items"]] == [w1["id"], w2["id"]]
    assert page["items"][0]["task_count"] == 1

    r = await client.get("/internal/workflows", params={"name": tag, "status": "ready"})
    assert [i["id"] for i in r.json()["items"]] == [w2["id"]]

    r = await client.get("/internal/workflows", params={"name": tag, "page_size": 2, "page": 2})
    assert (r.json()["total"], len(r.json()["items"]), r.json()["page"]) == (3, 1, 2)

    r = await client.get("/internal/workflows", params={"name": tag, "sort": "-updated_at"})
    assert r.json()["items"][0]["id"] == w2["id"]  # approved last

    r = await client.get("/internal/workflows", params={"sort": "size"})
    assert r.status_code == 422


async def test_detail_answers_are_the_models_own_json(client: httpx.AsyncClient) -> None:
    """Create, update and get answer pre-serialised bytes: exactly the JSON pydantic writes for a ``WorkflowDetail``
    (enum values as strings, field order, times), the same for the same state, whatever answered it."""
    from definition.schemas import WorkflowDetail

    a, b, c = await new_tasks(client, 3)
    attrs = {a: {"priority": "HIGH", "failure_strategy": "CONTINUE", "timeout_minutes": 5, "timeout_strategy": "WARN"}}
    body = workflow_body([a, b, c], [(a, b), (b, c)], node_attrs=attrs, description='ünï "tasks":[],"edges":[]')
    created = await client.post("/internal/workflows", json=body)
    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == "application/json"
    assert created.content == WorkflowDetail.model_validate_json(created.content).model_dump_json().encode()
    wf = created.json()
    assert wf["tasks"][0]["node_attrs"]["priority"] == "HIGH"
    assert wf["tasks"][0]["node_attrs"]["timeout_strategy"] == "WARN"
    assert wf["tasks"][0]["task_type"] == "SHELL"
    got = await client.get(f"/internal/workflows/{wf['id']}")
    assert got.content == created.content

    changed = {**body, "edges": [{"upstream_task_id": a, "downstream_task_id": c}], "expected_version_no": 1}
    updated = await client.put(f"/internal/workflows/{wf['id']}", json=changed)
    assert updated.status_code == 200, updated.text
    assert updated.content == WorkflowDetail.model_validate_json(updated.content).model_dump_json().encode()
    assert updated.json()["current_version_no"] == 2
    assert [(t["upstream_count"], t["downstream_count"]) for t in updated.json()["tasks"]] == [(0, 1), (0, 0), (1, 0)]
    unchanged = await client.put(f"/internal/workflows/{wf['id']}", json={**changed, "expected_version_no": 2})
    assert unchanged.status_code == 200
    assert unchanged.content == updated.content
    assert (await client.get(f"/internal/workflows/{wf['id']}")).content == updated.content


async def test_bad_json_body_is_a_validation_problem(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/internal/workflows", content=b'{"name": "x", "tasks": [', headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert problem_type(r) == "validation-failed"
    assert r.json()["errors"][0]["type"] == "json_invalid"
    r = await client.put("/internal/workflows/1", json={"name": "x", "tasks": [{"task_id": "one"}]})
    assert r.status_code == 422
    assert problem_type(r) == "validation-failed"
    assert {e["location"] for e in r.json()["errors"]} == {"body.tasks.0.task_id", "body.expected_version_no"}


async def test_create_and_update_with_several_published_workflows(client: httpx.AsyncClient, module_db: Any) -> None:
    """Regression: the ``RETURNING`` of a workflow write read ``last_published_version_no`` through a subquery that
    was not tied to the written row, so once two workflows had a published version every create and update failed
    (more than one row returned by a subquery)."""
    import asyncpg

    from common.db import asyncpg_dsn

    published = []
    for _ in range(2):
        (t,) = await new_tasks(client, 1)
        published.append(await new_workflow(client, [t]))
    conn = await asyncpg.connect(asyncpg_dsn(module_db.url), server_settings={"search_path": module_db.schema})
    try:
        for wf in published:
            await conn.execute(
                "UPDATE data_workflow SET last_published_version_id = current_version_id WHERE id = $1", wf["id"]
            )
    finally:
        await conn.close()

    a, b = await new_tasks(client, 2)
    created = await new_workflow(client, [a])
    assert created["last_published_version_no"] is None
    r = await client.put(
        f"/internal/workflows/{created['id']}",
        json={**workflow_body([a, b], [(a, b)], name=created["name"]), "expected_version_no": 1},
    )
    assert r.status_code == 200, r.text
    assert r.json()["last_published_version_no"] is None
    # a published workflow's own number comes back with its write
    first = published[0]
    (c,) = await new_tasks(client, 1)
    r = await client.put(
        f"/internal/workflows/{first['id']}",
        json={**workflow_body([first["tasks"][0]["task_id"], c], name=first["name"]), "expected_version_no": 1},
    )
    assert r.status_code == 200, r.text
    assert r.json()["last_published_version_no"] == 1


async def test_approve_names_the_reviewed_version(client: httpx.AsyncClient) -> None:
    a, b = await new_tasks(client, 2)
    wf = await new_workflow(client, [a])
    wid, name = wf["id"], wf["name"]
    r = await client.post(f"/internal/workflows/{wid}/actions/approve", json={})
    assert r.status_code == 422
    assert "version_no" in r.json()["detail"]
    # an edit lands between the review of version 1 and the click
    r = await client.put(
        f"/internal/workflows/{wid}", json={**workflow_body([a, b], [(a, b)], name=name), "expected_version_no": 1}
    )
    assert r.json()["current_version_no"] == 2
    r = await client.post(f"/internal/workflows/{wid}/actions/approve", json={"version_no": 1})
    assert r.status_code == 409
    assert problem_type(r) == "stale-version"
    assert "not version 1 that you reviewed" in r.json()["detail"]
    detail = (await client.get(f"/internal/workflows/{wid}")).json()
    assert (detail["status"], detail["approved"]) == ("draft", False)
    r = await client.post(f"/internal/workflows/{wid}/actions/approve", json={"version_no": 2})
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["approved"]) == ("ready", True)


async def test_an_emptied_workflow_cannot_be_approved(client: httpx.AsyncClient) -> None:
    (a,) = await new_tasks(client, 1)
    source = await new_workflow(client, [a])
    (b,) = await new_tasks(client, 1)
    target = await new_workflow(client, [b])
    r = await client.post(
        "/internal/migrations",
        json={
            "task_id": a,
            "target_workflow_id": target["id"],
            "mode": "only_current",
            "allow_empty_source": True,
            "expected_source_version_no": 1,
            "expected_target_version_no": 1,
        },
    )
    assert r.status_code == 200, r.text
    emptied = (await client.get(f"/internal/workflows/{source['id']}")).json()
    assert (emptied["task_count"], emptied["current_version_no"]) == (0, 2)
    assert "approve" not in emptied["allowed_actions"]
    r = await client.post(f"/internal/workflows/{source['id']}/actions/approve", json={"version_no": 2})
    assert r.status_code == 409
    assert "empty workflow cannot be approved" in r.json()["detail"]


async def test_names_are_trimmed_and_never_blank(client: httpx.AsyncClient) -> None:
    (a,) = await new_tasks(client, 1)
    r = await client.post("/internal/workflows", json=workflow_body([a], name="   "))
    assert r.status_code == 422
    assert r.json()["errors"][0]["location"] == "body.name"
    r = await client.post("/internal/tasks", json={"name": " \t ", "task_type": "SHELL", "params": {"script": "x"}})
    assert r.status_code == 422
    name = f"  wf-{uid()}  "
    r = await client.post("/internal/workflows", json=workflow_body([a], name=name))
    assert r.status_code == 201
    assert r.json()["name"] == name.strip()


async def test_delete_a_never_published_workflow_and_an_unassigned_task(client: httpx.AsyncClient) -> None:
    a, b = await new_tasks(client, 2)
    wf = await new_workflow(client, [a, b], [(a, b)])
    wid = wf["id"]
    r = await client.delete(f"/internal/workflows/{wid}", params={"expected_version_no": 2})
    assert r.status_code == 409  # another version than the one the caller saw
    r = await client.delete(f"/internal/tasks/{a}")
    assert r.status_code == 409
    assert problem_type(r) == "task-in-use"
    assert f"workflow {wid}" in r.json()["detail"]
    assert (await client.delete(f"/internal/workflows/{wid}", params={"expected_version_no": 1})).status_code == 204
    assert (await client.get(f"/internal/workflows/{wid}")).status_code == 404
    owners = (await client.get("/internal/task-owners", params={"task_ids": f"{a},{b}"})).json()["owners"]
    assert owners == {str(a): None, str(b): None}
    # the name is free again, and so are the tasks
    again = await new_workflow(client, [a], name=wf["name"])
    assert again["id"] != wid
    assert (await client.delete(f"/internal/tasks/{b}")).status_code == 204
    assert (await client.get(f"/internal/tasks/{b}")).status_code == 404
    assert (await client.delete(f"/internal/tasks/{b}")).status_code == 404
    r = await client.post("/internal/workflows", json=workflow_body([b]))
    assert r.status_code == 422  # a deleted task cannot join a workflow


async def test_archive_keeps_the_history_and_frees_the_tasks(client: httpx.AsyncClient) -> None:
    a, b = await new_tasks(client, 2)
    wf = await new_workflow(client, [a, b], [(a, b)])
    wid = wf["id"]
    r = await client.post(f"/internal/workflows/{wid}/actions/archive")
    assert r.status_code == 200, r.text
    archived = r.json()
    assert (archived["status"], archived["allowed_actions"], archived["allowed_publish_operations"]) == (
        "archived",
        [],
        [],
    )
    assert sorted(t["task_id"] for t in archived["tasks"]) == [a, b]  # the last version, as history
    owners = (await client.get("/internal/task-owners", params={"task_ids": f"{a},{b}"})).json()["owners"]
    assert owners == {str(a): None, str(b): None}
    assert (await new_workflow(client, [a]))["task_count"] == 1
    edit = {**workflow_body([b], name=wf["name"]), "expected_version_no": 1}
    r = await client.put(f"/internal/workflows/{wid}", json=edit)
    assert r.status_code == 409
    assert problem_type(r) == "workflow-archived"
    r = await client.post(f"/internal/workflows/{wid}/rollback", json={"to_version_no": 1, "expected_version_no": 1})
    assert problem_type(r) == "workflow-archived"
    assert (await client.post(f"/internal/workflows/{wid}/actions/archive")).status_code == 409
    versions = (await client.get(f"/internal/workflows/{wid}/versions")).json()
    assert versions["total"] == 1
    listed = (await client.get("/internal/workflows", params={"status": "archived", "name": wf["name"]})).json()
    assert [w["id"] for w in listed["items"]] == [wid]


async def test_limits_of_a_workflow_and_a_task_are_clear_422s(client: httpx.AsyncClient) -> None:
    from common.workflow import MAX_EDGES_PER_WORKFLOW, MAX_PARAMS, MAX_SCRIPT_CHARS, MAX_TASKS_PER_WORKFLOW

    [t] = await new_tasks(client, 1)
    cases = {
        "tasks": workflow_body([t] * (MAX_TASKS_PER_WORKFLOW + 1)),
        "edges": workflow_body([t], [(t, t)] * (MAX_EDGES_PER_WORKFLOW + 1)),
        "global_params": workflow_body([t], global_params=[{"name": f"p{i}"} for i in range(MAX_PARAMS + 1)]),
    }
    for field, body in cases.items():
        r = await client.post("/internal/workflows", json=body)
        assert r.status_code == 422, (field, r.text[:300])
        assert r.json()["errors"][0]["location"] == f"body.{field}"
        assert "at most" in r.json()["detail"]
    r = await client.post(
        "/internal/tasks",
        json={
            "name": f"big-{uid()}",
            "task_type": "SHELL",
            "params": {"script": "x" * (MAX_SCRIPT_CHARS + 1)},
        },
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["location"].endswith("script")
    assert f"at most {MAX_SCRIPT_CHARS} characters" in r.json()["detail"]
