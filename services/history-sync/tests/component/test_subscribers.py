"""``publish.completed`` and ``workflow.run.started`` through history-sync's subscribers on the in-memory broker
(``common.testing.broker``) and real PostgreSQL: a published workflow is tracked, a started run asks for a refresh, and
an event on the wrong topic is dead-lettered with the reason. Over a real broker, with DS: tests/integration."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from common.events import registry
from common.events.models import PublishCompleted, PublishOperation, PublishOutcome, Topics, WorkflowRunStarted
from common.runtime import Infra
from common.testing.broker import InMemoryKafka, in_memory_kafka, settings_for
from common.testing.fixtures import MigratedFn, TruncateFn
from history_sync.config import MIGRATIONS, Settings
from history_sync.db.tables import inbox_table, outbox_table, tracked_workflow
from history_sync.subscribers import register_subscribers


@dataclass
class Subscribers:
    infra: Infra
    kafka: InMemoryKafka
    settings: Settings

    async def tracked(self) -> dict[int, tuple[int, str, datetime | None]]:
        async with self.infra.sessions() as s:
            rows = await s.execute(select(tracked_workflow))
            return {r.id: (r.engine_workflow_code, r.release_state, r.refresh_requested_at) for r in rows}


@pytest.fixture
async def subs(migrated_schema: MigratedFn, truncate: TruncateFn) -> AsyncIterator[Subscribers]:
    """The schema (migrated once per session) emptied before the test: the handlers commit through the inbox."""
    db = await truncate(await migrated_schema("history", MIGRATIONS))
    settings = Settings(**settings_for(db), ds_token=SecretStr("unused"))  # DS is never called here
    infra = Infra.build(settings, schema=db.schema, outbox_table=outbox_table, inbox_table=inbox_table, telemetry=False)
    register_subscribers(infra)
    topics = [settings.topic(Topics.PUBLISH_COMPLETED), settings.topic(Topics.WORKFLOW_RUN_STARTED)]
    try:
        async with in_memory_kafka(infra.broker, dead_letters_of=topics) as kafka:
            yield Subscribers(infra, kafka, settings)
    finally:
        await infra.engine.dispose()


def completed(workflow_id: int, code: int) -> bytes:
    event = PublishCompleted(
        request_id=uuid.uuid4(), record_id=1, workflow_id=workflow_id, version_id=1,
        operation=PublishOperation.ONLINE, outcome=PublishOutcome.SUCCESS, engine_workflow_code=code,
        engine_version=1, project_code=55, release_state="ONLINE", operator="ann", completed_at=datetime.now(UTC),
    )  # fmt: skip
    return registry.encode(event, source="/tests/history").to_bytes()


def run_started(workflow_id: int, code: int) -> bytes:
    event = WorkflowRunStarted(
        workflow_id=workflow_id, run_id=1, instance_ids=(9,), project_code=55, engine_workflow_code=code,
        operator="ann", started_at=datetime.now(UTC),
    )  # fmt: skip
    return registry.encode(event, source="/tests/history").to_bytes()


async def test_a_published_workflow_is_tracked_and_a_started_run_asks_for_a_refresh(subs: Subscribers) -> None:
    await subs.kafka.send(subs.settings.topic(Topics.PUBLISH_COMPLETED), completed(7, 7007))
    [(code, state, refresh)] = (await subs.tracked()).values()
    assert (code, state) == (7007, "ONLINE")
    await subs.kafka.send(subs.settings.topic(Topics.WORKFLOW_RUN_STARTED), run_started(7, 7007))
    assert (await subs.tracked())[7][2] != refresh
    assert subs.kafka.dead_letters == []


async def test_an_event_on_the_wrong_topic_is_dead_lettered_with_the_reason(subs: Subscribers) -> None:
    topic = subs.settings.topic(Topics.PUBLISH_COMPLETED)
    await subs.kafka.send(topic, run_started(7, 7007), completed(8, 8008))
    assert list(await subs.tracked()) == [8]
    [dead] = subs.kafka.dead_letters
    assert (dead.topic, dead.headers["x-dlq-error-type"]) == (f"{topic}.dlq", "poison-message")
    reason = f"event type {WorkflowRunStarted.TYPE!r} does not belong on {topic} (expected {PublishCompleted.TYPE})"
    assert dead.headers["x-dlq-reason"] == reason
