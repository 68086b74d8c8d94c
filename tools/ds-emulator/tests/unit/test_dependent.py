"""DEPENDENT tasks (issue 20): their params are checked when a workflow is saved (no more leniently than DS 3.4.2),
and at run time a DEPENDENT task succeeds only when the upstream task succeeded in every period it checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from ds_emulator.dependent import dependent_intervals, dependent_params_status, dependent_params_valid
from ds_emulator.errors import DsError
from ds_emulator.model import Workflow
from ds_emulator.state import Emulator

T0 = datetime(2026, 12, 9, 10, 30, tzinfo=UTC).timestamp()  # a Wednesday


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def item(**kw: Any) -> dict[str, Any]:
    return {
        "dependentType": "DEPENDENT_ON_TASK",
        "projectCode": 11,
        "definitionCode": 22,
        "depTaskCode": 33,
        "cycle": "day",
        "dateValue": "today",
        "parameterPassing": False,
        **kw,
    }


def params(*items: dict[str, Any], **dependence: Any) -> dict[str, Any]:
    return {
        "dependence": {
            "relation": "AND",
            "dependTaskList": [{"relation": "AND", "dependItemList": list(items)}],
            "checkInterval": 10,
            "failurePolicy": "DEPENDENT_FAILURE_FAILURE",
            **dependence,
        },
        "localParams": [],
        "resourceList": [],
    }


def test_valid_params_and_the_sdk_shape_are_accepted() -> None:
    assert dependent_params_valid(params(item()))
    sdk = {"dependence": {"relation": "AND", "dependTaskList": [{"relation": "AND", "dependItemList": [item()]}]}}
    for key in ("dependentType", "parameterPassing"):
        del sdk["dependence"]["dependTaskList"][0]["dependItemList"][0][key]
    assert dependent_params_valid(sdk)


#: refused by DS 3.4.2 itself on save: cannot be read into DependentParameters (10001, from the api and common
#: bytecode) or ``checkParameters`` is false (50020, from the DS source: task-api 3.4.x is not served)
DS_REFUSES: list[tuple[Any, str]] = [
    ([], "REQUEST_PARAMS_NOT_VALID_ERROR"),
    ("text", "REQUEST_PARAMS_NOT_VALID_ERROR"),
    (None, "REQUEST_PARAMS_NOT_VALID_ERROR"),
    ({"dependence": "all"}, "REQUEST_PARAMS_NOT_VALID_ERROR"),
    ({"dependence": {"dependTaskList": {"relation": "AND"}}}, "REQUEST_PARAMS_NOT_VALID_ERROR"),
    ({"dependence": {"dependTaskList": ["group"]}}, "REQUEST_PARAMS_NOT_VALID_ERROR"),
    ({"dependence": {"dependTaskList": [{"dependItemList": "item"}]}}, "REQUEST_PARAMS_NOT_VALID_ERROR"),
    (params(item(projectCode="eleven")), "REQUEST_PARAMS_NOT_VALID_ERROR"),
    (params(item(depTaskCode={"code": 33})), "REQUEST_PARAMS_NOT_VALID_ERROR"),
    (params(item(), checkInterval="often"), "REQUEST_PARAMS_NOT_VALID_ERROR"),
    ({}, "WORKFLOW_NODE_S_PARAMETER_INVALID"),
    ({"dependence": None}, "WORKFLOW_NODE_S_PARAMETER_INVALID"),
    ({"dependence": []}, "WORKFLOW_NODE_S_PARAMETER_INVALID"),  # Jackson reads [] as a null object
    ({"dependence": {"relation": "AND", "dependTaskList": []}}, "WORKFLOW_NODE_S_PARAMETER_INVALID"),
    ({"dependence": {"relation": "AND"}}, "WORKFLOW_NODE_S_PARAMETER_INVALID"),
    (params(item(), checkInterval=0), "WORKFLOW_NODE_S_PARAMETER_INVALID"),
    (params(item(), checkInterval=-10), "WORKFLOW_NODE_S_PARAMETER_INVALID"),
]
#: accepted by DS 3.4.2 on save, refused by the emulator (50020): DS could not run them as meant
EMULATOR_REFUSES: list[Any] = [
    params(),
    {"dependence": {"relation": "AND", "dependTaskList": [None]}},
    params(item(cycle="year")),
    params(item(cycle="hour", dateValue="today")),
    params(item(dateValue="thisMonthEnd", cycle="month")),
    params(item(projectCode=0)),
    params(item(definitionCode=None)),
    params(item(definitionCode="22")),  # DS coerces integer text; the converter never sends it
    params(item(depTaskCode=-1)),  # DS: all tasks of the workflow, not emulated
    params(item(dependentType="DEPENDENT_ON_NOTHING")),
    params(item(), relation="XOR"),  # DS reads an unknown enum name as null
    params(item(), checkInterval=1.5),
    params(item(), failurePolicy="IGNORE"),
]


@pytest.mark.parametrize(("bad", "status"), DS_REFUSES)
def test_what_ds_refuses_on_save_is_refused_with_its_status(bad: Any, status: str) -> None:
    assert not dependent_params_valid(bad)
    assert dependent_params_status(bad) == status


@pytest.mark.parametrize("bad", EMULATOR_REFUSES)
def test_what_ds_could_not_run_is_refused_too(bad: Any) -> None:
    assert dependent_params_status(bad) == "WORKFLOW_NODE_S_PARAMETER_INVALID"


def test_intervals_as_ds_lists_them() -> None:
    def days(value: str) -> list[str]:
        return [datetime.fromtimestamp(a, tz=UTC).strftime("%m-%d") for a, _ in dependent_intervals(value, T0)]

    assert days("today") == ["12-09"]
    assert days("last3Days") == ["12-06", "12-07", "12-08"]
    assert days("thisWeek") == ["12-07", "12-08", "12-09"]
    assert days("lastWeek") == ["11-30", "12-01", "12-02", "12-03", "12-04", "12-05", "12-06"]
    assert days("lastFriday") == ["12-04"]
    assert len(dependent_intervals("thisMonth", T0)) == 9
    assert days("lastMonthEnd") == ["11-30"]
    assert days("thisMonthBegin") == ["12-01"]
    [(start, end)] = dependent_intervals("currentHour", T0)
    assert end - start == 3600
    assert len(dependent_intervals("last3Hours", T0)) == 3


def shell(code: int, name: str, script: str = "echo ok") -> dict[str, Any]:
    return {"code": code, "name": name, "taskType": "SHELL", "taskParams": {"rawScript": script}}


def save(emu: Emulator, name: str, tasks: list[dict[str, Any]], edges: list[tuple[int, int]]) -> Workflow:
    user = emu.users[1]
    project = emu.project_by_name("p") or emu.create_project(user, "p", "")
    roots = {t["code"] for t in tasks} - {d for _, d in edges}
    relations = [{"preTaskCode": 0, "postTaskCode": c} for c in sorted(roots)]
    relations += [{"preTaskCode": u, "postTaskCode": d} for u, d in edges]
    return emu.save_workflow(
        user,
        project,
        name=name,
        description="",
        global_params="[]",
        timeout=0,
        execution_type="PARALLEL",
        locations=None,
        other_params_json=None,
        task_definition_json=json.dumps(tasks),
        task_relation_json=json.dumps(relations),
        existing=None,
    )


def test_saving_a_workflow_with_bad_dependent_params_is_refused() -> None:
    emu = Emulator(access_token="t", clock=Clock())
    bad = {"code": 5, "name": "wait", "taskType": "DEPENDENT", "taskParams": params(item(cycle="day", dateValue="x"))}
    with pytest.raises(DsError) as caught:
        save(emu, "down", [bad, shell(6, "b")], [(5, 6)])
    assert (caught.value.code, caught.value.msg) == (50020, "workflow node wait parameter invalid")
    # DS's status and message for each refusal it makes itself, the params as an object or as JSON text
    for bad_params, status in DS_REFUSES:
        for sent in (bad_params, json.dumps(bad_params)):
            task = {"code": 5, "name": "wait", "taskType": "DEPENDENT", "taskParams": sent}
            with pytest.raises(DsError) as caught:
                save(emu, "down", [task, shell(6, "b")], [(5, 6)])
            assert caught.value.status == status, bad_params
            expected = (
                (10001, "request parameter {0} is not valid")
                if status == "REQUEST_PARAMS_NOT_VALID_ERROR"
                else (50020, "workflow node wait parameter invalid")
            )
            assert (caught.value.code, caught.value.msg) == expected, bad_params
    for text in ("", "{not json"):
        task = {"code": 5, "name": "wait", "taskType": "DEPENDENT", "taskParams": text}
        with pytest.raises(DsError) as caught:
            save(emu, "down", [task, shell(6, "b")], [(5, 6)])
        assert caught.value.code == 10001, text


def test_a_dependent_task_waits_for_the_upstream_task_of_the_period() -> None:
    clock = Clock()
    emu = Emulator(access_token="t", clock=clock)
    up = save(emu, "up", [shell(101, "load"), shell(102, "broken", "exit 1")], [])
    wait_for = {"projectCode": up.project_code, "definitionCode": up.code}
    ok = {
        "code": 7,
        "name": "wait load",
        "taskType": "DEPENDENT",
        "taskParams": params(item(**wait_for, depTaskCode=101)),
    }
    bad = {
        "code": 8,
        "name": "wait broken",
        "taskType": "DEPENDENT",
        "taskParams": params(item(**wait_for, depTaskCode=102)),
    }
    down = save(emu, "down", [ok, bad, shell(9, "b"), shell(10, "c")], [(7, 9), (8, 10)])
    user = emu.users[1]
    up.release_state = down.release_state = "ONLINE"

    def outcomes(instance_id: int) -> dict[int, str]:
        return {p.task["code"]: p.outcome for p in emu.instances[instance_id].plans}

    # nothing ran upstream today: the DEPENDENT tasks fail, their downstream tasks do not run
    first = emu.start(user, down, failure_strategy="CONTINUE")
    assert outcomes(first) == {7: "FAILURE", 8: "FAILURE"}
    emu.start(user, up, failure_strategy="CONTINUE")
    clock.now += 60
    second = emu.start(user, down, failure_strategy="CONTINUE")
    assert outcomes(second) == {7: "SUCCESS", 8: "FAILURE", 9: "SUCCESS"}
    # the next day, yesterday's run does not count for ``today``
    clock.now += 86_400
    assert outcomes(emu.start(user, down, failure_strategy="CONTINUE"))[7] == "FAILURE"
