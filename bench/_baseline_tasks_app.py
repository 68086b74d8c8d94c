# ruff: noqa: S608  (SQL text built from integers and schema names this benchmark generates; no outside input)
"""The one-hop baseline of ``GET /api/v1/tasks?upstreamTaskId=X`` (run by ``bench_gateway_lists.py`` as its own uvicorn
process: ``--app-dir bench _baseline_tasks_app:create_app``).

One FastAPI endpoint, one asyncpg pool, one query: the GIN filter (``upstream_task_ids @> ARRAY[X]``) joined to the
task catalog and its owning workflow, first page of 20 by id, with the dependency counts. No auth, no composition, no
telemetry. Schemas and DSN come from ``BASELINE_DSN``, ``BASELINE_LINEAGE_SCHEMA``, ``BASELINE_DEFINITION_SCHEMA``.

The filter reads lineage-resolver's ``task_dependency_view`` when that table has its GIN index on
``upstream_task_ids``. Lineage-resolver's migration 0002 moved its filters to an edge table and dropped those GIN
indexes; the same query on the view would then be a sequential scan of 1,000,000 rows, no longer the indexed query
the issue's baseline asks for. In that case the filter reads the definition service's ``task_dependency_projection``
(the same columns, rows and GIN index). ``GET /source`` says which one is used.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from fastapi import FastAPI, Query


def create_app() -> FastAPI:
    lineage = os.environ["BASELINE_LINEAGE_SCHEMA"]
    definition = os.environ["BASELINE_DEFINITION_SCHEMA"]
    state: dict[str, Any] = {}

    # The matches first (GIN bitmap scan, MATERIALIZED), then the page of them, then the joins: PostgreSQL has no
    # statistics for rare array elements and estimates 0.5 % of the table (5,000 rows) for ``@>``, so with ORDER BY …
    # LIMIT over the table or the join it walks a primary key from the start (0.2–0.7 s at 1,000,000 rows).
    def queries(view: str) -> tuple[str, str]:
        return _sql(view, definition), f"SELECT count(*) FROM {view} WHERE upstream_task_ids @> ARRAY[$1]::bigint[]"

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state["pool"] = await asyncpg.create_pool(os.environ["BASELINE_DSN"], min_size=2, max_size=10)
        gin = await state["pool"].fetchval(
            """
            SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND tablename = 'task_dependency_view'
              AND indexdef ILIKE '%USING gin (upstream_task_ids)%'
            """,
            lineage,
        )
        view = f'"{lineage}".task_dependency_view' if gin else f'"{definition}".task_dependency_projection'
        state["source"] = view
        state["sql"], state["count_sql"] = queries(view)
        yield
        await state["pool"].close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/source")
    async def source() -> dict[str, str]:
        return {"view": state["source"]}

    @app.get("/tasks")
    async def tasks(
        upstream_task_id: int = Query(ge=1), page: int = Query(1, ge=1), page_size: int = Query(20, ge=1, le=200)
    ) -> dict[str, Any]:
        async with state["pool"].acquire() as conn:
            rows = await conn.fetch(state["sql"], upstream_task_id, page_size, (page - 1) * page_size)
            total = await conn.fetchval(state["count_sql"], upstream_task_id)
        items = [{**dict(r), "params": json.loads(r["params"])} for r in rows]
        return {"items": items, "total": total, "page": page, "page_size": page_size}

    return app


def _sql(view: str, definition: str) -> str:
    sql = f"""
        WITH m AS MATERIALIZED (
            SELECT task_id, upstream_count, downstream_count FROM {view}
            WHERE upstream_task_ids @> ARRAY[$1]::bigint[]
        ), p AS MATERIALIZED (
            SELECT * FROM m ORDER BY task_id LIMIT $2 OFFSET $3
        )
        SELECT t.id, t.name, t.task_type, t.description, t.params::text AS params, t.worker_group, t.owner,
               t.revision, t.created_by, t.updated_by, t.created_at, t.updated_at, r.workflow_id, w.workflow_name,
               w.project_code, w.workflow_code, v.upstream_count, v.downstream_count
        FROM p v
        JOIN "{definition}".data_task t ON t.id = v.task_id
        LEFT JOIN "{definition}".workflow_task_relation r ON r.task_id = t.id
        LEFT JOIN "{definition}".data_workflow w ON w.id = r.workflow_id
        ORDER BY t.id
    """
    return sql
