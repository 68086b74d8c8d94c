"""SUB_WORKFLOW tasks (issue 21): ``convert`` field by field (the child's DS workflow code, resolved by platform
workflow id), the refusal of a child not deployed, and equivalence with pydolphinscheduler 4.1.0's ``SubWorkflow``
(which still sends DS 3.2's ``SUB_PROCESS``/``processDefinitionCode``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from common.workflow import NodeAttrs, Param, SnapshotTask, SubWorkflowParams
from publisher.domain import convert
from publisher.domain.errors import SubWorkflowNotDeployed

from .test_pyds_equivalence import PROJECT, USER, normalise_task

CODE = 1_000_000_000_000
CHILD_CODE = 987_654_321_012
ATTRS = NodeAttrs(worker_group="etl", retries=1)


def child(task_id: int = 1, workflow_id: int = 42, **params: Any) -> SnapshotTask:
    p = SubWorkflowParams(workflow_id=workflow_id, **params)
    return SnapshotTask(task_id=task_id, name=f"run-{task_id}", task_type="SUB_WORKFLOW", params=p, node_attrs=ATTRS)


def test_the_child_is_sent_by_its_ds_code(snapshot: Any) -> None:
    t = child(local_params=(Param(name="day", value="${dt}"),))
    (d,) = json.loads(convert(snapshot([t]), {1: CODE}, sub_workflow_codes={42: CHILD_CODE}).task_definition_json)
    assert d["taskType"] == "SUB_WORKFLOW"  # DS 3.3 and 3.4 alike (DS 3.2: SUB_PROCESS)
    assert d["taskParams"] == {
        "workflowDefinitionCode": CHILD_CODE,
        "localParams": [{"prop": "day", "direct": "IN", "type": "VARCHAR", "value": "${dt}"}],
        "resourceList": [],
    }


def test_a_child_redeployed_under_another_code_changes_the_hash(snapshot: Any) -> None:
    snap = snapshot([child()])
    one = convert(snap, {1: CODE}, sub_workflow_codes={42: CHILD_CODE})
    other = convert(snap, {1: CODE}, sub_workflow_codes={42: CHILD_CODE + 1})
    assert one.content_hash != other.content_hash


def test_a_child_not_deployed_is_refused_naming_each_task_and_workflow(snapshot: Any) -> None:
    snap = snapshot([child(1, 42), child(2, 43), child(3, 42)])
    with pytest.raises(SubWorkflowNotDeployed) as caught:
        convert(snap, {1: CODE, 2: CODE + 2, 3: CODE + 3}, sub_workflow_codes={43: CHILD_CODE})
    err = caught.value
    assert "task 1 (run-1) runs workflow 42" in str(err)
    assert "task 3 (run-3) runs workflow 42" in str(err)
    assert "run-2" not in str(err)
    assert (err.extras["sub_workflow_ids"], err.extras["task_ids"], err.status) == ([42], [1, 3], 409)


@pytest.mark.parametrize("workflow_id", [0, -1, 2**63, "x"])
def test_a_bad_child_id_is_refused(workflow_id: Any) -> None:
    with pytest.raises(ValidationError, match="workflow_id"):
        SubWorkflowParams.model_validate({"workflow_id": workflow_id})


def test_sub_workflow_tasks_mean_what_the_sdk_sends(pyds: Any, fake_gateway: Any, snapshot: Any) -> None:
    """Field by field but for the SDK's DS 3.2 names: ``SUB_PROCESS`` for ``SUB_WORKFLOW`` and ``processDefinitionCode``
    for ``workflowDefinitionCode`` (DS 3.3+ reads the SDK's as code 0 and refuses it; a contract case). The SDK finds
    the child by name in the project at submit; ours by platform workflow id through the publisher's engine table."""
    tasks = [child(1, 42), child(2, 43)]
    codes = {1: CODE + 1, 2: CODE + 2}
    children = {"orders": (42, CHILD_CODE), "customers": (43, CHILD_CODE + 7)}
    entry = fake_gateway({t.name: codes[t.task_id] for t in tasks}, {}, {})
    entry.getWorkflowInfo = lambda user, project, name: {"id": 1, "name": name, "code": children[name][1]}
    wf = pyds.workflow.Workflow(name="parents", user=USER, project=PROJECT, worker_group="default")
    with wf:
        for t, name in zip(tasks, children, strict=True):
            a = t.node_attrs
            pyds.sub_workflow.SubWorkflow(
                name=t.name, workflow_name=name, worker_group=a.worker_group, fail_retry_times=a.retries
            )
    theirs = {t["code"]: t for t in json.loads(json.dumps(wf.get_define()["taskDefinitionJson"]))}
    sub_codes = dict(children.values())
    mine = {
        t["code"]: t
        for t in json.loads(convert(snapshot(tasks), codes, sub_workflow_codes=sub_codes).task_definition_json)
    }
    assert set(mine) == set(theirs)
    for code, sdk in theirs.items():
        assert sdk["taskType"] == "SUB_PROCESS"
        sdk_params = {
            k: v for k, v in sdk["taskParams"].items() if k not in ("dependence", "conditionResult", "waitStartTimeout")
        }
        sdk_params["workflowDefinitionCode"] = sdk_params.pop("processDefinitionCode")
        mine_task = {k: v for k, v in mine[code].items() if k not in ("cpuQuota", "memoryMax")}
        sdk_task = {k: v for k, v in sdk.items() if k not in ("cpuQuota", "memoryMax")}
        assert normalise_task(mine_task, sdk=False) == normalise_task(
            {**sdk_task, "taskType": "SUB_WORKFLOW", "taskParams": sdk_params}, sdk=True
        ), code
