"""Scenario 6 (issue 23): a stale ``publish.completed`` — a late duplicate with a new event id, or a record replayed
from the dead-letter topic with the documented procedure (``python -m common.dlq replay``) — never flips a workflow
that has published successfully since back to ``failed``: the definition service ignores results older than the
workflow's last applied publish (as it ignores an older ``execution.synced``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from common.events import PublishCompleted, Topics, registry
from common.kafka_access import client_options
from common.testing.gateway_api import GatewayApi, until
from common.testing.kafka_helpers import read_topic

from .conftest import ROOT, FaultStack, uid
from .test_kafka_down import metric

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


async def completed_event(stack: FaultStack, record_id: int) -> PublishCompleted:
    topic = stack.procs.topic(Topics.PUBLISH_COMPLETED)
    records = await read_topic(stack.procs.bootstrap, topic, expect=1_000_000, timeout_s=3)
    events = [registry.decode(r.value)[1] for r in records]
    [event] = [e for e in events if isinstance(e, PublishCompleted) and e.record_id == record_id]
    return event


async def consumed(stack: FaultStack) -> float:
    """publish.completed records the definition service has processed (not counting duplicates)."""
    async with httpx.AsyncClient(timeout=10.0) as http:
        text = (await http.get(f"{stack.procs.url('definition')}/metrics")).text
    topic = stack.procs.topic(Topics.PUBLISH_COMPLETED)
    return metric(text, "events_consumed_total", topic=topic, outcome="processed") or 0.0


def replay(stack: FaultStack, *args: str) -> dict[str, Any]:
    """The documented DLQ replay procedure (docs/operations.md)."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": stack.procs.bootstrap,
        "KAFKA_TOPIC_PREFIX": stack.procs.topic_prefix,
    }
    done = subprocess.run(
        [sys.executable, "-m", "common.dlq", "replay", "--topic", Topics.PUBLISH_COMPLETED, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


async def test_stale_publish_results_never_undo_a_newer_success(fault_stack: FaultStack, api: GatewayApi) -> None:
    stack = fault_stack
    workflow_id = await api.new_workflow(f"s6-{uid()}", cron=False)
    # a publish that fails before DS changes anything (no divergence, nothing to reconcile) …
    stack.emulator.add_fault("raise", target="gateway", match="^createOrUpdateWorkflow$", message="DS says no")
    await api.publish(workflow_id, "online")
    assert (await api.settled(workflow_id))["publish_status"] == "failed"
    [failed] = await api.records(workflow_id)
    stack.emulator.clear_faults()
    # … then one that succeeds
    await api.publish(workflow_id, "online")
    good = await api.settled(workflow_id)
    assert (good["publish_status"], good["release_state"]) == ("published", "ONLINE"), good
    stale = await completed_event(stack, int(failed["id"]))
    assert stale.outcome.value == "failed"

    async def unchanged(after: float) -> None:
        await until(lambda: _more(stack, after), "the definition service consumed the stale result")
        detail = await api.workflow(workflow_id)
        assert (detail["publish_status"], detail["release_state"]) == ("published", "ONLINE"), detail
        assert detail["last_published_version_no"] == good["last_published_version_no"], detail

    producer = AIOKafkaProducer(**client_options(stack.procs.bootstrap), acks="all")
    await producer.start()
    try:
        # a late duplicate with a new event id
        before = await consumed(stack)
        duplicate = registry.encode(stale, source="/services/publisher")
        await producer.send_and_wait(
            stack.procs.topic(Topics.PUBLISH_COMPLETED), duplicate.to_bytes(), key=stale.key().encode()
        )
        await unchanged(before)

        # a dead letter (the definition service had given up on it) replayed with the documented procedure
        dead = registry.encode(stale, source="/services/publisher")
        headers = [
            ("x-dlq-reason", b"database unavailable"),
            ("x-dlq-error-type", b"unexpected-error"),
            ("x-dlq-consumer", b"definition"),
            ("x-dlq-original-topic", stack.procs.topic(Topics.PUBLISH_COMPLETED).encode()),
        ]
        await producer.send_and_wait(
            stack.procs.topic(Topics.dlq(Topics.PUBLISH_COMPLETED)),
            dead.to_bytes(),
            key=stale.key().encode(),
            headers=headers,
        )
    finally:
        await producer.stop()
    before = await consumed(stack)
    first = await asyncio.to_thread(replay, stack)
    assert first["replayed"] >= 1, first
    await unchanged(before)
    again = await asyncio.to_thread(replay, stack)
    assert again["replayed"] == 0, again  # each dead letter is replayed once

    # the IM channel heard about the failure once, not again for the stale copies
    messages = [m for m in stack.im.messages if m.get("incident_key") == f"publish-failed:{failed['id']}"]
    assert len(messages) == 1, messages


async def _more(stack: FaultStack, before: float) -> bool:
    return await consumed(stack) > before
