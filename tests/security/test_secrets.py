"""No secret in logs, traces, metrics or answers: the IM webhook's token, DolphinScheduler's tokens, the Kafka
passwords, the services' identity keys, the admin API key and the database passwords, after the platform has done
its work (publishes, an alert delivered over the webhook whose URL carries the token, refused calls)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer
from sqlalchemy.engine import make_url

from common.events import FailureRule, Topics, WorkflowExecutionFailed, registry

from .conftest import WEBHOOK_TOKEN, SecureStack, approve_and_publish, log_text, new_workflow


def _secrets(secure: SecureStack) -> dict[str, str]:
    stack = secure.stack
    found = {
        "webhook token": WEBHOOK_TOKEN,
        "DS access token": stack.emulator.access_token,
        "DS gateway token": stack.emulator.auth_token,
        "admin API key": stack.admin_token,
    }
    for user, password in secure.kafka.passwords().items():
        found[f"Kafka password of {user}"] = password
    for name, db in stack.databases.items():
        found[f"database password of {name}"] = str(make_url(db.url.get_secret_value()).password)
    keys = Path(os.environ["IDENTITY_TRUSTED_KEYS_DIR"]).parent
    for key in keys.glob("*.key"):
        body = [line for line in key.read_text().splitlines() if line and not line.startswith("-----")]
        found[f"identity key {key.stem}"] = "".join(body)
    return found


async def test_no_secret_in_logs_traces_metrics_or_answers(secure: SecureStack) -> None:
    # the platform at work: a publish, an alert over the webhook, refused calls
    with secure.stack.client() as api:
        workflow = new_workflow(api)
        detail = await asyncio.to_thread(approve_and_publish, api, workflow)
        assert detail["publish_status"] == "published"
    delivered = len(secure.webhook.bodies)
    producer = AIOKafkaProducer(**secure.kafka.client_options("history-sync"), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        event = WorkflowExecutionFailed(
            workflow_id=workflow["id"],
            engine_workflow_code=int(detail["workflow_code"]),
            project_code=int(detail["project_code"]),
            rule=FailureRule.FAILURE,
            instance_id=1,
            state="FAILURE",
            incident_key=f"sec-{uuid.uuid4().hex}",
            occurred_at=datetime.now(UTC),
        )
        value = registry.encode(event, source="/services/history-sync").to_bytes()
        await producer.send_and_wait(secure.topic(Topics.WORKFLOW_EXECUTION_FAILED), value, key=event.key().encode())
    finally:
        await producer.stop()
    deadline = time.monotonic() + 30
    while len(secure.webhook.bodies) <= delivered:
        assert time.monotonic() < deadline, "the alert was not delivered over the webhook"
        await asyncio.sleep(0.3)
    httpx.post(f"{secure.url('definition')}/internal/tasks", json={}, headers={"X-Actor": "admin"})
    await asyncio.sleep(6)  # the services' batch span processors export every 5 s

    places: dict[str, bytes] = {"logs": log_text(secure).encode()}
    places["traces"] = b"".join(body for _, body in secure.otlp.bodies)
    assert places["traces"], "no trace was exported: the check would prove nothing"
    async with httpx.AsyncClient(timeout=30) as client:
        for name in secure.stack.ports:
            places[f"metrics of {name}"] = (await client.get(f"{secure.url(name)}/metrics")).content
        admin = {"Authorization": f"Bearer {secure.stack.admin_token}"}
        for path in (
            "/api/v1/workflows",
            f"/api/v1/workflows/{workflow['id']}",
            f"/api/v1/workflows/{workflow['id']}/publish-records",
            "/api/v1/audit-log",
            "/api/v1/api-keys",
            "/api/v1/me",
            "/openapi.json",
            "/asyncapi.json",
        ):
            places[f"answer of {path}"] = (await client.get(secure.stack.base_url + path, headers=admin)).content
        alerting = {"Authorization": "Bearer " + _alerting_reader()}
        for path in ("/internal/alerts", "/internal/channels", "/internal/dead-letters"):
            places[f"alerting {path}"] = (await client.get(secure.url("alerting") + path, headers=alerting)).content
    leaks = [
        f"{what} in {where}"
        for what, secret in _secrets(secure).items()
        for where, data in places.items()
        if secret and secret.encode() in data
    ]
    assert not leaks, leaks
    # the webhook was called with its token all the same (it is the delivery's address, not data)
    assert any(WEBHOOK_TOKEN in path for path, _ in secure.webhook.bodies)


def _alerting_reader() -> str:
    from common.testing.identity import user_token

    return user_token("alerting", "auditor", ("admin",))
