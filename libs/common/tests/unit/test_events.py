from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import ClassVar

import pytest

from common.errors import PoisonMessage
from common.events import (
    ALL_EVENTS,
    Envelope,
    Event,
    EventRegistry,
    PublishOperation,
    PublishRequested,
    Topics,
    WorkflowExecutionFailed,
    registry,
)
from common.events.compat import incompatibilities
from common.events.models import (
    DependencyCycle,
    ExecutionSummary,
    ExecutionSynced,
    FailureRule,
    LineageChanged,
    OpenLineageJob,
    PublishCompleted,
    PublishOutcome,
    TableEdge,
    TaskDependencyChanged,
    TaskOpenLineageJobSet,
    TriggerSource,
    WorkflowRunStarted,
    WorkflowVersionCreated,
)
from common.events.schemas import model_schema, render, schema_path
from common.workflow import Edge, NodeAttrs, Param, Schedule, SnapshotTask, StructureSnapshot


def _snapshot() -> StructureSnapshot:
    return StructureSnapshot(
        workflow_id=7,
        workflow_name="daily",
        tasks=(SnapshotTask(task_id=1, name="a", task_type="SHELL", params={"kind": "SHELL", "script": "echo a"}),),
    )


def _publish_requested() -> PublishRequested:
    return PublishRequested(
        request_id=uuid.uuid4(),
        workflow_id=7,
        operation=PublishOperation.DEPLOY,
        version_id=3,
        version_no=2,
        operator="alice",
        requested_at=datetime.now(UTC),
        snapshot=_snapshot(),
    )


def test_envelope_round_trip_keeps_cloudevents_attributes() -> None:
    event = _publish_requested()
    env = registry.encode(event, source="/services/definition")
    assert env.type == "platform.publish.requested"
    assert env.subject == "7"
    assert env.dataversion == 1
    back_env, back = registry.decode(env.to_bytes())
    assert back_env.id == env.id
    assert back == event


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not a CloudEvents JSON envelope"),
        (b'{"id": "1"}', "not a CloudEvents JSON envelope"),
        (json.dumps({"type": "nope", "source": "x", "data": {}}).encode(), "unknown event type"),
        (
            json.dumps({"type": PublishRequested.TYPE, "source": "x", "dataversion": 9, "data": {}}).encode(),
            "unsupported version 9",
        ),
        (
            json.dumps({"type": PublishRequested.TYPE, "source": "x", "data": {"workflow_id": "x"}}).encode(),
            "violates its schema",
        ),
    ],
)
def test_decode_rejects_poison_with_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(PoisonMessage) as info:
        registry.decode(raw)
    assert reason in info.value.detail


def test_unknown_fields_are_ignored_by_consumers() -> None:
    env = registry.encode(_publish_requested(), source="/x")
    data = dict(env.data, some_future_field={"a": 1})
    raw = Envelope(**{**env.model_dump(), "data": data}).to_bytes()
    _, event = registry.decode(raw)
    assert isinstance(event, PublishRequested)


def test_upcaster_turns_old_version_into_new() -> None:
    class V1(Event):
        TYPE: ClassVar[str] = "test.thing"
        VERSION: ClassVar[int] = 1
        TOPIC: ClassVar[str] = "t"
        name: str

    class V2(Event):
        TYPE: ClassVar[str] = "test.thing"
        VERSION: ClassVar[int] = 2
        TOPIC: ClassVar[str] = "t"
        first: str
        last: str

    reg = EventRegistry([V1, V2])
    reg.register_upcaster("test.thing", 1, lambda d: {"first": d["name"].split()[0], "last": d["name"].split()[1]})
    raw = Envelope(type="test.thing", source="/x", dataversion=1, data={"name": "Ada Lovelace"}).to_bytes()
    _, ev = reg.decode(raw)
    assert isinstance(ev, V2)
    assert (ev.first, ev.last) == ("Ada", "Lovelace")


def _publish_completed(**extra: object) -> PublishCompleted:
    return PublishCompleted.model_validate(
        {
            "request_id": uuid.uuid4(),
            "record_id": 1,
            "workflow_id": 7,
            "version_id": 3,
            "operation": "deploy",
            "outcome": "success",
            "operator": "alice",
            "completed_at": datetime.now(UTC),
            **extra,
        }
    )


def test_publish_completed_carries_the_deployed_task_codes() -> None:
    event = _publish_completed(task_codes=[{"task_id": 1, "ds_task_code": 1001}, {"task_id": 2, "ds_task_code": 1002}])
    _, back = registry.decode(registry.encode(event, source="/services/publisher").to_bytes())
    assert isinstance(back, PublishCompleted)
    assert [(c.task_id, c.ds_task_code) for c in back.task_codes or ()] == [(1, 1001), (2, 1002)]


def test_publish_completed_without_task_codes_is_still_consumed() -> None:
    """An event of a publisher older than the field: consumed, with ``task_codes`` unknown (``None``, not empty)."""
    data = registry.encode(_publish_completed(), source="/services/publisher").data
    old = {k: v for k, v in data.items() if k != "task_codes"}
    raw = Envelope(type=PublishCompleted.TYPE, source="/services/publisher", data=old).to_bytes()
    _, event = registry.decode(raw)
    assert isinstance(event, PublishCompleted)
    assert event.task_codes is None


@pytest.mark.parametrize(
    "code", [{"task_id": 1, "ds_task_code": 0}, {"task_id": -1, "ds_task_code": 5}, {"task_id": 1}]
)
def test_a_publish_completed_with_a_bad_task_code_is_poison(code: dict[str, int]) -> None:
    data = dict(registry.encode(_publish_completed(), source="/x").data, task_codes=[code])
    raw = Envelope(type=PublishCompleted.TYPE, source="/x", data=data).to_bytes()
    with pytest.raises(PoisonMessage) as info:
        registry.decode(raw)
    assert "task_codes.0" in info.value.detail


@pytest.mark.parametrize("model", ALL_EVENTS, ids=lambda m: m.TYPE)
def test_committed_schema_is_current(model: type[Event]) -> None:
    """A model change must come with its regenerated schema (``python -m common.events.schemas``)."""
    path = schema_path(model)
    assert path.exists(), f"missing committed schema {path.name}; run python -m common.events.schemas"
    committed = json.loads(path.read_text())
    assert incompatibilities(committed, model_schema(model)) == [], f"{model.TYPE} breaks its committed schema"
    assert path.read_text() == render(model), f"{path.name} is out of date; run python -m common.events.schemas"


class _Before(Event):
    TYPE: ClassVar[str] = "test.fixture"
    TOPIC: ClassVar[str] = "t"
    workflow_id: int
    reason: str
    note: str | None = None


class _RemovedRequired(Event):
    TYPE: ClassVar[str] = "test.fixture"
    TOPIC: ClassVar[str] = "t"
    workflow_id: int
    note: str | None = None


class _Retyped(Event):
    TYPE: ClassVar[str] = "test.fixture"
    TOPIC: ClassVar[str] = "t"
    workflow_id: str
    reason: str
    note: str | None = None


class _NewRequired(Event):
    TYPE: ClassVar[str] = "test.fixture"
    TOPIC: ClassVar[str] = "t"
    workflow_id: int
    reason: str
    note: str | None = None
    owner: str


class _NewOptional(Event):
    TYPE: ClassVar[str] = "test.fixture"
    TOPIC: ClassVar[str] = "t"
    workflow_id: int
    reason: str
    note: str | None = None
    owner: str | None = None


def test_removed_required_field_is_incompatible() -> None:
    problems = incompatibilities(model_schema(_Before), model_schema(_RemovedRequired))
    assert problems == ["$.reason: property removed"]


def test_retyped_field_is_incompatible() -> None:
    problems = incompatibilities(model_schema(_Before), model_schema(_Retyped))
    assert len(problems) == 1
    assert problems[0].startswith("$.workflow_id: type changed")


def test_new_required_field_is_incompatible() -> None:
    problems = incompatibilities(model_schema(_Before), model_schema(_NewRequired))
    assert problems == ["$.owner: property became required (old producers do not send it)"]


def test_new_optional_field_is_compatible() -> None:
    assert incompatibilities(model_schema(_Before), model_schema(_NewOptional)) == []


def test_nested_removal_is_found() -> None:
    old = model_schema(WorkflowExecutionFailed)
    new = json.loads(json.dumps(old))
    del new["properties"]["details"]
    assert "$.details: property removed" in incompatibilities(old, new)
    old = model_schema(PublishRequested)
    new = json.loads(json.dumps(old))
    del new["$defs"]["SnapshotTask"]["properties"]["name"]
    assert any(p.endswith(".name: property removed") for p in incompatibilities(old, new))


# --- one-pass encoding (what the outbox writes) -------------------------------------------------------------------


def _rich_snapshot() -> StructureSnapshot:
    return StructureSnapshot(
        workflow_id=7,
        workflow_name='日次 "daily" \\ load',
        description="line\nbreak, emoji 🚀, control \x01",
        tasks=(
            SnapshotTask(
                task_id=1,
                name="extract",
                task_type="SQL",
                params={
                    "kind": "SQL",
                    "datasource_name": "dw",
                    "sql": "select 'é' as x",
                    "local_params": [{"name": "d", "value": "${system.biz.date}"}],
                },
                node_attrs=NodeAttrs(retries=3, priority="HIGH", timeout_minutes=5, timeout_strategy="WARN"),
            ),
            SnapshotTask(task_id=2, name="load", task_type="SHELL", params={"kind": "SHELL", "script": "echo 2"}),
        ),
        edges=(Edge(upstream_task_id=1, downstream_task_id=2),),
        schedule=Schedule(
            crontab="0 0 2 * * ?",
            timezone="Asia/Shanghai",
            start_time=datetime(2025, 1, 1, tzinfo=UTC),
            end_time=datetime(2035, 1, 1, 12, 30, 15, 123456, tzinfo=UTC),
        ),
        global_params=(Param(name="biz_date", value="${system.biz.date}"),),
        entry_task_ids=(1,),
        exit_task_ids=(2,),
    )


def _sample_events() -> list[Event]:
    now = datetime(2025, 6, 1, 8, 0, 0, 1, tzinfo=UTC)
    snapshot = _rich_snapshot()
    return [
        WorkflowVersionCreated(
            workflow_id=7,
            version_id=11,
            version_no=3,
            trigger_source=TriggerSource.MANUAL_EDIT,
            created_by="alice",
            created_at=now,
            content_hash=snapshot.content_hash(),
            change_summary={"summary": "+1 task", "tasks_added": [2], "ratio": 0.1, "nested": {"x": [1.5e300, None]}},
            snapshot=snapshot,
        ),
        _publish_requested(),
        PublishRequested(
            request_id=uuid.uuid4(),
            workflow_id=7,
            operation=PublishOperation.OFFLINE,
            version_id=3,
            version_no=2,
            operator="bob",
            requested_at=now,
            snapshot=snapshot,
            retry_of=uuid.uuid4(),
        ),
        PublishCompleted(
            request_id=uuid.uuid4(),
            record_id=1,
            workflow_id=7,
            version_id=3,
            operation=PublishOperation.DEPLOY,
            outcome=PublishOutcome.FAILED,
            error_code=10001,
            error_message='ключ "x" failed',
            operator="alice",
            completed_at=now,
        ),
        LineageChanged(table_edges_added=(TableEdge(source_table="a.b", target_table="c.d"),), read_tables=()),
        TaskDependencyChanged(
            task_id=1,
            old_upstream=(),
            new_upstream=(2, 3),
            old_downstream=(4,),
            new_downstream=(),
            cycle=DependencyCycle(task_path=(1, 2, 1), tables=("t",)),
        ),
        TaskOpenLineageJobSet(
            task_id=4, job=OpenLineageJob(namespace="spark://c", name="load_orders"), revision=12, set_by="alice"
        ),
        TaskOpenLineageJobSet(task_id=4, job=None, revision=13, set_by="alice"),
        ExecutionSynced(
            workflow_id=7,
            engine_workflow_code=99,
            project_code=5,
            executions=(ExecutionSummary(instance_id=1, state="SUCCESS", start_time=now, duration="1m"),),
            synced_at=now,
        ),
        WorkflowExecutionFailed(
            workflow_id=7,
            engine_workflow_code=99,
            project_code=5,
            rule=FailureRule.RATE,
            details={"rate": 0.75, "window": [1, 2], "big": 2**63, "text": "ü"},
            incident_key="wf-7",
            occurred_at=now,
        ),
        WorkflowRunStarted(
            workflow_id=7,
            run_id=3,
            instance_ids=(41,),
            project_code=5,
            engine_workflow_code=99,
            operator="ann",
            started_at=now,
        ),
    ]


def _parsed(raw: bytes) -> dict[str, object]:
    parsed: dict[str, object] = json.loads(raw)
    return parsed


def test_sample_events_cover_every_registered_type() -> None:
    assert {type(e) for e in _sample_events()} == set(ALL_EVENTS)


@pytest.mark.parametrize("event", _sample_events(), ids=lambda e: type(e).__name__)
def test_one_pass_encoding_equals_the_envelope(event: Event) -> None:
    """``encode_bytes`` (the outbox's fast path) parses to exactly the envelope ``encode`` builds."""
    fast = registry.encode_bytes(event, source="/services/definition", event_id="e-1")
    slow_env = registry.encode(event, source="/services/definition", event_id="e-1")
    fast_env, fast_event = registry.decode(fast.value)
    assert (fast.id, fast.type) == ("e-1", event.TYPE)
    # ``time`` is taken when each envelope is built: compare it apart
    assert fast_env.model_copy(update={"time": slow_env.time}) == slow_env
    slow_json = _parsed(slow_env.to_bytes())
    fast_json = _parsed(fast.value)
    assert fast_json.pop("time")
    assert slow_json.pop("time")
    assert fast_json == slow_json
    assert list(fast_json) == list(slow_json)
    assert fast_event == registry.decode(slow_env.to_bytes())[1] == event
    # the same bytes, except for the time stamp
    same_time = slow_env.model_copy(update={"time": fast_env.time}).to_bytes()
    assert fast.value == same_time


def test_one_pass_encoding_with_prepared_fields() -> None:
    event = _sample_events()[0]
    assert isinstance(event, WorkflowVersionCreated)
    prepared = {"snapshot": event.snapshot.model_dump_json()}
    fast = registry.encode_bytes(event, source="/x", event_id="e-2", prepared=prepared)
    plain = registry.encode_bytes(event, source="/x", event_id="e-2")
    fast_env, fast_event = registry.decode(fast.value)
    assert fast_event == event
    assert fast_env.data == registry.encode(event, source="/x").data
    # ``snapshot`` is the payload's last field: the bytes are the plain one-pass bytes (time aside)
    assert fast.value == plain.value.replace(
        json.dumps(_parsed(plain.value)["time"]).encode(), json.dumps(fast_env.model_dump(mode="json")["time"]).encode()
    )
    # a field in the middle still parses to the same content
    middle = registry.encode_bytes(event, source="/x", event_id="e-3", prepared={"created_by": '"alice"'})
    assert registry.decode(middle.value)[1] == event
    with pytest.raises(ValueError, match="lacks"):
        registry.encode_bytes(event, source="/x", prepared={"nope": "1"})


def test_every_topic_has_a_partition_count_and_consumers_are_bounded_by_them() -> None:
    assert set(Topics.PARTITIONS) == set(Topics.ALL)
    assert all(n >= 1 for n in Topics.PARTITIONS.values())
    assert {t for ts in Topics.CONSUMERS.values() for t in ts} <= set(Topics.ALL)
    # a group is bounded by the smallest count among what it reads, a .dlq counting as its topic
    assert Topics.max_replicas("publisher") == Topics.PARTITIONS[Topics.PUBLISH_REQUESTED]
    assert Topics.max_replicas("history-sync") == min(
        Topics.PARTITIONS[Topics.PUBLISH_COMPLETED], Topics.PARTITIONS[Topics.WORKFLOW_RUN_STARTED]
    )
    assert Topics.max_replicas("alerting") == min(Topics.PARTITIONS.values())
    assert Topics.dlq(Topics.LINEAGE_CHANGED) in Topics.consumed_by("alerting")
    assert Topics.max_replicas("gateway") is None


def test_a_task_openlineage_job_set_is_keyed_by_its_task_and_an_empty_job_part_is_poison() -> None:
    """One task's identity changes share a partition (in order); a job part without a name never decodes."""
    assert TaskOpenLineageJobSet(task_id=4, job=None, revision=1, set_by="a").key() == "4"
    event = TaskOpenLineageJobSet(task_id=4, job=OpenLineageJob(namespace="spark", name="x"), revision=2, set_by="a")
    envelope = registry.encode(event, source="test")
    data = {**envelope.data, "job": {"namespace": "spark", "name": ""}}
    raw = envelope.model_copy(update={"data": data}).to_bytes()
    with pytest.raises(PoisonMessage, match=r"job\.name"):
        registry.decode(raw)
