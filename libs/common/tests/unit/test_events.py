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
    WorkflowExecutionFailed,
    registry,
)
from common.events.compat import incompatibilities
from common.events.schemas import model_schema, render, schema_path
from common.workflow import SnapshotTask, StructureSnapshot


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
