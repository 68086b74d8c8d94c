"""Every alert input through real Kafka and PostgreSQL to a local webhook per IM format: exactly one message per
incident and channel, a retry after a 500, signatures the IMs accept, and the per-channel rate limit."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from alerting import service
from alerting.db.tables import alert_delivery
from alerting.deps import Deps
from alerting.domain import alerts as A
from alerting.main import create_app
from common.db import unit_of_work
from common.events import registry
from common.events.models import (
    FailureRule,
    PublishCompleted,
    PublishOperation,
    PublishOutcome,
    Topics,
    WorkflowExecutionFailed,
)
from common.kafka_access import client_options
from common.testing.kafka_helpers import eventually
from common.testing.service import running

from .conftest import FakeServer, SettingsFactory

pytestmark = pytest.mark.timeout(240)

NOW = datetime.now(UTC)
DT_SECRET = "SEC-dingtalk-test-secret"
FS_SECRET = "feishu-test-secret"

KINDS = ["dingtalk", "feishu", "wecom", "slack", "webhook"]


def _channels(fake: FakeServer) -> list[dict[str, Any]]:
    fast = {"rate_per_minute": 600, "burst": 20}  # this test is about dedupe and formats, not the rate limit
    return [
        {**c, **fast}
        for c in [
            {"kind": "dingtalk", "url": fake.url("/hooks/dingtalk/dt?access_token=robot-token"), "secret": DT_SECRET},
            {"kind": "feishu", "url": fake.url("/hooks/feishu/fs"), "secret": FS_SECRET, "language": "en"},
            {"kind": "wecom", "url": fake.url("/hooks/wecom/wc?key=wecom-key")},
            {"kind": "slack", "url": fake.url("/hooks/slack/sl"), "language": "en"},
            {"kind": "webhook", "url": fake.url("/hooks/webhook/wh")},
        ]
    ]


PATHS = {
    "dingtalk": "/hooks/dingtalk/dt",
    "feishu": "/hooks/feishu/fs",
    "wecom": "/hooks/wecom/wc",
    "slack": "/hooks/slack/sl",
    "webhook": "/hooks/webhook/wh",
}


async def _send(producer: AIOKafkaProducer, topic: str, event: Any, *, event_id: str | None = None) -> str:
    envelope = registry.encode(event, source="/tests", event_id=event_id)
    await producer.send_and_wait(topic, envelope.to_bytes(), key=event.key().encode())
    return envelope.id


def _publish(record_id: int, outcome: PublishOutcome = PublishOutcome.FAILED) -> PublishCompleted:
    return PublishCompleted(
        request_id=uuid.uuid4(), record_id=record_id, workflow_id=7, version_id=70, operation=PublishOperation.DEPLOY,
        outcome=outcome, engine_workflow_code=7007, project_code=42, error_code=50036,
        error_message="workflow name already exists", operator="alice", completed_at=NOW,
    )  # fmt: skip


def _streak() -> WorkflowExecutionFailed:
    return WorkflowExecutionFailed(
        workflow_id=8, engine_workflow_code=8008, project_code=42, rule=FailureRule.STREAK, instance_id=900,
        state="FAILURE", details={"streak": 3}, incident_key="8:streak:880", occurred_at=NOW,
    )  # fmt: skip


def _incident_of(kind: str, hit_body: dict[str, Any]) -> str:
    """Which incident a message is about, read from the IM payload itself."""
    text = json.dumps(hit_body, ensure_ascii=False)
    if "publish.requested" in text:
        return "dlq"
    if "workflows/7" in text:
        return "publish"
    if "workflows/8" in text:
        return "streak"
    if "workflows/9" in text:
        return "stale"
    raise AssertionError(f"{kind}: unknown message {text[:300]}")


async def test_each_alert_reaches_each_im_exactly_once(
    make_settings: SettingsFactory, fake: FakeServer, kafka_bootstrap: str, topic_prefix: str
) -> None:
    fake.up.stale = [
        {"workflow_id": 9, "engine_workflow_code": 9009, "project_code": 42, "release_state": "ONLINE",
         "last_synced_at": "2025-06-01T00:00:00+00:00", "age_seconds": 3600.0, "last_error": "DS timeout",
         "last_error_at": None},
    ]  # fmt: skip
    fake.failures[PATHS["slack"]] = [500]  # the first Slack message fails once and is retried
    settings = make_settings(channels=_channels(fake), language="zh", history_poll_interval_s=0.3)
    producer = AIOKafkaProducer(**client_options(kafka_bootstrap))
    await producer.start()
    try:
        async with running(create_app(settings)) as client:
            t = settings.topic
            # publish failed: the same event twice (inbox) and the same record under a new event id (incident)
            first = await _send(producer, t(Topics.PUBLISH_COMPLETED), _publish(501))
            await _send(producer, t(Topics.PUBLISH_COMPLETED), _publish(501), event_id=first)
            await _send(producer, t(Topics.PUBLISH_COMPLETED), _publish(501))
            await _send(producer, t(Topics.PUBLISH_COMPLETED), _publish(502, PublishOutcome.SUCCESS))  # no alert
            # a failure streak: two events of the same incident
            await _send(producer, t(Topics.WORKFLOW_EXECUTION_FAILED), _streak())
            await _send(producer, t(Topics.WORKFLOW_EXECUTION_FAILED), _streak())
            # two dead letters of one topic in the same hour: raw records (one is not even JSON)
            for value in (b"{not json", b'{"specversion":"1.0"}'):
                await producer.send_and_wait(
                    t(Topics.dlq(Topics.PUBLISH_REQUESTED)),
                    value,
                    headers=[
                        ("x-dlq-reason", b"envelope: field required"),
                        ("x-dlq-error-type", b"poison-message"),
                        ("x-dlq-consumer", b"publisher"),
                        ("x-dlq-original-topic", t(Topics.PUBLISH_REQUESTED).encode()),
                    ],
                )

            async def all_delivered() -> bool:
                return all(len(fake.ok(p)) >= 4 for p in PATHS.values())

            await eventually(all_delivered, timeout_s=90)
            await asyncio.sleep(2.0)  # more polls of history-sync, more consumer time: nothing new may arrive

            for kind, path in PATHS.items():
                incidents = sorted(_incident_of(kind, h.json()) for h in fake.ok(path))
                assert incidents == ["dlq", "publish", "stale", "streak"], kind
            failed = [h for h in fake.at(PATHS["slack"]) if h.status == 500]
            assert len(failed) == 1
            assert len(fake.at(PATHS["slack"])) == 5

            _check_formats(fake)

            alerts = (await client.get("/internal/alerts", params={"page_size": 50})).json()
            assert alerts["total"] == 4
            by_kind = {a["kind"]: a for a in alerts["items"]}
            assert set(by_kind) == {"publish_failed", "execution_streak", "dead_letters", "history_stale"}
            assert by_kind["publish_failed"]["occurrences"] == 2  # the inbox dropped the redelivered event
            assert by_kind["execution_streak"]["occurrences"] == 2
            assert by_kind["dead_letters"]["occurrences"] == 2
            assert by_kind["history_stale"]["occurrences"] >= 2  # polled repeatedly, one incident
            for a in alerts["items"]:
                assert sorted(d["channel"] for d in a["deliveries"]) == sorted(KINDS)
                assert {d["status"] for d in a["deliveries"]} == {"sent"}
            counts = (await client.get("/internal/dead-letters")).json()
            assert [(c["topic"], c["total"]) for c in counts] == [(Topics.PUBLISH_REQUESTED, 2)]
            channels = (await client.get("/internal/channels")).json()
            assert "robot-token" not in json.dumps(channels)
            assert [c["signed"] for c in channels] == [True, True, False, False, False]
    finally:
        await producer.stop()


def _check_formats(fake: FakeServer) -> None:
    for h in fake.ok(PATHS["dingtalk"]):
        assert h.query["access_token"] == "robot-token"
        ts = h.query["timestamp"]
        mac = hmac.new(DT_SECRET.encode(), f"{ts}\n{DT_SECRET}".encode(), hashlib.sha256).digest()
        assert h.query["sign"] == base64.b64encode(mac).decode()
        body = h.json()
        assert body["msgtype"] == "markdown"
        assert set(body["markdown"]) == {"title", "text"}
    dt = {_incident_of("dingtalk", h.json()): h.json() for h in fake.ok(PATHS["dingtalk"])}
    assert dt["publish"]["markdown"]["title"] == "发布失败：工作流 7（部署）"  # service language zh
    assert "https://portal.example/workflows/7" in dt["publish"]["markdown"]["text"]
    assert (
        "https://ds.example/dolphinscheduler/ui/projects/42/workflow/definitions/7007"
        in dt["publish"]["markdown"]["text"]
    )
    assert dt["streak"]["markdown"]["title"] == "工作流 8 连续失败 3 次"

    for h in fake.ok(PATHS["feishu"]):
        body = h.json()
        mac = hmac.new(f"{body['timestamp']}\n{FS_SECRET}".encode(), b"", hashlib.sha256).digest()
        assert body["sign"] == base64.b64encode(mac).decode()
        assert body["msg_type"] == "interactive"
        assert body["card"]["header"]["title"]["tag"] == "plain_text"
    fs = {_incident_of("feishu", h.json()): h.json() for h in fake.ok(PATHS["feishu"])}
    assert "Publish failed: workflow 7 (deploy)" in fs["publish"]["card"]["header"]["title"]["content"]  # channel: en

    wc = {_incident_of("wecom", h.json()): h.json() for h in fake.ok(PATHS["wecom"])}
    assert all(set(b) == {"msgtype", "markdown"} and set(b["markdown"]) == {"content"} for b in wc.values())
    assert "死信" in wc["dlq"]["markdown"]["content"]
    assert all(h.query["key"] == "wecom-key" for h in fake.ok(PATHS["wecom"]))

    sl = {_incident_of("slack", h.json()): h.json() for h in fake.ok(PATHS["slack"])}
    assert "Execution history of workflow 9 is stale" in sl["stale"]["text"]
    assert sl["stale"]["blocks"][0]["type"] == "header"

    wh = {_incident_of("webhook", h.json()): h.json() for h in fake.ok(PATHS["webhook"])}
    assert wh["publish"]["incident_key"] == "publish-failed:501"
    assert wh["streak"]["incident_key"] == "execution:8:streak:880"
    assert wh["dlq"]["kind"] == "dead_letters"
    assert wh["dlq"]["facts"]["topic"] == Topics.PUBLISH_REQUESTED
    assert wh["stale"]["incident_key"] == "history-stale:9:2025-06-01T00:00:00+00:00"
    assert wh["publish"]["links"]["dolphinscheduler"].endswith("/projects/42/workflow/definitions/7007")


async def test_rate_limit_queues_and_summarises(make_settings: SettingsFactory, fake: FakeServer) -> None:
    channel = {"kind": "webhook", "name": "slow", "url": fake.url("/hooks/webhook/slow"), "burst": 2,
               "rate_per_minute": 0.5, "digest_max": 10}  # fmt: skip
    settings = make_settings(channels=[channel], watch_dead_letters=False)
    app = create_app(settings)
    async with running(app):
        deps: Deps = app.state.deps

        async def raise_alerts(keys: range) -> None:
            async with unit_of_work(deps.sessions) as s:
                for i in keys:
                    alert = A.dead_letters(
                        f"topic-{i}", at=NOW, window_s=3600, reason="r", consumer=None, error_type=None
                    )
                    await service.record_alert(s, deps, alert)

        await raise_alerts(range(5))

        async def two_messages() -> bool:
            return len(fake.ok("/hooks/webhook/slow")) >= 2

        await eventually(two_messages, timeout_s=30)
        await raise_alerts(range(5, 8))
        await asyncio.sleep(2.0)
        hits = fake.ok("/hooks/webhook/slow")
        assert len(hits) == 2  # the bucket (2 tokens, one per 2 minutes) is empty: nothing more goes out
        carried = [[a["facts"]["topic"] for a in h.json()["alerts"]] for h in hits]
        # two messages (the burst) carried all five, oldest first; how they split depends on when the worker first
        # saw the queue (a digest of 4 + 1 when it saw all five at once)
        assert [t for c in carried for t in c] == [f"topic-{i}" for i in range(5)]
        assert any(h.json()["digest"] for h in hits)
        async with deps.sessions() as s:
            statuses = sorted((await s.execute(select(alert_delivery.c.status))).scalars().all())
        assert statuses == ["pending"] * 3 + ["sent"] * 5  # the excess is queued in the database, not dropped
