"""The task list's "open in DolphinScheduler" link to the task's node (issue 21 item 6), through the gateway's
``/api/v1`` on the running platform: the publisher tells each task's DS code in ``publish.completed``, the definition
service keeps the codes of what DS holds, the gateway builds the link. Every code is checked against the one the DS
emulator holds for that task, after a first deploy and after re-publishes that change, add and remove tasks.
"""

from __future__ import annotations

from typing import Any

import pytest

from common.testing.gateway_api import GatewayApi

from .conftest import Platform, uid, until

pytestmark = pytest.mark.slow


async def task_detail(api: GatewayApi, task_id: int) -> dict[str, Any]:
    detail: dict[str, Any] = await api.call("GET", f"/tasks/{task_id}")
    return detail


async def list_rows(api: GatewayApi, name: str) -> dict[int, dict[str, Any]]:
    """The task list's rows of the tasks whose name contains ``name``, by id."""
    page = await api.call("GET", "/tasks", params={"name": name, "page_size": 50})
    assert page["unavailable"] == [], page
    return {int(t["id"]): t for t in page["items"]}


async def ds_codes(p: Platform, project_code: int, workflow_code: int) -> dict[str, tuple[int, dict[str, Any]]]:
    """Task name -> (code, task params) of the definition the DS emulator holds."""
    dag = await p.ds.get_workflow_definition(project_code, workflow_code)
    return {t.name: (t.code, t.task_params) for t in dag.task_definition_list}


async def deploy(api: GatewayApi, workflow_id: int) -> dict[str, Any]:
    detail = await api.workflow(workflow_id)
    await api.approve(workflow_id, int(detail["current_version_no"]))
    await api.publish(workflow_id, "deploy")
    done = await api.settled(workflow_id)
    assert done["publish_status"] == "published", done["publish_records"]
    return done


async def test_the_task_list_links_to_the_task_node_ds_holds(platform: Platform) -> None:
    p = platform
    api = GatewayApi(p.api)
    ui = p.emulator.rest_url + "/ui"
    s = uid()
    prefix = f"tlink-{s}"
    names = {k: f"{prefix}-{k}" for k in "abc"}
    a, b, c = [await api.task(names[k], script=f"echo {k}") for k in "abc"]
    created = await api.call(
        "POST",
        "/workflows",
        201,
        json={
            "name": prefix,
            "tasks": [{"task_id": a}, {"task_id": b}],
            "edges": [{"upstream_task_id": a, "downstream_task_id": b}],
        },
    )
    wid = int(created["id"])

    # never published: no code, no link (the workflow is not in DS)
    rows = await list_rows(api, prefix)
    assert {t: (rows[t]["ds_task_code"], rows[t]["ds_link"]) for t in (a, b, c)} == {
        a: (None, None),
        b: (None, None),
        c: (None, None),
    }

    def node(project_code: int, code: int) -> str:
        return f"{ui}/projects/{project_code}/task/instances?taskCode={code}"

    # --- first deploy: each task's link carries the code DS holds for it -------------------------------------------
    done = await deploy(api, wid)
    project, workflow = int(done["project_code"]), int(done["workflow_code"])
    held = await ds_codes(p, project, workflow)
    assert set(held) == {names["a"], names["b"]}
    code_a, code_b = held[names["a"]][0], held[names["b"]][0]
    rows = await list_rows(api, prefix)
    assert (rows[a]["ds_task_code"], rows[a]["ds_link"]) == (code_a, node(project, code_a))
    assert (rows[b]["ds_task_code"], rows[b]["ds_link"]) == (code_b, node(project, code_b))
    assert (rows[c]["ds_task_code"], rows[c]["ds_link"]) == (None, None)  # in no workflow
    detail = await task_detail(api, b)
    assert (detail["ds_task_code"], detail["ds_link"]) == (code_b, node(project, code_b))

    # --- a new version changes b and adds c: until it is deployed, c is not in DS (no code: the workflow's link) -----
    b_now = await task_detail(api, b)
    changed = {
        "name": names["b"],
        "task_type": "SHELL",
        "params": {"script": "echo b v2"},
        "worker_group": "default",
        "expected_revision": b_now["revision"],
    }
    await api.call("PUT", f"/tasks/{b}", json=changed)
    current = await api.workflow(wid)
    edited = await api.call(
        "PUT",
        f"/workflows/{wid}",
        json={
            "name": prefix,
            "expected_version_no": current["current_version_no"],
            "tasks": [{"task_id": a}, {"task_id": b}, {"task_id": c}],
            "edges": [
                {"upstream_task_id": a, "downstream_task_id": b},
                {"upstream_task_id": b, "downstream_task_id": c},
            ],
        },
    )
    assert edited["current_version_no"] == 3  # v2 from the task change, v3 adds c
    rows = await list_rows(api, prefix)
    assert rows[b]["ds_task_code"] == code_b  # DS still holds b under its code
    assert rows[c]["ds_task_code"] is None
    assert rows[c]["ds_link"] == f"{ui}/projects/{project}/workflow/definitions/{workflow}"

    # --- re-publish: DS holds the changed b under the same code and c under a new one; the links follow -----------
    done = await deploy(api, wid)
    assert (int(done["project_code"]), int(done["workflow_code"])) == (project, workflow)
    held = await ds_codes(p, project, workflow)
    assert set(held) == set(names.values())
    assert held[names["b"]][1]["rawScript"] == "echo b v2"  # the change reached DS
    assert (held[names["a"]][0], held[names["b"]][0]) == (code_a, code_b)  # DS keeps a task's code
    code_c = held[names["c"]][0]

    async def linked() -> dict[int, dict[str, Any]] | None:
        found = await list_rows(api, prefix)
        return found if found[c]["ds_task_code"] is not None else None

    rows = await until(linked, "task c's DS code in the task list")
    for t, code in ((a, code_a), (b, code_b), (c, code_c)):
        assert (rows[t]["ds_task_code"], rows[t]["ds_link"]) == (code, node(project, code)), rows[t]
    detail = await task_detail(api, c)
    assert detail["ds_link"] == node(project, code_c)

    # --- a version without b, deployed: b is in no workflow and has no link; a and c keep theirs --------------------
    current = await api.workflow(wid)
    await api.call(
        "PUT",
        f"/workflows/{wid}",
        json={
            "name": prefix,
            "expected_version_no": current["current_version_no"],
            "tasks": [{"task_id": a}, {"task_id": c}],
            "edges": [{"upstream_task_id": a, "downstream_task_id": c}],
        },
    )
    await deploy(api, wid)
    held = await ds_codes(p, project, workflow)
    assert {n: v[0] for n, v in held.items()} == {names["a"]: code_a, names["c"]: code_c}
    rows = await list_rows(api, prefix)
    assert (rows[b]["workflow_id"], rows[b]["ds_task_code"], rows[b]["ds_link"]) == (None, None, None)
    assert (rows[a]["ds_link"], rows[c]["ds_link"]) == (node(project, code_a), node(project, code_c))
