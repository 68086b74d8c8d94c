"""DS failures end in a failed record with the cause and publish.completed(failed); a retry through the API then
succeeds. No token ever reaches a log line."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from common.dolphin import ReleaseState
from common.events.models import PublishOutcome
from common.testing.identity import auth_headers

from .conftest import Harness, request, shell, snapshot

pytestmark = pytest.mark.timeout(180)

FAULTS: dict[str, tuple[str, dict[str, Any], int | None, str]] = {
    # name: (operation, emulator fault, expected error_code, text expected in the error)
    "gateway down during createOrUpdateWorkflow": (
        "deploy",
        {"action": "close", "target": "gateway", "match": "^createOrUpdateWorkflow$"},
        None,
        "gateway",
    ),
    "5xx on release": ("online", {"action": "http_status", "match": r"/release$", "status": 503}, None, "HTTP 503"),
    "token rejected": ("deploy", {"action": "unauthorized", "match": r"/workflow-definition/"}, None, "access token"),
    "DS business error on release": (
        "online",
        {"action": "ds_error", "match": r"/release$", "dsCode": 50035, "dsMsg": "workflow dag is empty"},
        50035,
        "workflow dag is empty",
    ),
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_failure_is_recorded_and_retry_succeeds(harness: Harness, fault: str) -> None:
    operation, rule, error_code, text = FAULTS[fault]
    assert harness.client is not None
    snap = snapshot(201, [shell(1), shell(2)], [(1, 2)])
    harness.emulator.add_fault(rule.pop("action"), **rule)
    req = request(snap, operation)
    await harness.send(req)
    failed = await harness.record(req.request_id)
    assert failed.status == "failed", failed.log
    assert failed.error_code == error_code
    assert text in failed.error_message
    assert "FAILED at" in failed.log
    [event] = await harness.completed(1)
    assert event.outcome is PublishOutcome.FAILED
    assert event.error_code == error_code
    assert event.error_message == failed.error_message

    harness.emulator.clear_faults()
    # the operator is the call's verified actor, whatever the body says
    response = await harness.client.post(
        f"/internal/publish-records/{failed.id}/retry",
        json={"operator": "mallory"},
        headers=auth_headers("publisher", "bob", ("publisher",)),
    )
    assert response.status_code == 201, response.text
    retried = response.json()
    assert retried["status"] == "success", retried["log"]
    assert retried["retry_of"] == failed.id
    assert retried["operator"] == "bob"
    assert retried["request_id"] != str(req.request_id)
    dag = await harness.ds.get_workflow_definition(retried["project_code"], retried["engine_workflow_code"])
    expected = ReleaseState.ONLINE if operation == "online" else ReleaseState.OFFLINE
    assert dag.workflow_definition.release_state is expected
    assert len(dag.task_definition_list) == 2
    events = await harness.completed(2)
    assert [e.outcome for e in events] == [PublishOutcome.FAILED, PublishOutcome.SUCCESS]
    again = await harness.client.post(f"/internal/publish-records/{failed.id}/retry")
    assert again.status_code == 409  # a later publish succeeded: retrying would roll DS back


async def test_no_token_in_any_log_line(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    tokens = [harness.emulator.access_token, harness.emulator.auth_token]
    assert harness.client is not None
    caplog.set_level(logging.DEBUG)
    snap = snapshot(202, [shell(1), shell(2)], [(1, 2)], cron="0 0 1 * * ? *")
    ok = request(snap, "online")
    await harness.send(ok)
    assert (await harness.record(ok.request_id)).status == "success"
    harness.emulator.add_fault("unauthorized", match=r"/release$")
    harness.emulator.add_fault("close", target="gateway", match="^createOrUpdateWorkflow$")
    bad = request(snap.model_copy(update={"tasks": (shell(1), shell(2, "echo v2"))}), "online", version_no=2)
    await harness.send(bad)
    assert (await harness.record(bad.request_id)).status == "failed"
    harness.emulator.clear_faults()
    await harness.client.post(f"/internal/workflows/{snap.workflow_id}/run", json={})
    assert len(caplog.records) > 5
    for record in caplog.records:
        seen = record.getMessage() + repr(record.args) + repr(record.__dict__) + str(record.exc_info or "")
        for token in tokens:
            assert token not in seen, f"token leaked in log record from {record.name}: {record.msg!r}"
