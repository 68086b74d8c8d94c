"""Workflow pages and operations: composition, degraded modes, pass-through of the services' problems."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from gateway.responses import WorkflowPage

from .conftest import DS_UI, bearer, new_key
from .fakes import FakeServices

Start = Callable[..., Awaitable[httpx.AsyncClient]]


def seed_two(fakes: FakeServices) -> tuple[int, int]:
    t1 = fakes.add_task("extract")["id"]
    t2 = fakes.add_task("load")["id"]
    published = fakes.add_workflow("daily orders", task_ids=[t1], status="online", codes=(77, 123456))["id"]
    draft = fakes.add_workflow("hourly clicks", task_ids=[t2])["id"]
    fakes.add_executions(published, 12)
    return published, draft


async def test_list_adds_last_ten_executions_and_ds_link(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    published, draft = seed_two(fakes)
    r = await client.get("/api/v1/workflows", headers={"X-Request-Id": "req-list-1"})
    assert r.status_code == 200, r.text
    body = r.json()
    # sent as the service shaped it (``json_page``, not validated on the way): its documented model holds
    WorkflowPage.model_validate(body)
    assert body["total"] == 2
    assert body["page"] == 1
    assert body["page_size"] == 20
    assert body["unavailable"] == []
    by_id = {w["id"]: w for w in body["items"]}
    runs = by_id[published]["last_executions"]
    assert len(runs) == 10
    assert set(runs[0]) == {"instance_id", "state", "start_time", "end_time", "duration"}
    assert [e["instance_id"] for e in runs] == [1000 * published + i for i in range(10)]  # newest first, as given
    assert by_id[published]["executions_unavailable"] is False
    assert by_id[published]["ds_link"] == f"{DS_UI}/projects/77/workflow/definitions/123456"
    assert by_id[published]["executions_synced_at"] is not None
    assert by_id[draft]["last_executions"] == []  # never synced: no runs, not "unavailable"
    assert by_id[draft]["executions_synced_at"] is None
    assert by_id[draft]["ds_link"] is None
    # ONE call: the definition service's list carries the runs (its projection of execution.synced)
    assert fakes.calls("history") == []
    (listed,) = fakes.calls("definition")
    assert listed.path == "/internal/workflows"
    assert listed.actor == "admin"
    assert listed.request_id == "req-list-1"
    assert r.headers["X-Request-Id"] == "req-list-1"


async def test_list_forwards_filters_sort_and_paging(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    seed_two(fakes)
    r = await client.get(
        "/api/v1/workflows",
        params={"name": "daily", "status": "online", "needs_attention": "false", "sort": "name", "page_size": 5},
    )
    assert r.status_code == 200, r.text
    assert [w["name"] for w in r.json()["items"]] == ["daily orders"]
    q = fakes.calls("definition", "/internal/workflows")[0].query
    assert q == {
        "name": "daily",
        "status": "online",
        "needs_attention": "false",
        "sort": "name",
        "page": "1",
        "page_size": "5",
    }


@pytest.mark.parametrize(
    "params",
    [{"status": "bogus"}, {"sort": "owner"}, {"page": "0"}, {"page_size": "201"}, {"publish_status": "done"}],
)
async def test_list_rejects_bad_filters(client: httpx.AsyncClient, fakes: FakeServices, params: dict[str, str]) -> None:
    r = await client.get("/api/v1/workflows", params=params)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert fakes.calls("definition") == []


async def test_list_does_not_need_history(start: Start, fakes: FakeServices) -> None:
    published, _ = seed_two(fakes)
    client = await start(down=("history",))
    r = await client.get("/api/v1/workflows")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unavailable"] == []
    by_id = {w["id"]: w for w in body["items"]}
    assert len(by_id[published]["last_executions"]) == 10
    assert not any(w["executions_unavailable"] for w in body["items"])


async def test_definition_down_is_503_naming_the_service(start: Start, fakes: FakeServices) -> None:
    client = await start(down=("definition",))
    r = await client.get("/api/v1/workflows")
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["detail"] == "definition service is unavailable"
    assert problem["type"] == "/problems/upstream-unavailable"
    assert "127.0.0.1" not in r.text
    assert "http://" not in r.text
    assert r.headers["Retry-After"]


async def test_definition_slow_is_504(start: Start, fakes: FakeServices) -> None:
    fakes.control["definition"].delay_s = 1.0
    client = await start(definition_timeout_s=0.2)
    r = await client.get("/api/v1/workflows/1")
    assert r.status_code == 504
    assert r.json()["detail"] == "definition service did not answer within 0.2 s"
    assert r.json()["service"] == "definition"


async def test_non_problem_error_of_a_service_is_502_without_its_body(
    client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    fakes.control["definition"].raw_error = 500
    r = await client.get("/api/v1/workflows")
    assert r.status_code == 502
    assert r.json()["type"] == "/problems/bad-upstream-answer"
    assert "10.0.0.7" not in r.text  # the proxy page (with an internal address) is not passed on
    fakes.control["definition"].raw_error = 503
    r = await client.get("/api/v1/workflows")
    assert r.status_code == 503
    assert r.json()["detail"] == "definition service is unavailable (HTTP 503)"


async def test_detail_composes_all_parts(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    published, _ = seed_two(fakes)
    fakes.add_record(published)
    r = await client.get(f"/api/v1/workflows/{published}")
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["id"] == published
    assert d["name"] == "daily orders"
    assert d["unavailable"] == []
    assert d["versions"]["total"] == 1
    assert d["versions"]["items"][0]["version_no"] == 1
    assert d["publish_records"]["items"][0]["status"] == "failed"
    assert d["executions"]["tracked"] is True
    assert d["executions"]["age_seconds"] == 12.5
    assert d["executions"]["stale"] is False
    assert len(d["executions"]["executions"]) == 12
    assert d["ds_link"] == f"{DS_UI}/projects/77/workflow/definitions/123456"
    request_ids = {s.request_id for s in fakes.seen}
    assert len(request_ids) == 1  # one request id across the four calls


async def test_detail_of_untracked_workflow_has_no_executions(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    _, draft = seed_two(fakes)
    d = (await client.get(f"/api/v1/workflows/{draft}")).json()
    assert d["executions"] == {"workflow_id": draft, "tracked": False, "executions": []}
    assert d["unavailable"] == []
    assert d["ds_link"] is None


@pytest.mark.parametrize(
    ("down", "part"), [("publisher", "publish_records"), ("history", "executions")], ids=["publisher", "history"]
)
async def test_detail_marks_a_missing_part(start: Start, fakes: FakeServices, down: str, part: str) -> None:
    published, _ = seed_two(fakes)
    client = await start(down=(down,))
    r = await client.get(f"/api/v1/workflows/{published}")
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["unavailable"] == [part]
    assert d[part] is None
    assert d["versions"] is not None


async def test_detail_of_unknown_workflow_passes_404_through(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    r = await client.get("/api/v1/workflows/999")
    assert r.status_code == 404
    assert r.json()["detail"] == "workflow 999 does not exist"
    assert r.json()["instance"] == "/api/v1/workflows/999"  # not the service's /internal path


async def test_create_workflow_forwards_only_given_fields(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    t = fakes.add_task("extract")["id"]
    body = {"name": "new flow", "tasks": [{"task_id": t}], "edges": []}
    r = await client.post("/api/v1/workflows", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["created_by"] == "admin"
    sent = fakes.calls("definition", "/internal/workflows")[0]
    assert sent.body == {"name": "new flow", "tasks": [{"task_id": t}], "edges": []}
    assert sent.actor == "admin"


async def test_task_owned_elsewhere_409_is_passed_through(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    t = fakes.add_task("extract")["id"]
    owner = fakes.add_workflow("owner", task_ids=[t])["id"]
    r = await client.post("/api/v1/workflows", json={"name": "thief", "tasks": [{"task_id": t}]})
    assert r.status_code == 409
    p = r.json()
    assert p["type"] == "/problems/task-owned-by-another-workflow"
    assert p["tasks"] == [{"task_id": t, "owner_workflow_id": owner}]
    assert p["owner_workflow_ids"] == [owner]
    assert p["migration_modes"] == ["only_current", "cascade_downstream", "cascade_up_and_downstream"]
    assert p["instance"] == "/api/v1/workflows"


async def test_stale_update_409_and_service_422_are_passed_through(
    client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    wid = fakes.add_workflow("flow")["id"]
    r = await client.put(f"/api/v1/workflows/{wid}", json={"name": "x", "tasks": [], "expected_version_no": 7})
    assert r.status_code == 409
    assert r.json()["type"] == "/problems/stale-version"
    assert r.json()["current_version_no"] == 1
    r = await client.put(
        f"/api/v1/workflows/{wid}", json={"name": "x", "tasks": [{"task_id": 42}], "expected_version_no": 1}
    )
    assert r.status_code == 422
    assert r.json()["unknown_task_ids"] == [42]
    r = await client.put(f"/api/v1/workflows/{wid}", json={"name": "renamed", "tasks": [], "expected_version_no": 1})
    assert r.status_code == 200
    assert r.json()["current_version_no"] == 2


@pytest.mark.parametrize(
    "body",
    [{}, {"name": ""}, {"name": "x", "edges": [{"upstream_task_id": 1}]}, {"name": "x", "timeout_minutes": -1}],
    ids=["empty", "blank-name", "half-edge", "negative-timeout"],
)
async def test_create_workflow_bad_input_is_422_at_the_gateway(
    client: httpx.AsyncClient, fakes: FakeServices, body: dict[str, object]
) -> None:
    r = await client.post("/api/v1/workflows", json=body)
    assert r.status_code == 422
    assert r.json()["type"] == "/problems/validation-failed"
    assert fakes.calls("definition") == []


async def test_state_actions_and_invalid_transition(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    wid = fakes.add_workflow("flow")["id"]
    r = await client.post(f"/api/v1/workflows/{wid}/online")
    assert r.status_code == 409
    assert r.json()["type"] == "/problems/invalid-transition"
    assert r.json()["allowed_actions"] == ["approve"]
    missing = await client.post(f"/api/v1/workflows/{wid}/approve")  # approve names the version reviewed
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["location"] == "body"
    assert (await client.post(f"/api/v1/workflows/{wid}/approve", json={"version_no": 1})).json()["status"] == "ready"
    assert fakes.calls("definition")[-1].body == {"version_no": 1}
    assert (await client.post(f"/api/v1/workflows/{wid}/online")).json()["status"] == "online"
    assert (await client.post(f"/api/v1/workflows/{wid}/offline")).json()["status"] == "offline"
    actions = [s.path.rsplit("/", 1)[1] for s in fakes.calls("definition") if "/actions/" in s.path]
    assert actions == ["online", "approve", "online", "offline"]


async def test_versions_version_diff_and_rollback(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    wid = fakes.add_workflow("flow")["id"]
    await client.put(f"/api/v1/workflows/{wid}", json={"name": "v2", "tasks": [], "expected_version_no": 1})
    r = await client.get(f"/api/v1/workflows/{wid}/versions", params={"page_size": 1})
    assert r.status_code == 200
    assert r.json()["total"] == 2
    assert [v["version_no"] for v in r.json()["items"]] == [2]
    assert fakes.calls("definition", f"/internal/workflows/{wid}/versions")[-1].query == {"page": "1", "page_size": "1"}
    v1 = await client.get(f"/api/v1/workflows/{wid}/versions/1")
    assert v1.status_code == 200
    assert "structure_snapshot" in v1.json()
    assert (await client.get(f"/api/v1/workflows/{wid}/versions/9")).status_code == 404
    diff = await client.get(f"/api/v1/workflows/{wid}/diff", params={"from": 1, "to": 2})
    assert diff.status_code == 200
    assert diff.json()["summary"] == "1 to 2"
    assert fakes.calls("definition", f"/internal/workflows/{wid}/diff")[-1].query == {"from": "1", "to": "2"}
    assert (await client.get(f"/api/v1/workflows/{wid}/diff", params={"from": 1})).status_code == 422
    rb = await client.post(f"/api/v1/workflows/{wid}/rollback", json={"to_version_no": 1, "expected_version_no": 2})
    assert rb.status_code == 200
    assert rb.json()["current_version_no"] == 3
    stale = await client.post(f"/api/v1/workflows/{wid}/rollback", json={"to_version_no": 1, "expected_version_no": 2})
    assert stale.status_code == 409
    assert (await client.post(f"/api/v1/workflows/{wid}/rollback", json={"to_version_no": 0})).status_code == 422


async def test_publish_is_202_and_refusal_is_passed_through(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    ready = fakes.add_workflow("ready", status="ready")["id"]
    draft = fakes.add_workflow("draft")["id"]
    r = await client.post(f"/api/v1/workflows/{ready}/publish", json={"operation": "deploy"})
    assert r.status_code == 202, r.text
    assert r.json()["operation"] == "deploy"
    assert r.json()["workflow_id"] == ready
    r = await client.post(f"/api/v1/workflows/{draft}/publish", json={"operation": "online"})
    assert r.status_code == 409
    assert r.json()["type"] == "/problems/publish-not-allowed"
    assert r.json()["allowed_operations"] == []
    r = await client.post(f"/api/v1/workflows/{ready}/publish", json={"operation": "delete"})
    assert r.status_code == 422


async def test_path_ids_are_validated(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    assert (await client.get("/api/v1/workflows/abc")).status_code == 422
    assert (await client.get("/api/v1/workflows/0")).status_code == 422
    assert fakes.seen == []


async def test_actor_is_the_key_name(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    key = await new_key(client, "alice", "editor")
    t = fakes.add_task("x")["id"]
    r = await client.post("/api/v1/workflows", json={"name": "f", "tasks": [{"task_id": t}]}, headers=bearer(key))
    assert r.status_code == 201
    assert fakes.calls("definition", "/internal/workflows")[0].actor == "alice"
