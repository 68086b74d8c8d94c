"""Scenario 2 (issue 23): a publish interrupted by a crash or a database blip.

- The publisher is SIGKILLed while DS stalls a call of the publish. Restarted under the same instance id, it reclaims
  its own dead record at once (not after the lease); another instance reclaims a dead owner's record once the
  (default) lease has run out, within about 30 s. DS never gets the definition twice (one DS version), and exactly one
  ``publish.completed`` is emitted for the record.
- PostgreSQL stops for ~10 s while a record is finishing: the final write is retried in place (the same attempt
  finishes the record once the database is back), and nothing is re-run.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from common.dolphin import ReleaseState
from common.events import PublishCompleted, Topics, registry
from common.testing.gateway_api import GatewayApi, until
from common.testing.kafka_helpers import read_topic

from .conftest import FaultStack, ds_workflow, uid

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

RELEASE = r"/workflow-definition/\d+/release$"
READ_BACK = r"/workflow-definition/\d+$"


async def running_record(api: GatewayApi, workflow_id: int) -> dict[str, Any]:
    async def running() -> dict[str, Any] | None:
        records = await api.records(workflow_id)
        return records[0] if records and records[0]["status"] == "running" else None

    record: dict[str, Any] = await until(running, f"a running publish record of workflow {workflow_id}")
    return record


async def in_ds(stack: FaultStack, name: str) -> bool:
    """Whether DS has a workflow of this name (createOrUpdateWorkflow happened)."""
    async with stack.ds() as ds:
        project = await ds.find_project_by_name(stack.procs.ds_project)
        if project is None:
            return False
        try:
            await ds.get_workflow_definition_by_name(project.code, name)
        except Exception:
            return False
        return True


async def completed_events(stack: FaultStack, record_id: int) -> list[PublishCompleted]:
    topic = stack.procs.topic(Topics.PUBLISH_COMPLETED)
    records = await read_topic(stack.procs.bootstrap, topic, expect=1_000_000, timeout_s=3)
    events = [registry.decode(r.value)[1] for r in records]
    return [e for e in events if isinstance(e, PublishCompleted) and e.record_id == record_id]


async def assert_published_once(stack: FaultStack, api: GatewayApi, workflow_id: int, record_id: int) -> None:
    detail = await api.workflow(workflow_id)
    assert (detail["publish_status"], detail["release_state"]) == ("published", "ONLINE"), detail
    dag = await ds_workflow(stack, detail)
    assert dag.workflow_definition.release_state is ReleaseState.ONLINE
    async with stack.ds() as ds:
        versions = await ds.list_workflow_versions(int(detail["project_code"]), int(detail["workflow_code"]))
    assert versions.total == 1, f"DS got the definition {versions.total} times: {versions}"
    assert [r["id"] for r in await api.records(workflow_id)] == [record_id]
    events = await completed_events(stack, record_id)
    assert [e.outcome.value for e in events] == ["success"], events


async def stalled_publish(api: GatewayApi, stack: FaultStack) -> tuple[int, dict[str, Any]]:
    """A publish ``online`` stuck in DS's release (after createOrUpdateWorkflow): the workflow and its record."""
    name = f"s2-{uid()}"
    workflow_id = await api.new_workflow(name, cron=False)
    stack.emulator.add_fault("hang", match=RELEASE, hangSeconds=120)
    await api.publish(workflow_id, "online")
    record = await running_record(api, workflow_id)
    await until(lambda: in_ds(stack, name), "createOrUpdateWorkflow of the stalled publish")
    return workflow_id, record


async def test_a_restarted_publisher_reclaims_its_own_dead_record_at_once(
    fault_stack: FaultStack, api: GatewayApi
) -> None:
    procs = fault_stack.procs
    # a long lease: only the owner's own reclaim can finish the record within the test
    procs.stop("publisher")
    procs.start(["publisher"], env={"PUBLISHER_PUBLISH_LEASE_S": "600"})
    try:
        workflow_id, record = await stalled_publish(api, fault_stack)
        procs.kill("publisher")
        fault_stack.emulator.clear_faults()
        procs.start(["publisher"], env={"PUBLISHER_PUBLISH_LEASE_S": "600"})

        async def finished() -> dict[str, Any] | None:
            records = await api.records(workflow_id)
            return records[0] if records[0]["status"] not in ("pending", "running") else None

        done = await until(finished, "the dead record finished by the restarted publisher", timeout_s=30)
        assert done["status"] == "success", done
        assert done["attempts"] == 2, done
        await until(lambda: api_published(api, workflow_id), "publish_status published")
        await assert_published_once(fault_stack, api, workflow_id, int(record["id"]))
    finally:
        procs.stop("publisher")
        procs.start(["publisher"])


async def api_published(api: GatewayApi, workflow_id: int) -> bool:
    return bool((await api.workflow(workflow_id))["publish_status"] == "published")


async def test_a_dead_owners_record_is_reclaimed_within_30_seconds(fault_stack: FaultStack, api: GatewayApi) -> None:
    procs = fault_stack.procs
    workflow_id, record = await stalled_publish(api, fault_stack)
    procs.kill("publisher")
    fault_stack.emulator.clear_faults()
    try:
        procs.start(["publisher"], env={"PUBLISHER_INSTANCE_ID": "publisher-b"})

        async def finished() -> dict[str, Any] | None:
            records = await api.records(workflow_id)
            return records[0] if records[0]["status"] not in ("pending", "running") else None

        # the old 300 s lease would not end within this wait; the time it takes is bench/bench_convergence.py's
        done = await until(finished, "the dead owner's record reclaimed by another instance", timeout_s=45)
        assert done["status"] == "success", done
        await until(lambda: api_published(api, workflow_id), "publish_status published")
        await assert_published_once(fault_stack, api, workflow_id, int(record["id"]))
    finally:
        procs.stop("publisher")
        procs.start(["publisher"])


async def test_a_database_blip_while_finishing_is_retried_in_place(
    fault_stack: FaultStack, api: GatewayApi, postgres_server: Any
) -> None:
    name = f"s2-{uid()}"
    workflow_id = await api.new_workflow(name, cron=False)
    # the publish's last DS calls (release, read-back) take 2 s each: PostgreSQL goes away meanwhile
    fault_stack.emulator.add_fault("latency", match=RELEASE, latencyMs=2000)
    fault_stack.emulator.add_fault("latency", match=READ_BACK, method="GET", latencyMs=2000)
    await api.publish(workflow_id, "online")
    record = await running_record(api, workflow_id)
    await until(lambda: in_ds(fault_stack, name), "createOrUpdateWorkflow of the publish", every_s=0.05)
    await asyncio.to_thread(postgres_server.stop)
    stopped = time.monotonic()
    try:
        await asyncio.sleep(max(0.0, 10 - (time.monotonic() - stopped)))
    finally:
        await asyncio.to_thread(postgres_server.start)

    async def finished() -> dict[str, Any] | None:
        try:
            records = await api.records(workflow_id)
        except AssertionError:  # the services may still be reconnecting
            return None
        return records[0] if records[0]["status"] not in ("pending", "running") else None

    done = await until(finished, "the record finished once PostgreSQL is back", timeout_s=30)
    assert done["status"] == "success", done
    assert done["attempts"] == 1, f"the publish was run again instead of finishing in place: {done}"
    await until(lambda: api_published(api, workflow_id), "publish_status published")
    await assert_published_once(fault_stack, api, workflow_id, int(record["id"]))
