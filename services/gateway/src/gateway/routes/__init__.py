"""The public API ``/api/v1`` (docs/api-contracts.md §5), one module per area; every route needs a bearer key."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.routes import (
    admin,
    executions,
    me,
    migrations,
    openlineage,
    proposals,
    publishing,
    restore,
    table_lineage,
    tasks,
    workflows,
)

API_PREFIX = "/api/v1"


def api_routers() -> list[APIRouter]:
    """The areas' routers, each to include with ``prefix=API_PREFIX``: the most requested pages' first, since a
    request is matched against the routes in order (twice per included router: to select it, then within it), and
    not nested under one more router (each level of ``include_router`` re-dispatches the request through its own
    routes). Tasks (4 routes) come before workflows (12): the workflow list pays 4 more route checks, the task list
    12 fewer."""
    routers = (
        tasks,
        workflows,
        executions,
        publishing,
        restore,
        me,
        migrations,
        proposals,
        table_lineage,
        admin,
        openlineage,
    )
    return [m.router for m in routers]
