"""DEPENDENT links (issue 20): a snapshot's ``external_dependencies`` become DS 3.4 DEPENDENT tasks, checked against
what pydolphinscheduler 4.1.0's ``Dependent`` task sends for the same wait."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

from common.workflow import DependentCycle, ExternalDependency
from publisher.domain import convert
from publisher.domain.errors import UpstreamNotDeployed

from .conftest import make_snapshot, make_task

UPSTREAM = {"project": 3_000_000_000_001, "workflow": 3_000_000_000_002, "task": 3_000_000_000_003}


def link(**kw: Any) -> ExternalDependency:
    base: dict[str, Any] = {
        "upstream_workflow_id": 9,
        "upstream_task_id": 40,
        "task_ids": (1, 2),
        "upstream_project_code": UPSTREAM["project"],
        "upstream_workflow_code": UPSTREAM["workflow"],
        "upstream_workflow_name": "ods-load",
        "upstream_task_name": "load orders",
    }
    return ExternalDependency(**{**base, **kw})


def snapshot_with(*links: ExternalDependency) -> Any:
    return make_snapshot([make_task(1), make_task(2), make_task(3)], [(1, 3), (2, 3)], external_dependencies=links)


CODES = {1: 101, 2: 102, 3: 103, -40: 140, -41: 141}


def test_a_link_becomes_a_dependent_task_before_the_tasks_that_wait() -> None:
    defn = convert(snapshot_with(link()), CODES, upstream_task_codes={40: UPSTREAM["task"]})
    tasks = {t["code"]: t for t in json.loads(defn.task_definition_json)}
    dep = tasks[140]
    assert (dep["taskType"], dep["name"]) == ("DEPENDENT", "wait ods-load.load orders")
    assert dep["taskParams"]["dependence"] == {
        "relation": "AND",
        "dependTaskList": [
            {
                "relation": "AND",
                "dependItemList": [
                    {
                        "dependentType": "DEPENDENT_ON_TASK",
                        "projectCode": UPSTREAM["project"],
                        "definitionCode": UPSTREAM["workflow"],
                        "depTaskCode": UPSTREAM["task"],
                        "cycle": "day",
                        "dateValue": "today",
                        "parameterPassing": False,
                    }
                ],
            }
        ],
        "checkInterval": 10,
        "failurePolicy": "DEPENDENT_FAILURE_FAILURE",
    }
    relations = {(r["preTaskCode"], r["postTaskCode"]) for r in json.loads(defn.task_relation_json)}
    assert relations == {(0, 140), (140, 101), (140, 102), (101, 103), (102, 103)}
    assert defn.task_codes[-40] == 140
    # the DEPENDENT node comes first (ascending node id), so the output stays canonical
    assert [t["code"] for t in json.loads(defn.task_definition_json)] == [140, 101, 102, 103]


def test_links_change_the_hash_and_a_snapshot_without_links_converts_as_before() -> None:
    plain = convert(snapshot_with(), CODES)
    linked = convert(snapshot_with(link()), CODES, upstream_task_codes={40: UPSTREAM["task"]})
    assert plain.content_hash != linked.content_hash
    assert "DEPENDENT" not in plain.task_definition_json
    weekly = convert(
        snapshot_with(link(cycle=DependentCycle.WEEK, date_value="lastWeek")),
        CODES,
        upstream_task_codes={40: UPSTREAM["task"]},
    )
    assert weekly.content_hash != linked.content_hash


def test_versions_from_ds_apply_to_dependent_tasks_too() -> None:
    defn = convert(
        snapshot_with(link()), CODES, upstream_task_codes={40: UPSTREAM["task"]}, task_versions={140: 4, 101: 2}
    )
    versions = {t["code"]: t["version"] for t in json.loads(defn.task_definition_json)}
    assert versions == {140: 4, 101: 2, 102: 1, 103: 1}
    relations = json.loads(defn.task_relation_json)
    assert {r["postTaskVersion"] for r in relations if r["postTaskCode"] == 140} == {4}


def test_an_upstream_that_is_not_deployed_is_refused_naming_every_link() -> None:
    undeployed = link(
        upstream_task_id=41, upstream_workflow_id=8, upstream_project_code=None, upstream_workflow_code=None
    )
    with pytest.raises(UpstreamNotDeployed) as caught:
        convert(snapshot_with(link(), undeployed), CODES, upstream_task_codes={40: UPSTREAM["task"]})
    assert caught.value.extras["upstream_workflow_ids"] == [8]
    assert "task 41" in str(caught.value)
    with pytest.raises(UpstreamNotDeployed) as caught:
        convert(snapshot_with(link()), CODES)  # the upstream task has no DS code (never published)
    assert caught.value.extras["upstream_task_ids"] == [40]


def test_a_name_clash_with_a_task_is_resolved() -> None:
    snap = make_snapshot([make_task(1, name="wait ods-load.load orders")], external_dependencies=(link(task_ids=(1,)),))
    defn = convert(snap, CODES, upstream_task_codes={40: UPSTREAM["task"]})
    names = sorted(t["name"] for t in json.loads(defn.task_definition_json))
    assert names == ["wait ods-load.load orders", "wait ods-load.load orders [40]"]


def test_the_dependence_means_what_the_sdk_sends(pyds: Any, fake_gateway: Any) -> None:
    """pydolphinscheduler's ``Dependent`` for the same wait: the same item, relation and cycle; ours adds
    ``dependentType``, ``parameterPassing``, ``checkInterval`` and ``failurePolicy`` (DS 3.4 fields the SDK leaves
    to DS's defaults; explicit here so the DS UI shows what runs)."""
    dependent = importlib.import_module("pydolphinscheduler.tasks.dependent")
    entry = fake_gateway({}, {}, {})

    def get_dependent_info(project: str, workflow: str, task: str | None) -> dict[str, int]:
        assert (project, workflow, task) == ("analytics", "ods-load", "load orders")
        # the SDK reads processDefinitionCode (DS 3.2's key); DS 3.3+ answers workflowDefinitionCode too
        return {
            "projectCode": UPSTREAM["project"],
            "processDefinitionCode": UPSTREAM["workflow"],
            "workflowDefinitionCode": UPSTREAM["workflow"],
            "taskDefinitionCode": UPSTREAM["task"],
        }

    entry.getDependentInfo = get_dependent_info
    for cycle, value in [
        (DependentCycle.DAY, "today"),
        (DependentCycle.HOUR, "last1Hour"),
        (DependentCycle.MONTH, "lastMonthEnd"),
    ]:
        item = dependent.DependentItem(
            project_name="analytics", workflow_name="ods-load", dependent_task_name="load orders", dependent_date=value
        )
        theirs = dependent.And(dependent.And(item)).get_define()
        ours = json.loads(
            convert(
                snapshot_with(link(cycle=cycle, date_value=value)), CODES, upstream_task_codes={40: UPSTREAM["task"]}
            ).task_definition_json
        )[0]["taskParams"]["dependence"]
        extra = {"dependentType", "parameterPassing"}
        mine = {
            "relation": ours["relation"],
            "dependTaskList": [
                {
                    "relation": group["relation"],
                    "dependItemList": [{k: v for k, v in i.items() if k not in extra} for i in group["dependItemList"]],
                }
                for group in ours["dependTaskList"]
            ],
        }
        assert mine == json.loads(json.dumps(theirs)), (cycle, value)
