"""``routes.ModelBodyRoute`` validates a JSON body straight from its bytes and otherwise behaves exactly like FastAPI's
own route: the same models for good bodies, the same 422/400 problem JSON for bad ones."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from common.http import install_problem_handlers
from definition import schemas
from definition.routes import ModelBodyRoute


def _app(route_class: type[APIRoute]) -> FastAPI:
    router = APIRouter(route_class=route_class)

    @router.post("/workflows")
    async def create(body: schemas.WorkflowInput) -> dict[str, Any]:
        return {"type": type(body).__name__, "body": body.model_dump(mode="json")}

    @router.put("/workflows/{workflow_id}")
    async def update(workflow_id: int, body: schemas.WorkflowUpdate) -> dict[str, Any]:
        return {"id": workflow_id, "body": body.model_dump(mode="json")}

    @router.post("/tasks")
    async def task(body: schemas.TaskInput) -> dict[str, Any]:
        return body.model_dump(mode="json")

    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    return app


GOOD = {
    "name": "wf",
    "description": "ünïcödé",
    "tasks": [{"task_id": 1, "node_attrs": {"retries": 2, "priority": "HIGH"}}, {"task_id": 2, "extra": True}],
    "edges": [{"upstream_task_id": 1, "downstream_task_id": 2}],
    "schedule": {
        "crontab": "0 0 2 * * ?",
        "timezone": "UTC",
        "start_time": "2025-01-01T00:00:00Z",
        "end_time": "2026-01-01T00:00:00+08:00",
    },
    "global_params": [{"name": "d", "value": "1"}],
    "unknown_field": [1, 2, 3],
}

JSON = {"content-type": "application/json"}

CASES: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("good", "/workflows", json.dumps(GOOD).encode(), JSON),
    ("good, +json type", "/workflows", json.dumps(GOOD).encode(), {"content-type": "application/vnd.x+json"}),
    ("good update", "/workflows/7", json.dumps({**GOOD, "expected_version_no": 3}).encode(), JSON),
    ("good task", "/tasks", json.dumps({"name": "t", "task_type": "SHELL", "params": {"script": "ls"}}).encode(), JSON),
    ("invalid JSON", "/workflows", b'{"name": "wf", "tasks": [', JSON),
    ("not JSON at all", "/workflows", b"name=wf", JSON),
    ("empty body", "/workflows", b"", JSON),
    ("no content type", "/workflows", json.dumps(GOOD).encode(), {}),
    ("text content type", "/workflows", json.dumps(GOOD).encode(), {"content-type": "text/plain"}),
    ("array", "/workflows", b"[1, 2]", JSON),
    ("null", "/workflows", b"null", JSON),
    ("missing fields", "/workflows", b'{"description": "x"}', JSON),
    (
        "bad nested",
        "/workflows",
        json.dumps({**GOOD, "tasks": [{"task_id": "x", "node_attrs": {"retries": -1}}]}).encode(),
        JSON,
    ),
    ("bad enum", "/workflows", json.dumps({**GOOD, "execution_type": "SOMETIMES"}).encode(), JSON),
    (
        "bad model rule",
        "/workflows",
        json.dumps({**GOOD, "tasks": [{"task_id": 1, "node_attrs": {"timeout_strategy": "WARN"}}]}).encode(),
        JSON,
    ),
    ("bad update version", "/workflows/7", json.dumps({**GOOD, "expected_version_no": -1}).encode(), JSON),
    (
        "task params of another type",
        "/tasks",
        json.dumps({"name": "t", "task_type": "SQL", "params": {"kind": "SHELL", "script": "ls"}}).encode(),
        JSON,
    ),
    ("latin-1 bytes", "/workflows", '{"name": "é"}'.encode("latin-1"), JSON),
    ("good with a UTF-8 BOM", "/workflows", b"\xef\xbb\xbf" + json.dumps(GOOD).encode(), JSON),
    ("NaN", "/workflows", json.dumps({**GOOD, "timeout_minutes": float("nan")}).encode(), JSON),
    ("lone surrogate", "/workflows", b'{"name": "\\ud800", "tasks": []}', JSON),
]


@pytest.mark.parametrize(("case", "path", "content", "headers"), CASES, ids=[c[0] for c in CASES])
async def test_same_answer_as_fastapis_own_route(case: str, path: str, content: bytes, headers: dict[str, str]) -> None:
    answers = []
    for route_class in (APIRoute, ModelBodyRoute):
        transport = httpx.ASGITransport(app=_app(route_class))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            method = client.put if path.startswith("/workflows/") else client.post
            r = await method(path, content=content, headers=headers)
            answers.append((r.status_code, r.headers.get("content-type"), r.content))
    assert answers[1] == answers[0]
    if case.startswith("good"):
        assert answers[0][0] == 200
    else:
        assert answers[0][0] in (400, 422)


def test_routes_of_the_service_use_it() -> None:
    from definition.routes import router

    workflow_routes = [r for r in router.routes if isinstance(r, APIRoute) and r.path == "/internal/workflows"]
    assert workflow_routes
    assert all(isinstance(r, ModelBodyRoute) for r in workflow_routes)


def test_workflow_routes_still_document_their_models() -> None:
    """The write and read routes answer pre-serialised bytes; OpenAPI still names the models."""
    from definition.routes import router

    app = FastAPI()
    app.include_router(router)
    paths = app.openapi()["paths"]
    detail = {"$ref": "#/components/schemas/WorkflowDetail"}
    for path, method, status, body in (
        ("/internal/workflows", "post", "201", "WorkflowInput"),
        ("/internal/workflows/{workflow_id}", "put", "200", "WorkflowUpdate"),
        ("/internal/workflows/{workflow_id}", "get", "200", None),
    ):
        op = paths[path][method]
        assert op["responses"][status]["content"]["application/json"]["schema"] == detail
        if body is not None:
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            assert schema == {"$ref": f"#/components/schemas/{body}"}
