"""Every node attribute reaches DS for every task type; the workflow's failure strategy (which DS sets per run and
per schedule, not per task) follows its tasks and is part of the content hash."""

from __future__ import annotations

import json
from typing import Any

import pytest

from common.workflow import FailureStrategy, NodeAttrs, SnapshotTask, TaskType, workflow_failure_strategy
from publisher.domain import convert
from publisher_testing.task_examples import (
    CHILD_WORKFLOW_ID,
    DATASOURCES,
    EXAMPLES,
    EXPECTED_FIELDS,
    NON_DEFAULT,
    around,
)

from .conftest import make_snapshot, make_task

CODE = 1_000_000_000_000


def _task(kind: TaskType, task_id: int = 1, **attrs: Any) -> SnapshotTask:
    return SnapshotTask(
        task_id=task_id, name=f"t{task_id}", task_type=kind, params=EXAMPLES[kind], node_attrs=NodeAttrs(**attrs)
    )


def _definition(kind: TaskType, **attrs: Any) -> dict[str, Any]:
    """The DS task definition of a ``kind`` task with these node attributes (between SHELL tasks: ``around``)."""
    tasks, edges = around(_task(kind, **attrs))
    defn = convert(
        make_snapshot(tasks, edges),
        {t.task_id: CODE + t.task_id for t in tasks},
        datasource_ids=DATASOURCES,
        sub_workflow_codes={CHILD_WORKFLOW_ID: 5_000_000_000_000},
    )
    (d,) = [d for d in json.loads(defn.task_definition_json) if d["code"] == CODE + 1]
    return d  # type: ignore[no-any-return]


def test_every_type_is_covered() -> None:
    assert set(EXAMPLES) == set(TaskType)


def test_every_node_attribute_but_the_failure_strategy_is_checked() -> None:
    assert set(NON_DEFAULT) == set(NodeAttrs.model_fields) - {"failure_strategy"}


@pytest.mark.parametrize("kind", list(TaskType))
def test_each_node_attribute_reaches_the_task_definition(kind: TaskType) -> None:
    default = _definition(kind)
    changed = _definition(kind, **NON_DEFAULT)
    assert changed["taskType"] == kind
    assert {f: changed[f] for f in EXPECTED_FIELDS} == EXPECTED_FIELDS
    # and each one on its own, so an attribute that only shows up together with another one is caught too
    for attr, value in NON_DEFAULT.items():
        alone = {attr: value, "timeout_minutes": 12} if attr == "timeout_strategy" else {attr: value}
        got = _definition(kind, **alone)
        differs = {f: got[f] for f in EXPECTED_FIELDS if got[f] != default[f]}
        # an open timeout without a strategy is sent as WARN (the DS UI default)
        wanted = {f: EXPECTED_FIELDS[f] for f in differs} | (
            {"timeoutNotifyStrategy": "WARN"} if attr == "timeout_minutes" else {}
        )
        assert differs, f"{kind} {attr}={value!r} changed no DS task field"
        assert differs == wanted, (kind, attr)


@pytest.mark.parametrize("kind", list(TaskType))
def test_the_failure_strategy_is_no_task_field(kind: TaskType) -> None:
    end, cont = _definition(kind, failure_strategy="END"), _definition(kind, failure_strategy="CONTINUE")
    assert end == cont
    assert not any("failure" in f.lower() for f in end)


@pytest.mark.parametrize(
    ("strategies", "expected"),
    [
        (["END"], "END"),
        (["CONTINUE"], "CONTINUE"),
        (["CONTINUE", "CONTINUE"], "CONTINUE"),
        (["CONTINUE", "END", "CONTINUE"], "END"),
        ([], "END"),
    ],
)
def test_the_workflow_failure_strategy_is_end_when_any_task_says_end(strategies: list[str], expected: str) -> None:
    tasks = [make_task(i, failure_strategy=s) for i, s in enumerate(strategies, 1)]
    assert workflow_failure_strategy(tasks) is FailureStrategy(expected)
    if tasks:
        defn = convert(make_snapshot(tasks), {t.task_id: CODE + t.task_id for t in tasks})
        assert defn.failure_strategy == expected


def test_a_change_of_the_workflow_failure_strategy_changes_the_hash_only() -> None:
    codes = {1: CODE + 1, 2: CODE + 2}
    end = convert(
        make_snapshot([make_task(1, failure_strategy="END"), make_task(2, failure_strategy="CONTINUE")]), codes
    )
    cont = convert(make_snapshot([make_task(1, failure_strategy="CONTINUE"), make_task(2)]), codes)
    both_cont = convert(
        make_snapshot([make_task(1, failure_strategy="CONTINUE"), make_task(2, failure_strategy="CONTINUE")]), codes
    )
    assert (end.failure_strategy, cont.failure_strategy, both_cont.failure_strategy) == ("END", "END", "CONTINUE")
    assert end.content_hash == cont.content_hash  # still END: the same DS content, nothing to republish
    assert both_cont.content_hash != end.content_hash  # the schedule's strategy changes: republish
    assert both_cont.task_definition_json == end.task_definition_json
    assert both_cont.schedule_json == end.schedule_json
