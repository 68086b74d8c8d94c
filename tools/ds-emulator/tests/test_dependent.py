"""DEPENDENT tasks (issue 20): their params are checked when a workflow is saved (no more leniently than DS 3.4.2),
and at run time a DEPENDENT task succeeds only when the upstream task succeeded in every period it checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from ds_emulator.errors import DsError
from ds_emulator.state import Emulator, Workflow, dependent_intervals, dependent_params_valid

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


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"dependence": {"relation": "AND", "dependTaskList": []}},
        params(),
        params(item(cycle="year")),
        params(item(cycle="hour", dateValue="today")),
        params(item(dateValue="thisMonthEnd", cycle="month")),
        params(item(projectCode=0)),
        params(item(definitionCode=None)),
        params(item(depTaskCode=-1)),
        params(item(dependentType="DEPENDENT_ON_NOTHING")),
        params(item(), relation="XOR"),
        params(item(), checkInterval=0),
        params(item(), failurePolicy="IGNORE"),
    ],
)
def test_invalid_params_are_refused(bad: dict[str, Any]) -> None:
    assert not dependent_params_valid(bad)


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
