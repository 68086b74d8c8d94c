"""Scenario 1 (issue 23): DS fails the ``release`` after ``createOrUpdateWorkflow`` took an ONLINE workflow offline.

A workflow ONLINE in DS gets a new version and is published ``online``; DS answers the release with 503, 401 or not
at all. Transient failures are retried inside the publish; when the publish finally fails, the record, the workflow
(DS's real state, read back) and the IM alert all say that DS now holds it OFFLINE, and the publisher's reconciler
restores the intended state once DS answers again — without a human, unless a person cancels it (and later restores
it with one call, the portal's button).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from common.dolphin import ReleaseState
from common.testing.gateway_api import GatewayApi, until

from .conftest import FaultStack, ds_workflow, uid

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

RELEASE = r"/workflow-definition/\d+/release$"

FAULTS: dict[str, dict[str, Any]] = {
    "503": {"action": "http_status", "match": RELEASE, "status": 503},
    "401": {"action": "unauthorized", "match": RELEASE},
    "timeout": {"action": "hang", "match": RELEASE, "hangSeconds": 30},
}


async def online_with_new_version(api: GatewayApi, stack: FaultStack) -> int:
    """A scheduled workflow published online (DS: ONLINE, schedule online), then given a new approved version."""
    workflow_id = await api.new_workflow(f"s1-{uid()}")
    await api.publish(workflow_id, "online")
    detail = await api.settled(workflow_id)
    assert (detail["publish_status"], detail["release_state"]) == ("published", "ONLINE"), detail
    await api.new_version(workflow_id)
    return workflow_id


async def ds_state(stack: FaultStack, detail: dict[str, Any]) -> tuple[ReleaseState | None, bool, int]:
    """DS's release state of the workflow, whether its schedule is online, and its number of tasks."""
    dag = await ds_workflow(stack, detail)
    async with stack.ds() as ds:
        schedule = await ds.get_schedule_of_workflow(int(detail["project_code"]), int(detail["workflow_code"]))
    online = schedule is not None and schedule.release_state is ReleaseState.ONLINE
    return dag.workflow_definition.release_state, online, len(dag.task_definition_list)


def im_message(stack: FaultStack, record_id: int) -> dict[str, Any] | None:
    key = f"publish-failed:{record_id}"
    return next((m for m in stack.im.messages if m.get("incident_key") == key), None)


async def failed_and_told(api: GatewayApi, stack: FaultStack, workflow_id: int) -> dict[str, Any]:
    """Publish ``online`` under the active fault: everything says DS now holds the workflow OFFLINE."""
    await api.publish(workflow_id, "online")
    detail = await api.settled(workflow_id, timeout_s=90)
    assert detail["publish_status"] == "failed", detail
    record = (await api.records(workflow_id))[0]
    assert record["status"] == "failed", record
    # DS's real state: createOrUpdateWorkflow took it (and its schedule) offline, the release never happened
    assert await ds_state(stack, detail) == (ReleaseState.OFFLINE, False, 3)
    # the record says so (read back after the failure) …
    assert record["release_state"] == "OFFLINE", record
    assert "DolphinScheduler now holds it OFFLINE" in record["log"], record["log"]
    assert record["intended_release_state"] == "ONLINE", record
    # … the workflow says so …
    assert detail["release_state"] == "OFFLINE", detail
    assert detail["needs_attention"] is True, detail
    assert "OFFLINE" in detail["attention_reason"], detail
    assert detail["ds_attention"]["intended_release_state"] == "ONLINE", detail

    # … and the alert reached the IM channel and says so
    async def told() -> dict[str, Any] | None:
        return im_message(stack, record["id"])

    message = await until(told, "the IM message of the failure")
    assert "DolphinScheduler now holds it OFFLINE" in json.dumps(message), message
    restore = await api.call("GET", f"/workflows/{workflow_id}/restore")
    assert (restore["status"], restore["intended_release_state"]) == ("restoring", "ONLINE"), restore
    return detail


async def restored(api: GatewayApi, stack: FaultStack, workflow_id: int, *, timeout_s: float = 45.0) -> dict[str, Any]:
    """Wait until DS holds the new version ONLINE with its schedule online and the platform says so."""

    async def back() -> dict[str, Any] | None:
        detail = await api.workflow(workflow_id)
        ds = await ds_state(stack, detail)
        ok = ds == (ReleaseState.ONLINE, True, 3) and detail["release_state"] == "ONLINE"
        return detail if ok and detail["publish_status"] == "published" and not detail["needs_attention"] else None

    detail: dict[str, Any] = await until(
        back, f"workflow {workflow_id} ONLINE again in DS and in the platform", timeout_s=timeout_s
    )
    assert detail["ds_attention"] is None
    assert detail["last_published_version_no"] == 2
    restore = await api.call("GET", f"/workflows/{workflow_id}/restore")
    assert restore["status"] == "restored", restore
    return detail


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_release_failure_is_told_and_reconciled_without_a_human(
    fault_stack: FaultStack, api: GatewayApi, fault: str
) -> None:
    workflow_id = await online_with_new_version(api, fault_stack)
    rule = dict(FAULTS[fault])
    fault_stack.emulator.add_fault(rule.pop("action"), **rule)
    await failed_and_told(api, fault_stack, workflow_id)

    fault_stack.emulator.clear_faults()
    await restored(api, fault_stack, workflow_id)
    records = await api.records(workflow_id)
    assert records[0]["status"] == "success", records[0]
    assert records[0]["operator"] == "reconciler", records[0]


async def test_transient_release_errors_are_retried_inside_the_publish(
    fault_stack: FaultStack, api: GatewayApi
) -> None:
    workflow_id = await online_with_new_version(api, fault_stack)
    fault_stack.emulator.add_fault("http_status", match=RELEASE, status=503, times=2)
    await api.publish(workflow_id, "online")
    detail = await api.settled(workflow_id)
    assert (detail["publish_status"], detail["release_state"]) == ("published", "ONLINE"), detail
    records = await api.records(workflow_id)
    assert [r["status"] for r in records] == ["success", "success"], records
    assert records[0]["log"].count("retrying") == 2, records[0]["log"]
    assert await ds_state(fault_stack, detail) == (ReleaseState.ONLINE, True, 3)


async def test_a_person_cancels_the_reconciler_and_restores_with_one_click(
    fault_stack: FaultStack, api: GatewayApi
) -> None:
    workflow_id = await online_with_new_version(api, fault_stack)
    fault_stack.emulator.add_fault("unauthorized", match=RELEASE)
    detail = await failed_and_told(api, fault_stack, workflow_id)

    keys = {}
    for role in ("viewer", "publisher"):
        body = {"name": f"s1-{role}-{uid()}", "roles": [role]}
        keys[role] = (await api.call("POST", "/api-keys", 201, json=body))["key"]
    async with fault_stack.client(keys["viewer"]) as viewer:
        r = await viewer.post(f"/api/v1/workflows/{workflow_id}/restore/cancel")
        assert r.status_code == 403, r.text
    async with fault_stack.client(keys["publisher"]) as person:
        r = await person.post(f"/api/v1/workflows/{workflow_id}/restore/cancel")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled"
        assert r.json()["cancelled_by"].startswith("s1-publisher-")

        # cancelled: DS answering again changes nothing; DS stays OFFLINE and the platform keeps saying so
        fault_stack.emulator.clear_faults()
        records = len(await api.records(workflow_id))
        await asyncio.sleep(5)  # > 2 backoffs of the stack's reconciler
        assert len(await api.records(workflow_id)) == records
        assert (await ds_state(fault_stack, detail))[0] is ReleaseState.OFFLINE
        assert (await api.workflow(workflow_id))["release_state"] == "OFFLINE"

        # the portal's one-click restore
        r = await person.post(f"/api/v1/workflows/{workflow_id}/restore")
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "restoring"
    await restored(api, fault_stack, workflow_id, timeout_s=20)
    records_after = await api.records(workflow_id)
    assert records_after[0]["operator"].startswith("s1-publisher-"), records_after[0]
