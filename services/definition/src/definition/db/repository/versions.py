"""Workflow versions (``workflow_version``): writing one, its snapshot, and the history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Result,
    Row,
    String,
    cast,
    func,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from common.workflow import StructureSnapshot
from definition.db.tables import (
    workflow_version,
)


async def begin_version(session: AsyncSession) -> int:
    """The id of the version about to be written, from ``workflow_version.id``'s own sequence: rows that refer to the
    version can be written before it.

    In the same round trip, large values written by the rest of the transaction are set to be compressed with ``lz4``
    where the server has it (PostgreSQL 14+ built with it): a version's ~1 MB snapshot and its outbox event then take
    a fraction of the time ``pglz``, the default, takes. Reading is unchanged (each value records its method); a server
    without lz4 keeps its default."""
    result = await session.execute(
        text(
            "SELECT nextval(pg_get_serial_sequence('workflow_version', 'id')), "
            "(SELECT set_config('default_toast_compression', 'lz4', true) FROM pg_settings "
            "WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals))"
        )
    )
    return int(result.scalar_one())


async def insert_version(
    session: AsyncSession,
    *,
    version_id: int,
    workflow_id: int,
    version_no: int,
    snapshot_json: str,
    change_summary_json: str,
    trigger_source: str,
    content_hash: str,
    created_by: str,
) -> Row[Any]:
    """Insert version ``version_id`` (from ``begin_version``); the snapshot (canonical) and the change summary arrive
    as JSON text (no re-encoding of large documents). Returns ``id`` and ``created_at``."""
    return (
        await session.execute(
            text(
                "INSERT INTO workflow_version (id, workflow_id, version_no, structure_snapshot, change_summary, "
                "trigger_source, content_hash, created_by) OVERRIDING SYSTEM VALUE VALUES (:id, :workflow_id, "
                ":version_no, CAST(CAST(:snapshot_json AS text) AS json), "
                "CAST(CAST(:change_summary_json AS text) AS jsonb), :trigger_source, :content_hash, :created_by) "
                "RETURNING id, created_at"
            ),
            {
                "id": version_id,
                "workflow_id": workflow_id,
                "version_no": version_no,
                "snapshot_json": snapshot_json,
                "change_summary_json": change_summary_json,
                "trigger_source": trigger_source,
                "content_hash": content_hash,
                "created_by": created_by,
            },
        )
    ).one()


async def snapshot_of(session: AsyncSession, version_id: int) -> StructureSnapshot:
    raw = (
        await session.execute(
            select(cast(workflow_version.c.structure_snapshot, String)).where(workflow_version.c.id == version_id)
        )
    ).scalar_one()
    return StructureSnapshot.model_validate_json(raw)


_VERSION_SUMMARY = (
    workflow_version.c.id,
    workflow_version.c.workflow_id,
    workflow_version.c.version_no,
    workflow_version.c.trigger_source,
    workflow_version.c.created_by,
    workflow_version.c.created_at,
    workflow_version.c.content_hash,
    workflow_version.c.change_summary["summary"].astext.label("summary"),
)


async def version_by_no(session: AsyncSession, workflow_id: int, version_no: int) -> Row[Any] | None:
    result: Result[Any] = await session.execute(
        select(*_VERSION_SUMMARY, workflow_version.c.change_summary).where(
            workflow_version.c.workflow_id == workflow_id, workflow_version.c.version_no == version_no
        )
    )
    return result.first()


async def version_by_id(session: AsyncSession, version_id: int) -> Row[Any] | None:
    result: Result[Any] = await session.execute(select(*_VERSION_SUMMARY).where(workflow_version.c.id == version_id))
    return result.first()


async def list_versions(
    session: AsyncSession, workflow_id: int, *, page: int, page_size: int
) -> tuple[list[Row[Any]], int]:
    total = int(
        (
            await session.execute(
                select(func.count()).select_from(workflow_version).where(workflow_version.c.workflow_id == workflow_id)
            )
        ).scalar_one()
    )
    result: Result[Any] = await session.execute(
        select(*_VERSION_SUMMARY)
        .where(workflow_version.c.workflow_id == workflow_id)
        .order_by(workflow_version.c.version_no.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    return list(result.all()), total
