"""Publish records, retry, run now, batch start (publisher); executions, instances, logs (history-sync);
migrations (definition)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from .conftest import DS_UI, TRACE_UI
from .fakes import FakeServices

Start = Callable[..., Awaitable[httpx.AsyncClient]]


async def test_publish_records_and_paging(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    for _ in range(3):
        fakes.add_record(4)
    r = await client.get("/api/v1/workflows/4/publish-records", params={"page": 2, "page_size": 2})
    assert r.status_code == 200
    assert r.json()["total"] == 3
    assert [i["id"] for i in r.json()["items"]] == [1]
    assert fakes.calls("publisher")[0].query == {"page": "2", "page_size": "2"}
    assert (await client.get("/api/v1/workflows/4/publish-records", params={"page_size": 101})).status_code == 422


async def test_retry(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    failed = fakes.add_record(4)["id"]
    done = fakes.add_record(4, status="success")["id"]
    r = await client.post(f"/api/v1/publish-records/{failed}/retry")
    assert r.status_code == 201, r.text
    assert r.json()["retry_of"] == failed
    assert r.json()["operator"] == "admin"
    sent = fakes.calls("publisher", f"/internal/publish-records/{failed}/retry")[0]
    assert sent.body == {}  # the operator is the verified actor of the call
    assert (sent.actor, sent.roles) == ("admin", ("admin",))
    r = await client.post(f"/api/v1/publish-records/{done}/retry")
    assert r.status_code == 409
    assert r.json()["detail"] == f"publish record {done} is success, not failed"
    assert (await client.post("/api/v1/publish-records/999/retry")).status_code == 404


async def test_run_now(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    wid = fakes.add_workflow("daily", status="online")["id"]
    fakes.deployed.add(wid)
    r = await client.post(f"/api/v1/workflows/{wid}/run", json={"start_params": {"dt": "2025-01-01"}})
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["instance_ids"]) == ("started", [7000 + wid])
    assert fakes.calls("publisher")[0].body == {"start_params": {"dt": "2025-01-01"}}
    run = await client.get(f"/api/v1/workflows/{wid}/runs/{r.json()['run_id']}")
    assert run.json()["instance_ids"] == [7000 + wid]
    never = fakes.add_workflow("never", status="ready")["id"]
    r = await client.post(f"/api/v1/workflows/{never}/run")
    assert r.status_code == 409
    assert r.json()["type"] == "/problems/not-deployed"
    assert (await client.post(f"/api/v1/workflows/{wid}/run", json={"failure_strategy": "RETRY"})).status_code == 422
    assert (await client.post("/api/v1/workflows/404/run")).status_code == 404


async def test_the_detail_links_a_run_started_here_and_each_publish_record_to_its_trace(
    client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    wid = fakes.add_workflow("daily", status="online", codes=(77, 123456))["id"]
    fakes.deployed.add(wid)
    fakes.add_executions(wid, 3)  # started by DS's schedule: no trace of ours
    record = fakes.add_record(wid)
    record["trace_id"] = "0123456789abcdef0123456789abcdef"
    r = await client.post(f"/api/v1/workflows/{wid}/run")
    assert r.status_code == 200, r.text
    started = r.json()["instance_ids"][0]
    fakes.executions[wid].insert(0, {**fakes.executions[wid][0], "instance_id": started})
    detail = (await client.get(f"/api/v1/workflows/{wid}")).json()
    links = {e["instance_id"]: e["trace_link"] for e in detail["executions"]["executions"]}
    assert links.pop(started) == f"{TRACE_UI}/traces/{0xABC0001:032x}"
    assert set(links.values()) == {None}
    # each execution links to its instance's page in DolphinScheduler's UI (common.dolphin.links)
    assert {e["instance_id"]: e["ds_link"] for e in detail["executions"]["executions"]} == {
        e["instance_id"]: f"{DS_UI}/projects/77/workflow/instances/{e['instance_id']}" for e in fakes.executions[wid]
    }
    assert detail["publish_records"]["items"][0]["trace_link"] == f"{TRACE_UI}/traces/{record['trace_id']}"
    listed = (await client.get(f"/api/v1/workflows/{wid}/publish-records")).json()
    assert listed["items"][0]["trace_link"] == f"{TRACE_UI}/traces/{record['trace_id']}"


async def test_run_now_takes_schedule_time_warning_type_and_worker_group(
    client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    wid = fakes.add_workflow("daily", status="online")["id"]
    fakes.deployed.add(wid)
    body = {"schedule_time": "2025-03-04T05:06:07+08:00", "warning_type": "FAILURE", "worker_group": "etl"}
    r = await client.post(f"/api/v1/workflows/{wid}/run", json=body)
    assert r.status_code == 200, r.text
    assert fakes.calls("publisher")[0].body == {
        "schedule_time": "2025-03-04T05:06:07+08:00",
        "warning_type": "FAILURE",
        "worker_group": "etl",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"schedule_time": "next tuesday"}, "body.schedule_time"),
        ({"schedule_time": "2025-02-30T00:00:00Z"}, "body.schedule_time"),
        ({"warning_type": "LOUD"}, "body.warning_type"),
        ({"warning_type": "none"}, "body.warning_type"),
        ({"worker_group": ""}, "body.worker_group"),
        ({"worker_group": "etl "}, "body.worker_group"),
        ({"worker_group": "x" * 65}, "body.worker_group"),
    ],
)
async def test_bad_run_options_are_refused_naming_the_field(
    client: httpx.AsyncClient, fakes: FakeServices, body: dict[str, object], field: str
) -> None:
    wid = fakes.add_workflow("daily", status="online")["id"]
    fakes.deployed.add(wid)
    for path, sent in (
        (f"/api/v1/workflows/{wid}/run", body),
        ("/api/v1/workflows/batch-run", {**body, "workflow_ids": [wid]}),
    ):
        r = await client.post(path, json=sent)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"][0]["location"] == field
        assert r.json()["detail"].startswith(field)
    assert fakes.calls("publisher") == []


async def test_the_failure_strategy_is_left_to_the_workflow_unless_the_request_names_one(
    client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    """An omitted failure strategy is not filled in (the publisher gives the run the workflow's: END when any task
    says END, else CONTINUE); a named one is passed on, for run now and a batch start."""
    wid = fakes.add_workflow("daily", status="online")["id"]
    fakes.deployed.add(wid)
    runs, batch = f"/api/v1/workflows/{wid}/run", "/api/v1/workflows/batch-run"
    for path, extra in ((runs, {}), (batch, {"workflow_ids": [wid]})):
        for body in ({}, {"failure_strategy": "CONTINUE"}, {"failure_strategy": "END"}):
            r = await client.post(path, json={**extra, **body}, headers={"Idempotency-Key": f"fs-{len(fakes.seen)}"})
            assert r.status_code == 200, r.text
            sent = fakes.calls("publisher")[-1].body
            assert sent.get("failure_strategy") == body.get("failure_strategy"), (path, body, sent)
            assert ("failure_strategy" in sent) == bool(body)
    assert (await client.post(runs, json={"failure_strategy": "end"})).status_code == 422
    assert (await client.post(batch, json={"workflow_ids": [wid], "failure_strategy": None})).status_code == 200
    assert fakes.calls("publisher")[-1].body["failure_strategy"] is None  # null: the workflow's, like omitted


async def test_run_now_with_an_idempotency_key(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    wid = fakes.add_workflow("daily", status="online")["id"]
    fakes.deployed.add(wid)
    first = await client.post(f"/api/v1/workflows/{wid}/run", headers={"Idempotency-Key": "click-1"})
    again = await client.post(f"/api/v1/workflows/{wid}/run", headers={"Idempotency-Key": "click-1"})
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["run_id"] == first.json()["run_id"]
    assert [c.headers.get("idempotency-key") for c in fakes.calls("publisher")] == ["click-1", "click-1"]
    bad = await client.post(f"/api/v1/workflows/{wid}/run", headers={"Idempotency-Key": "has space"})
    assert bad.status_code == 422


async def test_no_run_while_offline_on_the_platform(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    wid = fakes.add_workflow("paused", status="offline")["id"]
    fakes.deployed.add(wid)
    r = await client.post(f"/api/v1/workflows/{wid}/run")
    assert r.status_code == 409
    assert r.json()["type"] == "/problems/platform-offline"
    r = await client.post("/api/v1/workflows/batch-run", json={"workflow_ids": [wid]})
    assert r.status_code == 409
    assert r.json()["workflow_ids"] == [wid]
    assert fakes.calls("publisher") == []


async def test_batch_run(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    a, b, c = (fakes.add_workflow(n, status="online")["id"] for n in ("a", "b", "c"))
    fakes.deployed.update({a, b})
    body = {
        "workflow_ids": [a, b],
        "backfill": {"start": "2025-01-01T00:00:00Z", "end": "2025-01-03T00:00:00Z"},
        "run_mode": "parallel",
        "parallelism": 2,
    }
    r = await client.post("/api/v1/workflows/batch-run", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["instance_ids"] == [5000 + a, 5000 + b]
    assert [(x["workflow_id"], x["status"]) for x in r.json()["results"]] == [(a, "started"), (b, "started")]
    # each instance links to its page in DolphinScheduler's UI (common.dolphin.links)
    assert [x["ds_links"] for x in r.json()["results"]] == [
        [f"{DS_UI}/projects/77/workflow/instances/{5000 + a}"],
        [f"{DS_UI}/projects/77/workflow/instances/{5000 + b}"],
    ]
    sent = fakes.calls("publisher")[0].body
    assert sent["workflow_ids"] == [a, b]
    assert sent["backfill"] == {"start": "2025-01-01T00:00:00Z", "end": "2025-01-03T00:00:00Z"}
    r = await client.post("/api/v1/workflows/batch-run", json={"workflow_ids": [a, c]})
    assert r.status_code == 409
    assert r.json()["workflow_ids"] == [c]


async def test_batch_run_reports_each_workflow(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    """A workflow DS refuses midway is reported with DS's code and message; the others are started (no 5xx)."""
    a, b, c = (fakes.add_workflow(n, status="online")["id"] for n in ("a", "b", "c"))
    fakes.deployed.update({a, b, c})
    fakes.offline_in_ds.add(b)
    r = await client.post("/api/v1/workflows/batch-run", json={"workflow_ids": [a, b, c]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["started"], body["failed"], body["unknown"]) == (2, 1, 0)
    assert body["instance_ids"] == [5000 + a, 5000 + c]
    failed = body["results"][1]
    assert (failed["workflow_id"], failed["status"], failed["ds_code"]) == (b, "failed", 50014)
    assert failed["ds_msg"] == "start workflow instance error:The workflowDefinition should be online"


@pytest.mark.parametrize(
    "body",
    [
        {"workflow_ids": []},
        {},
        {"workflow_ids": [1], "run_mode": "random"},
        {"workflow_ids": [1], "backfill": {}},
        {
            "workflow_ids": [1],
            "schedule_time": "2025-01-01T00:00:00Z",
            "backfill": {"start": "2025-01-01T00:00:00Z", "end": "2025-01-02T00:00:00Z"},
        },
    ],
    ids=["empty", "missing", "bad-mode", "bad-backfill", "schedule-time-and-backfill"],
)
async def test_batch_run_bad_input(client: httpx.AsyncClient, fakes: FakeServices, body: dict[str, object]) -> None:
    assert (await client.post("/api/v1/workflows/batch-run", json=body)).status_code == 422
    assert fakes.seen == []


async def test_executions_instance_and_log(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    fakes.add_executions(4, 3)
    r = await client.get("/api/v1/workflows/4/executions")
    assert r.status_code == 200
    assert len(r.json()["executions"]) == 3
    assert r.json()["stale"] is False
    assert [e["ds_link"] for e in r.json()["executions"]] == [
        f"{DS_UI}/projects/77/workflow/instances/{i}" for i in (4000, 4001, 4002)
    ]
    assert (await client.get("/api/v1/workflows/5/executions")).status_code == 404
    r = await client.get("/api/v1/workflows/4/instances/4001")
    assert r.status_code == 200
    assert r.json()["tasks"][0]["id"] == 40010
    assert fakes.calls("history", "/internal/instances/4001")[0].query == {"workflow_id": "4"}
    assert (await client.get("/api/v1/workflows/5/instances/4001")).status_code == 404
    r = await client.get("/api/v1/workflows/4/task-instances/40010/log", params={"skip_line_num": 20, "limit": 10})
    assert r.status_code == 200
    assert r.json()["line_count"] == 5
    assert r.json()["complete"] is True
    assert fakes.calls("history", "/internal/task-instances/40010/log")[0].query == {
        "workflow_id": "4",
        "skip_line_num": "20",
        "limit": "10",
    }
    # the task instance must belong to the workflow in the path
    assert (await client.get("/api/v1/workflows/5/task-instances/40010/log")).status_code == 404
    r = await client.get("/api/v1/workflows/4/task-instances/40010/log", params={"instance_id": 4001})
    assert r.status_code == 200
    assert fakes.calls("history", "/internal/task-instances/40010/log")[-1].query["instance_id"] == "4001"
    assert (await client.get("/api/v1/workflows/4/task-instances/1/log", params={"limit": 0})).status_code == 422


async def test_executions_page_uses_the_longer_budget(start: Start, fakes: FakeServices) -> None:
    fakes.add_executions(4, 1)
    fakes.control["history"].delay_s = 2.0  # longer than the composed pages' 1.5 s (conftest)
    client = await start(history_direct_timeout_s=5.0)
    assert (await client.get("/api/v1/workflows/4/executions")).status_code == 200
    detail_part = await start(history_direct_timeout_s=5.0)
    fakes.add_workflow("w")
    d = (await detail_part.get("/api/v1/workflows/1")).json()
    assert d["unavailable"] == ["executions"]


async def test_history_down_for_its_own_pages(start: Start) -> None:
    client = await start(down=("history",))
    r = await client.get("/api/v1/workflows/4/executions")
    assert r.status_code == 503
    assert r.json()["detail"] == "history service is unavailable"


async def test_migrations(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    t = fakes.add_task("t")["id"]
    src = fakes.add_workflow("src", task_ids=[t])["id"]
    dst = fakes.add_workflow("dst")["id"]
    preview = {"task_id": t, "target_workflow_id": dst, "mode": "cascade_downstream"}
    r = await client.post("/api/v1/migrations/preview", json=preview)
    assert r.status_code == 200, r.text
    assert r.json()["source_workflow_id"] == src
    run = {**preview, "expected_source_version_no": 1, "expected_target_version_no": 5}
    r = await client.post("/api/v1/migrations", json=run)
    assert r.status_code == 409
    assert r.json()["type"] == "/problems/stale-version"
    r = await client.post("/api/v1/migrations", json={**run, "expected_target_version_no": 1})
    assert r.status_code == 200
    assert r.json()["target"]["id"] == dst
    assert (await client.post("/api/v1/migrations/preview", json={**preview, "mode": "all"})).status_code == 422
    assert (await client.post("/api/v1/migrations", json=preview)).status_code == 422
    missing = await client.post("/api/v1/migrations/preview", json={**preview, "task_id": 999})
    assert missing.status_code == 404
