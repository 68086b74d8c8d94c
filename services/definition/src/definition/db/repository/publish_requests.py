"""Publish requests (``publish_request``) and their outcome."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    delete,
    exists,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from definition.db.tables import (
    deployed_task_code,
    publish_request,
    workflow_version,
)


async def insert_publish_request(session: AsyncSession, values: Mapping[str, Any]) -> None:
    await session.execute(insert(publish_request).values(**values))


async def publish_request_exists(session: AsyncSession, request_id: uuid.UUID) -> bool:
    q = select(exists().where(publish_request.c.request_id == request_id))
    return bool((await session.execute(q)).scalar_one())


async def record_publish_outcome(session: AsyncSession, values: Mapping[str, Any]) -> datetime:
    """Upsert the request with its outcome (a retry started in the publisher has a request id we never saw);
    returns the request's ``requested_at``."""
    ins = pg_insert(publish_request).values(**values)
    stmt = ins.on_conflict_do_update(
        index_elements=[publish_request.c.request_id],
        set_={
            "status": ins.excluded.status,
            "completed_at": ins.excluded.completed_at,
            "record_id": ins.excluded.record_id,
            "error": ins.excluded.error,
        },
    ).returning(publish_request.c.requested_at)
    requested_at: datetime = (await session.execute(stmt)).scalar_one()
    return requested_at


async def newer_pending_request(
    session: AsyncSession, workflow_id: int, request_id: uuid.UUID, requested_at: datetime
) -> bool:
    q = select(
        exists().where(
            publish_request.c.workflow_id == workflow_id,
            publish_request.c.status == "pending",
            publish_request.c.request_id != request_id,
            publish_request.c.requested_at >= requested_at,
        )
    )
    return bool((await session.execute(q)).scalar_one())


async def version_exists(session: AsyncSession, workflow_id: int, version_id: int) -> bool:
    q = select(exists().where(workflow_version.c.id == version_id, workflow_version.c.workflow_id == workflow_id))
    return bool((await session.execute(q)).scalar_one())


async def replace_deployed_task_codes(session: AsyncSession, workflow_id: int, codes: Mapping[int, int]) -> None:
    """The DS task codes of what DS holds of the workflow become exactly ``codes`` (task id -> code)."""
    await session.execute(delete(deployed_task_code).where(deployed_task_code.c.workflow_id == workflow_id))
    if codes:
        await session.execute(
            insert(deployed_task_code),
            [{"workflow_id": workflow_id, "task_id": t, "ds_task_code": c} for t, c in codes.items()],
        )
