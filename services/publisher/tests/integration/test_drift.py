"""``GET /internal/workflows/{id}/drift`` against the DS emulator: in sync after a deploy, drifted after someone
edits the workflow in DS, 404 when never deployed."""

from __future__ import annotations

import json

import pytest

from .conftest import Harness, request, shell, snapshot, sql

pytestmark = pytest.mark.timeout(180)


async def test_drift_check_reads_back_and_compares(harness: Harness) -> None:
    assert harness.client is not None
    harness.emulator.add_datasource("warehouse", "POSTGRESQL")
    snap = snapshot(301, [shell(1, "echo extract"), sql(2)], [(1, 2)])
    req = request(snap, "deploy")
    await harness.send(req)
    rec = await harness.record(req.request_id)
    assert rec.status == "success", rec.log

    body = (await harness.client.get("/internal/workflows/301/drift")).json()
    assert body["status"] == "in_sync", body
    assert body["differences"] == []
    assert body["ds_hash"] == body["expected_ds_hash"]
    assert body["last_deployed_hash"] == rec.content_hash
    assert body["workflow_code"] == rec.engine_workflow_code

    # someone edits the shell script and drops the edge in the DS UI
    dag = await harness.ds.get_workflow_definition(rec.project_code, rec.engine_workflow_code)
    tasks = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in dag.task_definition_list]
    for t in tasks:
        if t["taskType"] == "SHELL":
            t["taskParams"]["rawScript"] = "echo hacked"
    roots = [r for r in dag.workflow_task_relation_list if r.pre_task_code == 0]
    relations = [
        {"name": "", "preTaskCode": 0, "preTaskVersion": 0, "postTaskCode": t["code"], "postTaskVersion": t["version"],
         "conditionType": "NONE", "conditionParams": {}}
        for t in tasks
    ]  # fmt: skip
    assert len(roots) == 1
    await harness.ds.update_workflow_definition(
        rec.project_code,
        rec.engine_workflow_code,
        name=dag.workflow_definition.name,
        task_definition_json=json.dumps(tasks),
        task_relation_json=json.dumps(relations),
    )
    body = (await harness.client.get("/internal/workflows/301/drift")).json()
    assert body["status"] == "drifted", body
    assert body["ds_hash"] != body["expected_ds_hash"]
    text = " | ".join(body["differences"])
    assert "task_params.rawScript changed in DS" in text
    assert "relations differ" in text
    assert "task_params.sql" not in text

    missing = await harness.client.get("/internal/workflows/999999/drift")
    assert missing.status_code == 404
