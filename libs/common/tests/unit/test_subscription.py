"""``subscribe(..., event=...)``: the event type is checked once, in ``common``, and the consumer group is named in
one place (``ServiceSettings.group_id``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

from common.consumer import Delivery, Record, expecting, expecting_batch
from common.errors import PoisonMessage
from common.events.base import Event
from common.events.envelope import Envelope
from common.settings import ServiceSettings


class Ping(Event):
    TYPE: ClassVar[str] = "test.ping"
    TOPIC: ClassVar[str] = "pings"
    n: int


class Pong(Event):
    TYPE: ClassVar[str] = "test.pong"
    TOPIC: ClassVar[str] = "pongs"


def _delivery(event: Event) -> Delivery[Event]:
    envelope = Envelope(id="e-1", type=event.TYPE, source="/tests", data=event.model_dump())
    return Delivery(envelope=envelope, event=event, record=Record("p-pings", 0, 7, None, b"{}"))


async def test_a_typed_handler_receives_its_event() -> None:
    seen: list[int] = []

    async def on_ping(session: Any, delivery: Delivery[Ping]) -> None:
        seen.append(delivery.event.n)

    await expecting(Ping, on_ping)(None, _delivery(Ping(n=3)))
    assert seen == [3]


async def test_another_event_type_is_a_poison_message_with_the_reason_and_never_reaches_the_handler() -> None:
    seen: list[Delivery[Ping]] = []

    async def on_ping(session: Any, delivery: Delivery[Ping]) -> None:
        seen.append(delivery)

    with pytest.raises(PoisonMessage) as info:
        await expecting(Ping, on_ping)(None, _delivery(Pong()))
    assert info.value.detail == "event type 'test.pong' does not belong on p-pings (expected test.ping)"
    assert seen == []


async def test_a_typed_batch_handler_gets_its_events_and_a_stranger_fails_the_whole_batch() -> None:
    """A batch with a record of another type is refused before the handler sees any of it (the runtime then handles
    the records one by one, dead-lettering the stranger with ``expecting``'s reason)."""
    seen: list[list[int]] = []

    async def on_pings(session: Any, deliveries: Sequence[Delivery[Ping]]) -> None:
        seen.append([d.event.n for d in deliveries])

    typed = expecting_batch(Ping, on_pings)
    await typed(None, [_delivery(Ping(n=1)), _delivery(Ping(n=2))])
    assert seen == [[1, 2]]
    with pytest.raises(PoisonMessage) as info:
        await typed(None, [_delivery(Ping(n=3)), _delivery(Pong())])
    assert info.value.detail == "event type 'test.pong' does not belong on p-pings"
    assert seen == [[1, 2]]


def test_the_consumer_group_is_the_prefixed_service_name_unless_configured() -> None:
    settings = ServiceSettings(service_name="publisher", topic_prefix="t1-")
    assert settings.group_id == "t1-publisher"
    assert ServiceSettings(service_name="definition", consumer_group="defs").group_id == "defs"


def test_a_service_creates_the_topics_it_writes_reads_and_observes_each_once() -> None:
    from common.events.models import Topics
    from common.kafka_acls import GRANTS

    assert GRANTS["lineage-resolver"].topics == (
        Topics.TASK_DEPENDENCY_CHANGED,
        Topics.LINEAGE_CHANGED,
        Topics.TASK_OPENLINEAGE_JOB_SET,
    )
    # the tasks' job identities are definition's alone: the external lineage producers cannot remap jobs
    assert [n for n, g in GRANTS.items() if Topics.TASK_OPENLINEAGE_JOB_SET in g.writes] == ["definition"]
    assert GRANTS["publisher"].topics == (
        Topics.PUBLISH_COMPLETED,
        Topics.WORKFLOW_RUN_STARTED,
        Topics.PUBLISH_REQUESTED,
    )
    alerting = GRANTS["alerting"].topics
    assert sorted(alerting) == sorted(Topics.ALL)  # it watches every topic's dead letters
    assert len(alerting) == len(set(alerting))
