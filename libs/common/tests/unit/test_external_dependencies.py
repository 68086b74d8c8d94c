"""``StructureSnapshot.external_dependencies``: DEPENDENT links to other workflows' tasks."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from common.workflow import (
    DEPENDENT_DATE_VALUES,
    DependentCycle,
    ExternalDependency,
    ShellParams,
    SnapshotTask,
    StructureSnapshot,
)

#: the canonical JSON of a snapshot written before external dependencies existed (its hash must not change)
OLD_JSON = (
    '{"workflow_id":1,"workflow_name":"a","description":"","tasks":[{"task_id":1,"name":"t","task_type":"SHELL",'
    '"description":"","params":{"kind":"SHELL","script":"true","local_params":[],"resources":[]},"node_attrs":'
    '{"worker_group":"default","failure_strategy":"END","retries":0,"retry_interval_minutes":1,"timeout_minutes":0,'
    '"timeout_strategy":null,"priority":"MEDIUM","delay_minutes":0,"enabled":true,"environment_code":-1,'
    '"cpu_quota":-1,"memory_max_mb":-1}}],"edges":[],"schedule":null,"global_params":[],"execution_type":"PARALLEL",'
    '"timeout_minutes":0,"entry_task_ids":[1],"exit_task_ids":[1]}'
)


def _snapshot(*deps: ExternalDependency) -> StructureSnapshot:
    task = SnapshotTask(task_id=1, name="t", task_type="SHELL", params=ShellParams(script="true"))
    return StructureSnapshot(
        workflow_id=1,
        workflow_name="a",
        tasks=(task,),
        entry_task_ids=(1,),
        exit_task_ids=(1,),
        external_dependencies=deps,
    )


def test_a_snapshot_without_links_keeps_its_old_bytes_and_hash() -> None:
    snapshot = _snapshot()
    assert snapshot.canonical_json() == OLD_JSON
    assert StructureSnapshot.model_validate_json(OLD_JSON).content_hash() == snapshot.content_hash()


def test_links_are_part_of_the_json_and_the_hash() -> None:
    link = ExternalDependency(upstream_workflow_id=7, upstream_task_id=40, task_ids=(1,))
    with_link = _snapshot(link)
    assert '"external_dependencies":[' in with_link.canonical_json()
    assert with_link.content_hash() != _snapshot().content_hash()
    assert StructureSnapshot.model_validate_json(with_link.canonical_json()) == with_link.canonical()
    assert link.node_id == -40


def test_canonical_order_and_task_ids() -> None:
    a = ExternalDependency(upstream_workflow_id=9, upstream_task_id=2, task_ids=(3, 1, 3))
    b = ExternalDependency(upstream_workflow_id=7, upstream_task_id=5, task_ids=(1,))
    assert a.task_ids == (1, 3)
    assert [d.upstream_task_id for d in _snapshot(a, b).canonical().external_dependencies] == [5, 2]


@pytest.mark.parametrize("cycle", list(DependentCycle))
def test_every_date_value_of_a_cycle_is_accepted_and_no_other(cycle: DependentCycle) -> None:
    for value in DEPENDENT_DATE_VALUES[cycle]:
        ExternalDependency(upstream_workflow_id=1, upstream_task_id=2, task_ids=(3,), cycle=cycle, date_value=value)
    other = next(v for c, vs in DEPENDENT_DATE_VALUES.items() if c is not cycle for v in vs)
    with pytest.raises(ValidationError, match="date_value"):
        ExternalDependency(upstream_workflow_id=1, upstream_task_id=2, task_ids=(3,), cycle=cycle, date_value=other)


def test_no_waiting_tasks_and_duplicate_upstream_tasks_are_refused() -> None:
    with pytest.raises(ValidationError):
        ExternalDependency(upstream_workflow_id=1, upstream_task_id=2, task_ids=())
    link = ExternalDependency(upstream_workflow_id=1, upstream_task_id=2, task_ids=(1,))
    with pytest.raises(ValidationError, match="one entry per upstream task"):
        _snapshot(link, link)
