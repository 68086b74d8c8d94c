"""Snapshots and workflow details serialised from JSON pieces (``definition.snapshots``,
``definition.service._views._detail_json``) are byte for byte what pydantic (and so FastAPI) produces for the whole
models."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import TypeAdapter

from common.workflow import (
    FailureStrategy,
    NodeAttrs,
    Param,
    Priority,
    PythonParams,
    Schedule,
    ShellParams,
    SnapshotTask,
    SqlParams,
    StructureSnapshot,
    TaskType,
    TimeoutStrategy,
)
from definition import schemas
from definition.domain.snapshot import build_snapshot
from definition.service._views import _detail, _detail_json
from definition.snapshots import EncodedSnapshot, SnapshotCache, dump_around, encode_snapshot, tasks_json

#: text that looks like the places the pieces are spliced in, inside strings (must stay inside them)
TRICKY = ',"tasks":[],"edges":[],"upstream_count":1},{"task_id":7 — ünïcödé \\ "quoted" \n'


def _tasks() -> list[SnapshotTask]:
    return [
        SnapshotTask(
            task_id=1,
            name="extract",
            task_type=TaskType.SHELL,
            description=TRICKY,
            params=ShellParams(script="echo '},{\"task_id\":2'", local_params=(Param(name="task_id", value=TRICKY),)),
            node_attrs=NodeAttrs(
                priority=Priority.HIGHEST,
                failure_strategy=FailureStrategy.CONTINUE,
                timeout_minutes=5,
                timeout_strategy=TimeoutStrategy.WARNFAILED,
                worker_group="etl",
            ),
        ),
        SnapshotTask(
            task_id=2,
            name="load",
            task_type=TaskType.SQL,
            params=SqlParams(datasource_name="dw", sql="insert into t select 1", pre_statements=("set x = 1",)),
        ),
        SnapshotTask(
            task_id=3,
            name=TRICKY[:100],
            task_type=TaskType.PYTHON,
            params=PythonParams(script="print('tasks')", resources=("a.py",)),
            node_attrs=NodeAttrs(retries=3, enabled=False),
        ),
    ]


def _snapshot(
    *, workflow_name: str = "wf", description: str = TRICKY, tasks: list[SnapshotTask] | None = None
) -> StructureSnapshot:
    return build_snapshot(
        workflow_id=42,
        workflow_name=workflow_name,
        description=description,
        tasks=tasks if tasks is not None else _tasks(),
        edges=[(1, 2), (1, 3), (2, 3)],
        schedule=Schedule(
            crontab="0 0 2 * * ?",
            timezone="Asia/Shanghai",
            start_time=datetime(2025, 1, 1, tzinfo=UTC),
            end_time=datetime(2035, 1, 1, tzinfo=UTC),
        ),
        global_params=[Param(name="biz_date", value="${system.biz.date}")],
    )


def test_tasks_json_is_each_tasks_own_json() -> None:
    tasks = _tasks()
    assert tasks_json(tasks) == [t.model_dump_json() for t in tasks]
    assert tasks_json(tasks[:1]) == [tasks[0].model_dump_json()]
    assert tasks_json([]) == []


@pytest.mark.parametrize("name", ["wf", TRICKY[:200].strip() or "x"])
def test_encoded_snapshot_json_is_the_snapshots_json(name: str) -> None:
    snapshot = _snapshot(workflow_name=name)
    encoded = encode_snapshot(snapshot)
    assert encoded.json() == snapshot.model_dump_json()
    assert encoded.tasks == tuple(t.model_dump_json() for t in snapshot.tasks)
    empty = StructureSnapshot(workflow_id=1, workflow_name="empty", tasks=())
    assert encode_snapshot(empty).json() == empty.model_dump_json()


def test_encoding_reuses_the_json_of_the_same_task_objects_only() -> None:
    first = _snapshot()
    encoded = encode_snapshot(first)
    changed = first.tasks[1].model_copy(update={"node_attrs": NodeAttrs(retries=9)})
    second = first.model_copy(update={"tasks": (first.tasks[0], changed, first.tasks[2]), "description": "v2"})
    # a stale piece for task 2 proves that only the same object's JSON is taken over
    stale = EncodedSnapshot(snapshot=first, tasks=(encoded.tasks[0], "STALE", encoded.tasks[2]), edges=encoded.edges)
    again = encode_snapshot(second, stale)
    assert again.json() == second.model_dump_json()
    assert again.tasks[0] is encoded.tasks[0]
    assert again.tasks[1] != "STALE"


def test_dump_around_without_fields_on_one_side() -> None:
    snapshot = _snapshot()
    everything = frozenset(StructureSnapshot.model_fields)
    assert dump_around(snapshot, frozenset(), '"x":1', frozenset()) == '{"x":1}'
    assert dump_around(snapshot, everything, "", frozenset()) == snapshot.model_dump_json()


def _row(**overrides: Any) -> SimpleNamespace:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    values: dict[str, Any] = {
        "id": 42,
        "workflow_name": "wf",
        "description": TRICKY,
        "status": "ready",
        "publish_status": "published",
        "workflow_code": 123456789,
        "project_code": 987,
        "release_state": "ONLINE",
        "schedule_online": True,
        "current_version_no": 3,
        "current_version_id": 30,
        "approved_version_id": 30,
        "last_published_version_id": 29,
        "last_published_version_no": 2,
        "last_execution_state": "SUCCESS",
        "last_execution_at": now,
        "needs_attention": True,
        "attention_reason": TRICKY,
        # free-form JSON after the tasks and edges: may contain anything, including what the splice looks for
        "attention_details": {"tasks": [], "edges": [], "note": TRICKY, "nested": {"task_id": 1}},
        "ds_attention": {"kind": "ds_state", "reason": TRICKY, "record_id": 7, "intended_release_state": "ONLINE"},
        "task_count": 3,
        "updated_at": now,
        "updated_by": "alice",
        "created_by": "bob",
        "created_at": now,
    }
    values.update(overrides)
    return SimpleNamespace(**values)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"attention_details": None, "ds_attention": None, "needs_attention": False, "status": "draft"}],
)
def test_detail_json_is_what_fastapi_sends_for_the_detail_model(overrides: dict[str, Any]) -> None:
    snapshot = _snapshot()
    row = _row(**overrides)
    model = _detail(row, snapshot)  # type: ignore[arg-type]
    body = _detail_json(row, encode_snapshot(snapshot))  # type: ignore[arg-type]
    # FastAPI serialises a response_model through a TypeAdapter of the model
    assert body == TypeAdapter(schemas.WorkflowDetail).dump_json(model)
    assert body == model.model_dump_json().encode()


def test_detail_json_serialises_enums_by_value() -> None:
    import json

    snapshot = _snapshot()
    data = json.loads(_detail_json(_row(), encode_snapshot(snapshot)))  # type: ignore[arg-type]
    first = data["tasks"][0]
    assert first["task_type"] == "SHELL"
    assert first["node_attrs"]["priority"] == "HIGHEST"
    assert first["node_attrs"]["failure_strategy"] == "CONTINUE"
    assert first["node_attrs"]["timeout_strategy"] == "WARNFAILED"
    assert data["tasks"][1]["node_attrs"]["timeout_strategy"] is None
    assert [(t["task_id"], t["upstream_count"], t["downstream_count"]) for t in data["tasks"]] == [
        (1, 0, 2),
        (2, 1, 1),
        (3, 2, 0),
    ]
    assert data["execution_type"] == "PARALLEL"


def test_snapshot_cache_holds_plain_or_encoded_entries() -> None:
    snapshot = _snapshot()
    cache = SnapshotCache(max_tasks=10)
    cache.put(1, snapshot)
    assert cache.get(1) is snapshot
    assert cache.get_encoded(1) is None
    encoded = encode_snapshot(snapshot)
    cache.put(1, encoded)  # the encoded form replaces the plain one
    assert cache.get(1) is snapshot
    assert cache.get_encoded(1) is encoded
    cache.put(1, snapshot)  # never downgraded
    assert cache.get_encoded(1) is encoded
    cache.put(2, encode_snapshot(snapshot))
    cache.put(3, snapshot)  # 3 × 4 > 10: the least recently used goes
    assert len(cache) == 2
    assert cache.get(1) is None
    assert cache.get(2) is not None
    assert cache.get(3) is snapshot


@pytest.mark.parametrize("initial", [True, False])
def test_version_event_with_prepared_json_is_the_plain_encoding(initial: bool) -> None:
    """``_write_version`` hands the outbox the snapshot's and the change summary's JSON; the event's bytes are the
    same as when the registry serialises the whole event itself."""
    from common.events.models import TriggerSource, WorkflowVersionCreated
    from common.events.registry import registry
    from definition.domain.diff import change_summary

    new = _snapshot()
    old = None
    if not initial:
        changed = new.tasks[1].model_copy(update={"node_attrs": NodeAttrs(retries=5), "description": "ünï"})
        old = new.model_copy(
            update={"description": "before", "tasks": (new.tasks[0], changed, new.tasks[2]), "schedule": None}
        )
    summary = change_summary(old, new)
    event = WorkflowVersionCreated(
        workflow_id=42,
        version_id=7,
        version_no=2,
        trigger_source=TriggerSource.MANUAL_EDIT,
        created_by="alice",
        created_at=datetime(2026, 11, 28, tzinfo=UTC),
        content_hash="h",
        change_summary=summary.model_dump(mode="json"),
        snapshot=new,
    )
    prepared = {"change_summary": summary.model_dump_json(), "snapshot": encode_snapshot(new).json()}
    fast = registry.encode_bytes(event, source="definition", event_id="e1", prepared=prepared)
    plain = registry.encode_bytes(event, source="definition", event_id="e1")
    # the envelopes differ only in their ``time`` attribute; the payloads are the same bytes
    data = b',"data":'
    assert fast.value.count(data) == plain.value.count(data) == 1
    assert fast.value.split(data)[1] == plain.value.split(data)[1]
