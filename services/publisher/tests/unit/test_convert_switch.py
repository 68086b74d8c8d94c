"""SWITCH tasks (issue 21): ``convert`` field by field (platform task ids become DS codes in ``switchResult``; the
branch edges are relations), a branch that is not an edge of the workflow refused, the params' own rules, and
equivalence with pydolphinscheduler 4.1.0's ``Switch`` (``SwitchCondition`` of ``Branch``es and a ``Default``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from common.workflow import NodeAttrs, Param, ShellParams, SnapshotTask, SwitchParams, branch_problems
from publisher.domain import convert
from publisher.domain.errors import InvalidDag

from .test_pyds_equivalence import PROJECT, USER, assert_branching_task_as_sdk

CODE = 1_000_000_000_000
ATTRS = NodeAttrs(worker_group="etl", retries=1)
#: conditions as DS wants them: a text parameter's value is substituted in quotes (``'${mode}'`` would not work)
CASES = [{"condition": "${region} == 'eu'", "task_id": 3}, {"condition": "${rows} > 1000 && ${mode} != 'dry'",
                                                             "task_id": 4}]  # fmt: skip


def shell(task_id: int) -> SnapshotTask:
    return SnapshotTask(
        task_id=task_id, name=f"t{task_id}", task_type="SHELL", params=ShellParams(script=f"echo {task_id}")
    )


def switch(task_id: int = 2, **params: Any) -> SnapshotTask:
    p = SwitchParams.model_validate({"cases": CASES, "default_task_id": 5, **params})
    return SnapshotTask(task_id=task_id, name="route", task_type="SWITCH", params=p, node_attrs=ATTRS)


#: 1 -> 2 (SWITCH) -> 3, 4 (cases), 5 (default)
EDGES = [(1, 2), (2, 3), (2, 4), (2, 5)]


def codes_of(*ids: int) -> dict[int, int]:
    return {i: CODE + i for i in ids}


def test_task_ids_become_codes_and_the_branches_are_relations(snapshot: Any) -> None:
    local = (Param(name="region", value="eu"),)
    tasks = [shell(1), switch(local_params=local), shell(3), shell(4), shell(5)]
    codes = codes_of(1, 2, 3, 4, 5)
    defn = convert(snapshot(tasks, EDGES), codes)
    (d,) = [t for t in json.loads(defn.task_definition_json) if t["taskType"] == "SWITCH"]
    assert d["code"] == codes[2]
    assert (d["workerGroup"], d["failRetryTimes"]) == ("etl", 1)
    assert d["taskParams"] == {
        "switchResult": {
            "dependTaskList": [
                {"condition": "${region} == 'eu'", "nextNode": codes[3]},
                {"condition": "${rows} > 1000 && ${mode} != 'dry'", "nextNode": codes[4]},
            ],
            "nextNode": codes[5],
        },
        "localParams": [{"prop": "region", "direct": "IN", "type": "VARCHAR", "value": "eu"}],
        "resourceList": [],
    }
    relations = {(r["preTaskCode"], r["postTaskCode"]) for r in json.loads(defn.task_relation_json)}
    assert {(codes[2], codes[3]), (codes[2], codes[4]), (codes[2], codes[5])} <= relations


def test_without_a_default_the_default_branch_is_null(snapshot: Any) -> None:
    tasks = [shell(1), switch(default_task_id=None), shell(3), shell(4)]
    defn = convert(snapshot(tasks, [(1, 2), (2, 3), (2, 4)]), codes_of(1, 2, 3, 4))
    (d,) = [t for t in json.loads(defn.task_definition_json) if t["taskType"] == "SWITCH"]
    assert d["taskParams"]["switchResult"]["nextNode"] is None
    assert [c["nextNode"] for c in d["taskParams"]["switchResult"]["dependTaskList"]] == [CODE + 3, CODE + 4]


def test_a_changed_condition_changes_the_hash(snapshot: Any) -> None:
    codes = codes_of(1, 2, 3, 4, 5)
    one = convert(snapshot([shell(1), switch(), shell(3), shell(4), shell(5)], EDGES), codes)
    cases = [{**CASES[0], "condition": "${region} == 'us'"}, CASES[1]]
    other = convert(snapshot([shell(1), switch(cases=cases), shell(3), shell(4), shell(5)], EDGES), codes)
    assert one.content_hash != other.content_hash


def test_a_branch_that_is_no_edge_is_refused(snapshot: Any) -> None:
    tasks = [shell(1), switch(), shell(3), shell(4), shell(5)]
    with pytest.raises(InvalidDag, match=r"default_task_id \[5\]") as err:
        convert(snapshot(tasks, [(1, 2), (2, 3), (2, 4), (4, 5)]), codes_of(1, 2, 3, 4, 5))
    assert err.value.extras["task_ids"] == [5]


def test_branch_problems_name_the_field_of_each_target() -> None:
    p = switch().params
    assert branch_problems({2: p}, EDGES) == []
    problems = branch_problems({2: p}, [(1, 2), (2, 3)])
    assert [(x["code"], x["task_id"], x["field"], x["task_ids"]) for x in problems] == [
        ("branch_target_not_downstream", 2, "params.cases", [4]),
        ("branch_target_not_downstream", 2, "params.default_task_id", [5]),
    ]
    assert problems[0]["message"] == "SWITCH task 2: cases [4] are not its direct downstream tasks in this workflow"
    # a downstream task that no branch names is allowed (DS 3.4.2 runs it whichever branch is taken)
    assert branch_problems({2: p}, [*EDGES, (2, 6)]) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"cases": []}, "cases"),
        ({"cases": [{"condition": "", "task_id": 3}]}, "condition"),
        ({"cases": [{"condition": "  \t", "task_id": 3}]}, "condition must not be blank"),
        ({"cases": [{"task_id": 3}]}, "condition"),
        ({"cases": [{"condition": "true"}]}, "task_id"),
        ({"cases": [{"condition": "true", "task_id": 0}]}, "task_id"),
        ({"default_task_id": [5, 6]}, "default_task_id"),
        ({"default_task_id": 0}, "default_task_id"),
        ({"default_task_id": 3}, "task 3 is the target of more than one branch"),
        ({"cases": [{"condition": "a", "task_id": 3}, {"condition": "b", "task_id": 3}]}, "more than one branch"),
        ({"cases": [{"condition": "x" * 8193, "task_id": 3}]}, "condition"),
    ],
)
def test_bad_switches_are_refused(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SwitchParams.model_validate({"cases": CASES, "default_task_id": 5, **params})


def test_switch_means_what_the_sdk_sends(pyds: Any, fake_gateway: Any, snapshot: Any) -> None:
    """The same DAG with the SDK's ``Switch(condition=SwitchCondition(Branch(cond, t3), Branch(cond, t4),
    Default(t5)))``: the task field by field and the relations, including the edges the SDK draws itself from the
    switch to every branch; the SDK's ``waitStartTimeout`` (which SWITCH ignores) left out."""
    tasks = [shell(1), switch(), shell(3), shell(4), shell(5)]
    codes = codes_of(1, 2, 3, 4, 5)
    fake_gateway({t.name: codes[t.task_id] for t in tasks}, {}, {})
    wf = pyds.workflow.Workflow(name="routing", user=USER, project=PROJECT, worker_group="default")
    with wf:
        sdk = {t.task_id: pyds.shell.Shell(name=t.name, command=f"echo {t.task_id}") for t in tasks if t.task_id != 2}
        s = pyds.switch
        route = s.Switch(
            name="route",
            condition=s.SwitchCondition(
                s.Branch(condition=CASES[0]["condition"], task=sdk[3]),
                s.Branch(condition=CASES[1]["condition"], task=sdk[4]),
                s.Default(task=sdk[5]),
            ),
            worker_group="etl",
            fail_retry_times=1,
        )
        sdk[1] >> route
    defn = convert(snapshot(tasks, EDGES), codes)
    assert_branching_task_as_sdk(
        defn.task_definition_json, defn.task_relation_json, wf.get_define(), codes[2], ("switchResult",)
    )


def test_without_a_default_the_sdk_sends_an_empty_text_where_we_send_null(pyds: Any, fake_gateway: Any) -> None:
    """The one difference: the SDK's ``nextNode`` without a ``Default`` is ``""``; DS's ``Long`` reads it as null,
    which is what we send."""
    fake_gateway({"t3": CODE + 3, "route": CODE + 2}, {}, {})
    wf = pyds.workflow.Workflow(name="no-default", user=USER, project=PROJECT, worker_group="default")
    with wf:
        t3 = pyds.shell.Shell(name="t3", command="echo 3")
        s = pyds.switch
        s.Switch(name="route", condition=s.SwitchCondition(s.Branch(condition="true", task=t3)))
    (route,) = [t for t in wf.get_define()["taskDefinitionJson"] if t["taskType"] == "SWITCH"]
    assert route["taskParams"]["switchResult"] == {"dependTaskList": [{"condition": "true", "nextNode": CODE + 3}],
                                                   "nextNode": ""}  # fmt: skip
