"""Lifecycle regressions through the gateway on the running services, with several workflows published at once
(issue: what a new user broke in twenty minutes). Each test names the defect it guards."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from common.dolphin import ReleaseState
from common.events import LineageChanged

from .conftest import Platform, uid, until
from .test_main_flow import new_task, new_workflow, publish

pytestmark = pytest.mark.slow

SCHEDULE = {
    "crontab": "0 0 3 * * ?",
    "timezone": "UTC",
    "start_time": "2025-01-01T00:00:00Z",
    "end_time": "2099-12-31T00:00:00Z",
}


async def published_online(p: Platform, name: str, *, schedule: dict[str, Any] | None = None) -> dict[str, Any]:
    task = await new_task(p, f"{name}-t")
    body = {"name": name, "tasks": [{"task_id": task}], "schedule": schedule}
    wf = await p.call("POST", "/api/v1/workflows", 201, json=body)
    await p.call("POST", f"/api/v1/workflows/{wf['id']}/approve", json={"version_no": wf["current_version_no"]})
    return await publish(p, int(wf["id"]), "online")


async def test_creates_and_updates_work_with_several_published_workflows(platform: Platform) -> None:
    """Once two workflows were published, every create and update answered 500."""
    p, s = platform, uid()
    first = await published_online(p, f"pub-{s}-1")
    await published_online(p, f"pub-{s}-2")
    a, b = await new_task(p, f"new-{s}-a"), await new_task(p, f"new-{s}-b")
    created = await new_workflow(p, f"new-{s}", [a], [])
    assert created["last_published_version_no"] is None
    update = {
        "name": f"new-{s}",
        "tasks": [{"task_id": a}, {"task_id": b}],
        "edges": [{"upstream_task_id": a, "downstream_task_id": b}],
        "expected_version_no": 1,
    }
    updated = await p.call("PUT", f"/api/v1/workflows/{created['id']}", json=update)
    assert updated["current_version_no"] == 2
    # a published workflow's edit keeps its own published version number
    task = first["tasks"][0]["task_id"]
    c = await new_task(p, f"pub-{s}-c")
    body = {"name": first["name"], "tasks": [{"task_id": task}, {"task_id": c}], "expected_version_no": 1}
    edited = await p.call("PUT", f"/api/v1/workflows/{first['id']}", json=body)
    assert (edited["current_version_no"], edited["last_published_version_no"]) == (2, 1)


BAD_INPUT = [
    ("/api/v1/workflows", {"page": "2147483648"}),
    ("/api/v1/workflows/99999999999999999999", None),
    ("/api/v1/workflows", {"name": "a\x00b"}),
    ("/api/v1/tasks", {"name": "x\x00"}),
    ("/api/v1/workflows/1/versions/2147483648", None),
    ("/api/v1/workflows/1/instances/2147483648", None),
]


async def test_bad_numbers_and_text_are_422_then_the_next_call_works(platform: Platform) -> None:
    for path, params in BAD_INPUT:
        r = await platform.api.get(path, params=params)
        assert r.status_code == 422, (path, params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert (await platform.api.get("/api/v1/workflows")).status_code == 200


async def test_a_body_with_nul_is_422_and_nothing_is_written(platform: Platform) -> None:
    p, s = platform, uid()
    body = {"name": f"nul-{s}", "task_type": "SHELL", "params": {"script": "echo \x00"}}
    r = await p.api.post("/api/v1/tasks", json=body)
    assert r.status_code == 422, r.text
    page = await p.call("GET", "/api/v1/tasks", params={"name": f"nul-{s}"})
    assert page["items"] == []


async def test_a_workflows_url_shows_only_its_own_runs_and_logs(platform: Platform) -> None:
    p, s = platform, uid()
    mine = await published_online(p, f"own-{s}-a")
    other = await published_online(p, f"own-{s}-b")
    run = await p.call("POST", f"/api/v1/workflows/{mine['id']}/run", json={})
    [instance] = run["instance_ids"]

    async def with_task() -> dict[str, Any] | None:  # DS creates the task instance once it dispatches the run
        detail = await p.call("GET", f"/api/v1/workflows/{mine['id']}/instances/{instance}")
        return detail if detail["tasks"] else None

    [task] = (await until(with_task, "the run's task instance"))["tasks"]
    assert (await p.api.get(f"/api/v1/workflows/{other['id']}/instances/{instance}")).status_code == 404
    log = f"task-instances/{task['id']}/log"
    assert (await p.api.get(f"/api/v1/workflows/{other['id']}/{log}")).status_code == 404
    assert (
        await p.api.get(f"/api/v1/workflows/{other['id']}/{log}", params={"instance_id": instance})
    ).status_code == 404
    assert (await p.api.get(f"/api/v1/workflows/987654321/{log}")).status_code == 404
    r = await p.api.get(f"/api/v1/workflows/{mine['id']}/{log}", params={"instance_id": instance})
    assert r.status_code == 200, r.text


async def test_run_now_shows_in_the_executions_at_once(platform: Platform) -> None:
    """After run now the executions stayed empty until the next periodic sync."""
    p, s = platform, uid()
    wf = await published_online(p, f"fresh-{s}")
    wid = wf["id"]
    await p.call("GET", f"/api/v1/workflows/{wid}/executions")  # synced now: fresh for a while
    run = await p.call("POST", f"/api/v1/workflows/{wid}/run", json={}, headers={"Idempotency-Key": f"k-{s}"})
    [instance] = run["instance_ids"]

    async def shown() -> dict[str, Any] | None:
        body = await p.call("GET", f"/api/v1/workflows/{wid}/executions")
        return body if instance in [e["instance_id"] for e in body["executions"]] else None

    await until(shown, "the run in the workflow's executions", timeout_s=5)


async def test_approve_names_the_version_reviewed(platform: Platform) -> None:
    p, s = platform, uid()
    a, b = await new_task(p, f"appr-{s}-a"), await new_task(p, f"appr-{s}-b")
    wf = await new_workflow(p, f"appr-{s}", [a], [])
    edit = {"name": wf["name"], "tasks": [{"task_id": a}, {"task_id": b}], "expected_version_no": 1}
    await p.call("PUT", f"/api/v1/workflows/{wf['id']}", json=edit)
    stale = await p.api.post(f"/api/v1/workflows/{wf['id']}/approve", json={"version_no": 1})
    assert stale.status_code == 409
    assert stale.json()["type"] == "/problems/stale-version"
    assert (await p.workflow(wf["id"]))["approved"] is False
    approved = await p.call("POST", f"/api/v1/workflows/{wf['id']}/approve", json={"version_no": 2})
    assert approved["approved"] is True


async def test_platform_offline_stops_new_instances(platform: Platform) -> None:
    p, s = platform, uid()
    wf = await published_online(p, f"off-{s}", schedule=SCHEDULE)
    wid, project, code = wf["id"], wf["project_code"], wf["workflow_code"]
    schedule = await p.ds.get_schedule_of_workflow(project, code)
    assert schedule is not None
    assert schedule.release_state is ReleaseState.ONLINE
    await p.call("POST", f"/api/v1/workflows/{wid}/online")
    offline = await p.call("POST", f"/api/v1/workflows/{wid}/offline")
    assert offline["status"] == "offline"
    refused = await p.api.post(f"/api/v1/workflows/{wid}/run", json={})
    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/platform-offline"
    batch = await p.api.post("/api/v1/workflows/batch-run", json={"workflow_ids": [wid]})
    assert batch.status_code == 409
    detail = await p.published(wid)
    assert (detail["publish_status"], detail["release_state"]) == ("published", "OFFLINE")
    dag = await p.ds.get_workflow_definition(project, code)
    assert dag.workflow_definition.release_state is ReleaseState.OFFLINE
    schedule = await p.ds.get_schedule_of_workflow(project, code)
    assert schedule is not None
    assert schedule.release_state is ReleaseState.OFFLINE
    [record, *_] = detail["publish_records"]["items"]
    assert (record["operation"], record["status"]) == ("offline", "success")
    assert "taken offline on the platform" in record["log"]


async def test_run_now_and_retry_happen_once_per_idempotency_key(platform: Platform) -> None:
    p, s = platform, uid()
    wf = await published_online(p, f"once-{s}")
    wid, project, code = wf["id"], wf["project_code"], wf["workflow_code"]
    key = {"Idempotency-Key": f"click-{s}"}
    answers = await asyncio.gather(
        *(p.api.post(f"/api/v1/workflows/{wid}/run", json={}, headers=key) for _ in range(3))
    )
    assert all(r.status_code in (200, 409) for r in answers), [r.text for r in answers]
    started = [r.json() for r in answers if r.status_code == 200]
    assert started
    assert len({a["run_id"] for a in started}) == 1
    page = await p.ds.list_workflow_instances(project, page_size=50, workflow_code=code)
    assert len(page.total_list) == 1

    # a failed publish retried twice (a double click) makes one new record
    p.emulator.add_fault("http_status", match=r"/release$", status=503)
    await p.call("POST", f"/api/v1/workflows/{wid}/publish", 202, json={"operation": "offline"})
    failed = await p.published(wid)
    assert failed["publish_status"] == "failed"
    p.emulator.clear_faults()
    record_id = failed["publish_records"]["items"][0]["id"]
    retry_key = {"Idempotency-Key": f"retry-{s}"}
    first = await p.api.post(f"/api/v1/publish-records/{record_id}/retry", headers=retry_key)
    again = await p.api.post(f"/api/v1/publish-records/{record_id}/retry", headers=retry_key)
    assert first.status_code == 201, first.text
    assert (again.status_code, again.json()["id"], again.headers.get("Idempotent-Replayed")) == (
        201,
        first.json()["id"],
        "true",
    )
    no_key = await p.api.post(f"/api/v1/publish-records/{record_id}/retry")
    assert no_key.status_code == 409
    records = await p.call("GET", f"/api/v1/workflows/{wid}/publish-records")
    assert sum(1 for r in records["items"] if r["retry_of"] == record_id) == 1


async def test_a_rename_updates_the_same_ds_workflow(platform: Platform) -> None:
    """DS upserts by name: a renamed workflow's next deploy made a second DS workflow, the first one kept running."""
    p, s = platform, uid()
    wf = await published_online(p, f"ren-{s}-old", schedule=SCHEDULE)
    wid, project, code = wf["id"], wf["project_code"], wf["workflow_code"]
    body = {"name": f"ren-{s}-new", "tasks": wf["tasks"], "schedule": SCHEDULE, "expected_version_no": 1}
    renamed = await p.call("PUT", f"/api/v1/workflows/{wid}", json=body)
    await p.call("POST", f"/api/v1/workflows/{wid}/approve", json={"version_no": renamed["current_version_no"]})
    detail = await publish(p, wid, "online")
    assert detail["workflow_code"] == code
    dag = await p.ds.get_workflow_definition(project, code)
    assert (dag.workflow_definition.name, dag.workflow_definition.release_state) == (
        f"ren-{s}-new",
        ReleaseState.ONLINE,
    )
    named = await p.ds.list_workflow_definitions(project, search_val=f"ren-{s}")
    assert [w.code for w in named.total_list] == [code]  # one DS workflow: no orphan under the old name
    schedule = await p.ds.get_schedule_of_workflow(project, code)
    assert schedule is not None
    assert schedule.release_state is ReleaseState.ONLINE


async def test_a_task_moved_next_to_its_producer_runs_after_it(platform: Platform) -> None:
    """Moving a task into the workflow that holds its lineage producer did not add the lineage edge: the task became
    a new entry task running beside its producer."""
    p, s = platform, uid()
    producer, other = await new_task(p, f"mig-{s}-producer"), await new_task(p, f"mig-{s}-other")
    consumer = await new_task(p, f"mig-{s}-consumer")
    home = await new_workflow(p, f"mig-{s}-home", [producer, other], [(producer, other)])
    away = await new_workflow(p, f"mig-{s}-away", [consumer], [])
    table = f"warehouse.mig_{s}"
    await p.send(LineageChanged(task_id=producer, write_tables=(table,)))
    await p.send(LineageChanged(task_id=consumer, read_tables=(table,)))

    async def flagged() -> dict[str, Any] | None:  # lineage across two workflows: a person decides
        d = await p.workflow(away["id"])
        return d if d["needs_attention"] else None

    await until(flagged, "the cross-workflow lineage flagged on the consumer's workflow")
    ask = {"task_id": consumer, "target_workflow_id": home["id"], "mode": "only_current", "allow_empty_source": True}
    preview = await p.call("POST", "/api/v1/migrations/preview", json=ask)
    assert preview["lineage_edges"] == [[producer, consumer]]
    assert consumer not in preview["target_after"]["entry_task_ids"]
    moved = await p.call(
        "POST",
        "/api/v1/migrations",
        json={**ask, "expected_source_version_no": 1, "expected_target_version_no": 1},
    )
    target = moved["target"]
    assert {(e["upstream_task_id"], e["downstream_task_id"]) for e in target["edges"]} == {
        (producer, other),
        (producer, consumer),
    }
    assert target["entry_task_ids"] == [producer]


async def test_archive_a_published_workflow_takes_it_offline_in_ds_and_keeps_its_history(platform: Platform) -> None:
    p, s = platform, uid()
    wf = await published_online(p, f"arch-{s}", schedule=SCHEDULE)
    wid, project, code = wf["id"], wf["project_code"], wf["workflow_code"]
    run = await p.call("POST", f"/api/v1/workflows/{wid}/run", json={})
    deleted = await p.api.delete(f"/api/v1/workflows/{wid}")
    assert deleted.status_code == 409
    assert deleted.json()["type"] == "/problems/workflow-published"
    archived = await p.call("POST", f"/api/v1/workflows/{wid}/archive")
    assert archived["status"] == "archived"
    detail = await p.published(wid)
    assert (detail["release_state"], detail["schedule_online"]) == ("OFFLINE", False)
    dag = await p.ds.get_workflow_definition(project, code)
    assert dag.workflow_definition.release_state is ReleaseState.OFFLINE
    assert (await p.api.post(f"/api/v1/workflows/{wid}/run", json={})).status_code == 409
    # the history stays: versions, publish records and the run
    assert detail["versions"]["total"] == 1
    assert {r["operation"] for r in detail["publish_records"]["items"]} == {"online", "offline"}
    executions = await p.call("GET", f"/api/v1/workflows/{wid}/executions")
    assert run["instance_ids"][0] in [e["instance_id"] for e in executions["executions"]]
    # its task is free, and can be deleted; lineage forgets it
    task = wf["tasks"][0]["task_id"]
    reader = await new_task(p, f"arch-{s}-reader")
    table = f"warehouse.arch_{s}"
    await p.send(LineageChanged(task_id=task, write_tables=(table,)))
    await p.send(LineageChanged(task_id=reader, read_tables=(table,)))

    async def depends() -> dict[str, Any] | None:
        t = await p.call("GET", f"/api/v1/tasks/{reader}")
        return t if t["upstream_task_ids"] == [task] else None

    await until(depends, "the reader depends on the archived workflow's task")
    assert (await p.api.delete(f"/api/v1/tasks/{task}")).status_code == 204

    async def forgotten() -> dict[str, Any] | None:
        t = await p.call("GET", f"/api/v1/tasks/{reader}")
        return t if t["upstream_task_ids"] == [] else None

    await until(forgotten, "lineage forgot the deleted task")


async def test_delete_a_draft_workflow(platform: Platform) -> None:
    p, s = platform, uid()
    a = await new_task(p, f"del-{s}-a")
    wf = await new_workflow(p, f"del-{s}", [a], [])
    assert (await p.api.delete(f"/api/v1/workflows/{wf['id']}", params={"expected_version_no": 1})).status_code == 204
    assert (await p.api.get(f"/api/v1/workflows/{wf['id']}")).status_code == 404
    again = await new_workflow(p, f"del-{s}", [a], [])
    assert again["name"] == f"del-{s}"


async def test_an_unknown_sql_datasource_is_said_when_the_task_is_saved(platform: Platform) -> None:
    p, s = platform, uid()
    p.emulator.add_datasource(f"dw-{s}", "POSTGRESQL")
    body = {"name": f"sql-{s}", "task_type": "SQL", "params": {"datasource_name": f"dw-{s}", "sql": "select 1"}}
    known = await p.call("POST", "/api/v1/tasks", 201, json=body)
    assert known["warnings"] == []
    unknown = await p.call(
        "POST", "/api/v1/tasks", 201, json={**body, "params": {"datasource_name": f"nope-{s}", "sql": "select 1"}}
    )
    [warning] = unknown["warnings"]
    assert warning["code"] == "unknown_datasource"
    assert f"nope-{s}" in warning["message"]


# -- found by the lifecycle state machine (tests/stateful) ------------------------------------------------------------


async def test_the_list_and_the_detail_agree_on_attention_after_publishes(platform: Platform) -> None:
    """A publish result cleared ``ds_attention`` as JSON null, which the list's filter counted: every published
    workflow was listed as needing attention while its detail said it did not."""
    p, s = platform, uid()
    for n in (1, 2):
        await published_online(p, f"att-{s}-{n}")
    rows = (await p.call("GET", "/api/v1/workflows", params={"name": f"att-{s}"}))["items"]
    assert len(rows) == 2
    for row in rows:
        detail = await p.workflow(int(row["id"]))
        assert (row["needs_attention"], detail["needs_attention"]) == (False, False), (row, detail)
    flagged = await p.call("GET", "/api/v1/workflows", params={"name": f"att-{s}", "needs_attention": "true"})
    assert flagged["total"] == 0, flagged


async def test_a_run_just_started_has_its_log_readable_without_the_run_id(platform: Platform) -> None:
    """Right after run now a task log of the run answered 404 without ``instance_id`` until history-sync's cache
    was refreshed (the contract: found among the workflow's last runs)."""
    p, s = platform, uid()
    wf = await published_online(p, f"log-{s}")
    wid = wf["id"]
    await p.call("GET", f"/api/v1/workflows/{wid}/executions")  # the cache is fresh (and empty) now
    [instance] = (await p.call("POST", f"/api/v1/workflows/{wid}/run", json={}))["instance_ids"]

    async def with_task() -> dict[str, Any] | None:
        detail = await p.call("GET", f"/api/v1/workflows/{wid}/instances/{instance}")
        return detail if detail["tasks"] else None

    [task] = (await until(with_task, "the run's task instance"))["tasks"]
    r = await p.api.get(f"/api/v1/workflows/{wid}/task-instances/{task['id']}/log")
    assert r.status_code == 200, r.text


async def test_an_online_retry_is_refused_while_the_workflow_is_offline_on_the_platform(platform: Platform) -> None:
    """A retry of a failed online publish put DS ONLINE again while the platform had the workflow offline."""
    p, s = platform, uid()
    wf = await published_online(p, f"rtr-{s}")
    wid, project, code = wf["id"], wf["project_code"], wf["workflow_code"]
    await p.call("POST", f"/api/v1/workflows/{wid}/online")
    p.emulator.add_fault("http_status", match=r"/release$", status=503)
    await p.call("POST", f"/api/v1/workflows/{wid}/publish", 202, json={"operation": "online"})
    failed = await p.published(wid)
    p.emulator.clear_faults()
    assert failed["publish_status"] == "failed"
    record_id = failed["publish_records"]["items"][0]["id"]
    # offline on the platform: DS takes it offline too, and the failed online publish must not undo that
    await p.call("POST", f"/api/v1/workflows/{wid}/offline")

    async def offline_in_ds() -> bool:
        dag = await p.ds.get_workflow_definition(project, code)
        return dag.workflow_definition.release_state is ReleaseState.OFFLINE

    await until(offline_in_ds, "DS takes the workflow offline with the platform")
    r = await p.api.post(f"/api/v1/publish-records/{record_id}/retry")
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("platform-offline"), r.text
    assert await offline_in_ds()
    records = await p.call("GET", f"/api/v1/workflows/{wid}/publish-records")
    assert not [x for x in records["items"] if x["retry_of"] == record_id]


async def test_a_first_deploy_never_takes_over_another_workflows_ds_workflow(platform: Platform) -> None:
    """A new workflow named like another's DS workflow (its name before a rename, not deployed since) took that DS
    workflow over on its first deploy, and its publish record stayed running."""
    p, s = platform, uid()
    first = await published_online(p, f"own-{s}-old")
    wid, project, code = first["id"], first["project_code"], first["workflow_code"]
    renamed = {"name": f"own-{s}-new", "tasks": first["tasks"], "expected_version_no": 1}
    await p.call("PUT", f"/api/v1/workflows/{wid}", json=renamed)  # renamed on the platform only
    task = await new_task(p, f"own-{s}-t2")
    second = await p.call("POST", "/api/v1/workflows", 201, json={"name": f"own-{s}-old", "tasks": [{"task_id": task}]})
    sid = second["id"]
    await p.call("POST", f"/api/v1/workflows/{sid}/approve", json={"version_no": 1})
    await p.call("POST", f"/api/v1/workflows/{sid}/publish", 202, json={"operation": "deploy"})
    done = await p.published(sid)
    assert done["publish_status"] == "failed", done
    assert done["workflow_code"] is None
    error = done["publish_records"]["items"][0]["error_message"]
    assert f"belongs to platform workflow {wid}" in error, error
    dag = await p.ds.get_workflow_definition(project, code)
    assert (dag.workflow_definition.name, dag.workflow_definition.release_state) == (
        f"own-{s}-old",
        ReleaseState.ONLINE,
    )
    assert [t.name for t in dag.task_definition_list] == [t["name"] for t in first["tasks"]]
