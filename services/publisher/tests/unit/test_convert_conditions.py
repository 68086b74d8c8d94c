"""CONDITIONS tasks (issue 21): ``convert`` field by field (platform task ids become DS codes in ``dependence`` and
``conditionResult``; the branch edges are relations), a branch that is not an edge of the workflow refused, and
equivalence with pydolphinscheduler 4.1.0's ``Condition`` (``And``/``Or`` of ``SUCCESS``/``FAILURE``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from common.workflow import ConditionsParams, NodeAttrs, ShellParams, SnapshotTask, branch_problems
from publisher.domain import convert
from publisher.domain.errors import InvalidDag

from .test_pyds_equivalence import PROJECT, USER, assert_branching_task_as_sdk

CODE = 1_000_000_000_000
ATTRS = NodeAttrs(worker_group="etl", retries=1)


def shell(task_id: int) -> SnapshotTask:
    return SnapshotTask(
        task_id=task_id, name=f"t{task_id}", task_type="SHELL", params=ShellParams(script=f"echo {task_id}")
    )


def conditions(task_id: int = 3, **params: Any) -> SnapshotTask:
    p = ConditionsParams.model_validate(
        {
            "groups": [{"checks": [{"task_id": 1}, {"task_id": 2, "status": "FAILURE"}]}],
            "success_task_ids": [4],
            "failed_task_ids": [5],
            **params,
        }
    )
    return SnapshotTask(task_id=task_id, name="branch", task_type="CONDITIONS", params=p, node_attrs=ATTRS)


#: 1, 2 -> 3 (CONDITIONS) -> 4 (success), 5 (failure)
EDGES = [(1, 3), (2, 3), (3, 4), (3, 5)]


def codes_of(*ids: int) -> dict[int, int]:
    return {i: CODE + i for i in ids}


def test_task_ids_become_codes_and_the_branches_are_relations(snapshot: Any) -> None:
    tasks = [shell(1), shell(2), conditions(relation="OR"), shell(4), shell(5)]
    codes = codes_of(1, 2, 3, 4, 5)
    defn = convert(snapshot(tasks, EDGES), codes)
    (d,) = [t for t in json.loads(defn.task_definition_json) if t["taskType"] == "CONDITIONS"]
    assert d["code"] == codes[3]
    assert (d["workerGroup"], d["failRetryTimes"]) == ("etl", 1)
    assert d["taskParams"] == {
        "dependence": {
            "relation": "OR",
            "dependTaskList": [
                {
                    "relation": "AND",
                    "dependItemList": [
                        {"depTaskCode": codes[1], "status": "SUCCESS"},
                        {"depTaskCode": codes[2], "status": "FAILURE"},
                    ],
                }
            ],
        },
        "conditionResult": {"successNode": [codes[4]], "failedNode": [codes[5]]},
        "localParams": [],
        "resourceList": [],
    }
    relations = {(r["preTaskCode"], r["postTaskCode"]) for r in json.loads(defn.task_relation_json)}
    assert {(codes[3], codes[4]), (codes[3], codes[5])} <= relations


def test_a_branch_that_is_no_edge_is_refused(snapshot: Any) -> None:
    tasks = [shell(1), shell(2), conditions(), shell(4), shell(5)]
    with pytest.raises(InvalidDag, match=r"failed_task_ids \[5\]") as err:
        convert(snapshot(tasks, [(1, 3), (2, 3), (3, 4), (4, 5)]), codes_of(1, 2, 3, 4, 5))
    assert err.value.extras["task_ids"] == [5]


def test_a_checked_task_must_be_directly_upstream() -> None:
    p = conditions().params
    problems = branch_problems({3: p}, [(1, 2), (2, 3), (3, 4), (3, 5)])
    assert [(x["code"], x["field"], x["task_ids"]) for x in problems] == [
        ("condition_task_not_upstream", "params.groups", [1])
    ]
    assert branch_problems({3: p}, EDGES) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"groups": []}, "groups"),
        ({"groups": [{"checks": []}]}, "checks"),
        ({"success_task_ids": []}, "success_task_ids"),
        ({"failed_task_ids": []}, "failed_task_ids"),
        ({"failed_task_ids": [4]}, r"in both success_task_ids and failed_task_ids"),
        ({"success_task_ids": [4, 4]}, "success_task_ids lists a task twice"),
        ({"groups": [{"checks": [{"task_id": 1, "status": "RUNNING"}]}]}, "status"),
        ({"relation": "XOR"}, "relation"),
        ({"groups": [{"checks": [{"task_id": 0}]}]}, "task_id"),
    ],
)
def test_bad_conditions_are_refused(params: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"groups": [{"checks": [{"task_id": 1}]}], "success_task_ids": [4], "failed_task_ids": [5]}
    with pytest.raises(ValidationError, match=message):
        ConditionsParams.model_validate({**base, **params})


def test_conditions_mean_what_the_sdk_sends(pyds: Any, fake_gateway: Any, snapshot: Any) -> None:
    """The same DAG with the SDK's ``Condition(condition=Or(And(SUCCESS(t1), FAILURE(t2))), success_task=t4,
    failed_task=t5)``: the task field by field (the SDK also sends ``waitStartTimeout``, which CONDITIONS ignores)
    and the relations, including the edges the SDK draws itself from the condition to both branches."""
    tasks = [shell(1), shell(2), conditions(relation="OR"), shell(4), shell(5)]
    codes = codes_of(1, 2, 3, 4, 5)
    names = {t.name: codes[t.task_id] for t in tasks}
    fake_gateway(names, {}, {})
    wf = pyds.workflow.Workflow(name="daily-load", user=USER, project=PROJECT, worker_group="default")
    with wf:
        sdk = {t.task_id: pyds.shell.Shell(name=t.name, command=f"echo {t.task_id}") for t in tasks if t.task_id != 3}
        c = pyds.condition
        c.Condition(
            name="branch",
            condition=c.Or(c.And(c.SUCCESS(sdk[1]), c.FAILURE(sdk[2]))),
            success_task=sdk[4],
            failed_task=sdk[5],
            worker_group="etl",
            fail_retry_times=1,
        )
    defn = convert(snapshot(tasks, EDGES), codes)
    assert_branching_task_as_sdk(
        defn.task_definition_json, defn.task_relation_json, wf.get_define(), codes[3], ("dependence", "conditionResult")
    )
