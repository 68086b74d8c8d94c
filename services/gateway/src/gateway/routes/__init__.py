"""The public API ``/api/v1`` (docs/api-contracts.md §5), one module per area; every route needs a bearer key."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.routes import admin, executions, me, migrations, publishing, tasks, workflows

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    for module in (me, workflows, publishing, executions, tasks, migrations, admin):
        router.include_router(module.router)
    return router
