"""OpenAPI, AsyncAPI, health/metrics without auth, and the portal (static files + SPA fallback)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from common.events import ALL_EVENTS, Topics

Start = Callable[..., Awaitable[httpx.AsyncClient]]

ANON = {"Authorization": ""}

#: docs/api-contracts.md §5
PUBLIC_API = {
    ("get", "/api/v1/me"),
    ("get", "/api/v1/workflows"),
    ("post", "/api/v1/workflows"),
    ("get", "/api/v1/workflows/{workflow_id}"),
    ("put", "/api/v1/workflows/{workflow_id}"),
    ("delete", "/api/v1/workflows/{workflow_id}"),
    ("post", "/api/v1/workflows/{workflow_id}/archive"),
    ("post", "/api/v1/workflows/{workflow_id}/approve"),
    ("post", "/api/v1/workflows/{workflow_id}/online"),
    ("post", "/api/v1/workflows/{workflow_id}/offline"),
    ("get", "/api/v1/workflows/{workflow_id}/versions"),
    ("get", "/api/v1/workflows/{workflow_id}/versions/{version_no}"),
    ("get", "/api/v1/workflows/{workflow_id}/diff"),
    ("post", "/api/v1/workflows/{workflow_id}/rollback"),
    ("post", "/api/v1/workflows/{workflow_id}/publish"),
    ("get", "/api/v1/workflows/{workflow_id}/publish-records"),
    ("post", "/api/v1/publish-records/{record_id}/retry"),
    ("post", "/api/v1/workflows/{workflow_id}/run"),
    ("get", "/api/v1/workflows/{workflow_id}/runs/{run_id}"),
    ("post", "/api/v1/workflows/batch-run"),
    ("get", "/api/v1/workflows/{workflow_id}/restore"),
    ("post", "/api/v1/workflows/{workflow_id}/restore"),
    ("post", "/api/v1/workflows/{workflow_id}/restore/cancel"),
    ("get", "/api/v1/workflows/{workflow_id}/executions"),
    ("get", "/api/v1/workflows/{workflow_id}/instances/{instance_id}"),
    ("get", "/api/v1/workflows/{workflow_id}/task-instances/{task_instance_id}/log"),
    ("get", "/api/v1/tasks"),
    ("post", "/api/v1/tasks"),
    ("put", "/api/v1/tasks/{task_id}"),
    ("delete", "/api/v1/tasks/{task_id}"),
    ("get", "/api/v1/tasks/{task_id}"),
    ("post", "/api/v1/migrations/preview"),
    ("post", "/api/v1/migrations"),
    ("get", "/api/v1/proposals"),
    ("post", "/api/v1/proposals/rebuild"),
    ("get", "/api/v1/proposals/{proposal_id}/preview"),
    ("post", "/api/v1/proposals/{proposal_id}/accept"),
    ("post", "/api/v1/proposals/{proposal_id}/dismiss"),
    ("get", "/api/v1/lineage/tables"),
    ("get", "/api/v1/lineage/table"),
    ("get", "/api/v1/lineage/impact"),
    ("get", "/api/v1/lineage/dag-check"),
    ("get", "/api/v1/audit-log"),
    ("post", "/api/v1/api-keys"),
    ("get", "/api/v1/api-keys"),
    ("delete", "/api/v1/api-keys/{key_id}"),
    ("post", "/api/v1/lineage"),
    ("get", "/api/v1/tasks/{task_id}/openlineage-job"),
    ("put", "/api/v1/tasks/{task_id}/openlineage-job"),
    ("delete", "/api/v1/tasks/{task_id}/openlineage-job"),
    ("get", "/api/v1/openlineage/patterns"),
    ("post", "/api/v1/openlineage/patterns"),
    ("put", "/api/v1/openlineage/patterns/{pattern_id}"),
    ("delete", "/api/v1/openlineage/patterns/{pattern_id}"),
    ("get", "/api/v1/openlineage/unmapped-jobs"),
}


async def test_openapi_lists_the_contract_with_bearer_security(client: httpx.AsyncClient) -> None:
    r = await client.get("/openapi.json", headers=ANON)
    assert r.status_code == 200
    doc = r.json()
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearer"]["description"],
    }
    operations = {(m, p) for p, item in doc["paths"].items() for m in item}
    assert operations == PUBLIC_API
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op.get("security") == [{"bearer": []}], f"{method} {path}"
    params = {p["name"] for p in doc["paths"]["/api/v1/tasks"]["get"]["parameters"]}
    assert {"workflowId", "upstreamTaskId", "downstreamTaskId", "name", "page", "page_size"} <= params
    assert (await client.get("/docs", headers=ANON)).status_code == 200


async def test_health_and_metrics_need_no_key(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz", headers=ANON)).json() == {"status": "ok"}
    ready = await client.get("/readyz", headers=ANON)
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok"}
    await client.get("/api/v1/workflows")  # one upstream call, so the histogram has a sample
    metrics = (await client.get("/metrics", headers=ANON)).text
    assert 'gateway_upstream_request_seconds_count{outcome="ok",upstream="definition"}' in metrics
    red = [m for m in metrics.splitlines() if m.startswith("http_requests_total{")]
    assert any('service="gateway"' in m and "/workflows" in m and 'status_class="2xx"' in m for m in red), red


async def test_asyncapi_describes_every_topic_with_its_payload(client: httpx.AsyncClient) -> None:
    r = await client.get("/asyncapi.json", headers=ANON)
    assert r.status_code == 200
    doc = r.json()
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == set(Topics.ALL)
    schemas = doc["components"]["schemas"]
    messages = doc["components"]["messages"]
    for event in ALL_EVENTS:
        envelope = schemas[f"{event.__name__}Envelope"]
        assert envelope["properties"]["data"]["$ref"] == f"#/components/schemas/{event.__name__}"
        assert {"specversion", "id", "type", "source", "time"} <= set(envelope["properties"])
        payload = schemas[event.__name__]
        assert set(payload["properties"]) == set(event.model_json_schema()["properties"])
        for kind in ("publish", "subscribe"):
            channel = doc["channels"][f"{event.TOPIC}:{kind}"]
            [ref] = [m["$ref"] for m in channel["messages"].values()]
            message = messages[ref.rsplit("/", 1)[1]]
            assert message["payload"]["$ref"] == f"#/components/schemas/{event.__name__}Envelope"
        assert event.TYPE in doc["channels"][f"{event.TOPIC}:publish"]["description"]
    page = await client.get("/asyncapi", headers=ANON)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    # the page renders /asyncapi.json with the pinned bundle the gateway serves, started by a script file
    assert 'data-asyncapi-url="/asyncapi.json"' in page.text
    assert '<script src="/docs-assets/asyncapi/index.js"></script>' in page.text
    assert '<script src="/docs-assets/asyncapi-init.js"></script>' in page.text


@pytest.mark.parametrize("path", ["/docs", "/asyncapi"])
async def test_docs_pages_load_nothing_from_elsewhere_and_run_no_inline_script(
    client: httpx.AsyncClient, path: str
) -> None:
    page = await client.get(path, headers=ANON)
    assert page.status_code == 200
    html = page.text
    assert "http://" not in html
    assert "https://" not in html
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts, "the page has its scripts"
    for attributes, body in scripts:
        assert 'src="/docs-assets/' in attributes
        assert body.strip() == ""
    for href in re.findall(r'href="([^"]+)"', html):
        assert href.startswith("/docs-assets/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    # the AsyncAPI renderer compiles its schema validator (AJV) with eval: that page alone may (gateway.browser)
    assert ("unsafe-eval" in csp) == (path == "/asyncapi")


@pytest.mark.parametrize("path", ["/", "/docs", "/openapi.json", "/api/v1/workflows", "/healthz", "/api/v1/nope"])
async def test_every_answer_carries_the_security_headers(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"
    csp = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
    assert csp["script-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'"


async def test_portal_not_built(client: httpx.AsyncClient) -> None:
    for path in ("/", "/workflows/3"):
        r = await client.get(path, headers=ANON)
        assert r.status_code == 200
        assert "The portal is not built" in r.text
        assert "npm run build" in r.text


@pytest.fixture
def portal(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><div id=app>portal</div>")
    (dist / "assets" / "app-1a2b.js").write_text("console.log('hi')")
    (dist / "favicon.ico").write_bytes(b"\x00\x01")
    (tmp_path / "secret.txt").write_text("outside")
    return dist


async def test_portal_static_files_and_spa_fallback(start: Start, portal: Path) -> None:
    client = await start(portal_dir=portal)
    index = await client.get("/", headers=ANON)
    assert index.status_code == 200
    assert "portal" in index.text
    assert index.headers["cache-control"] == "no-cache"
    asset = await client.get("/assets/app-1a2b.js", headers=ANON)
    assert asset.text == "console.log('hi')"
    assert "immutable" in asset.headers["cache-control"]
    assert (await client.get("/favicon.ico", headers=ANON)).content == b"\x00\x01"
    for route in ("/workflows/12", "/tasks", "/workflows/12/versions?x=1"):
        fallback = await client.get(route, headers=ANON)
        assert fallback.status_code == 200
        assert fallback.text == index.text
    assert (await client.get("/assets/missing.js", headers=ANON)).status_code == 404
    for escape in ("/..%2fsecret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt"):
        r = await client.get(escape, headers=ANON)
        assert "outside" not in r.text


async def test_unknown_api_paths_stay_problem_json(start: Start, portal: Path) -> None:
    client = await start(portal_dir=portal)
    for path in ("/api/v1/nope", "/api/v2/workflows", "/api"):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.delete("/api/v1/workflows/1")
    assert r.status_code == 405
