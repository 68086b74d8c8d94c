"""Reading publish records and a workflow's deployment: the API models and their queries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Row

from common.db import single_read, unit_of_work
from common.errors import NotFound
from common.events.models import PublishOperation
from common.telemetry import recorded_trace_id
from publisher.db import repository as repo
from publisher.deps import Deps


class PublishRecordView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    request_id: uuid.UUID
    workflow_id: int
    version_id: int
    version_no: int
    target_engine: str
    operation: PublishOperation
    status: Literal["pending", "running", "success", "failed", "skipped_unchanged"]
    engine_workflow_code: int | None
    engine_version: int | None
    project_code: int | None
    #: what DS holds after the publish, read back (also after a failure); None: unknown or never created there
    release_state: Literal["ONLINE", "OFFLINE"] | None
    #: what the publish meant DS to hold (None: records from before this was recorded)
    intended_release_state: Literal["ONLINE", "OFFLINE"] | None = None
    content_hash: str | None
    log: str
    operator: str
    retry_of: int | None
    error_code: int | None
    error_message: str | None
    attempts: int
    created_at: datetime
    finished_at: datetime | None
    #: an answer given before for the same idempotency key (retry)
    replayed: bool = False
    #: the trace of the publish (the request's, which the run continues), when it was recorded: the portal links
    #: it to the trace backend; None for an unrecorded trace or a record from before trace contexts were stored
    trace_id: str | None = None

    @classmethod
    def of(cls, row: Row[Any]) -> PublishRecordView:
        values = row._mapping
        fields = {k: v for k, v in values.items() if k in cls.model_fields}
        fields["trace_id"] = recorded_trace_id(values.get("trace_context"))
        return cls.model_validate(fields)


class RecordPage(BaseModel):
    items: list[PublishRecordView]
    total: int
    page: int
    page_size: int


class EngineView(BaseModel):
    workflow_id: int
    workflow_code: int
    project_code: int
    release_state: Literal["ONLINE", "OFFLINE"] | None
    schedule_id: int | None
    schedule_online: bool
    last_deployed_version_id: int | None
    engine_version: int | None
    #: the workflow's definition page in DS's UI (``common.dolphin.links``)
    ds_link: str | None


async def get_record(deps: Deps, record_id: int) -> PublishRecordView:
    async with single_read(deps.sessions) as s:
        row = await repo.record_by_id(s, record_id)
    if row is None:
        raise NotFound(f"publish record {record_id} does not exist")
    return PublishRecordView.of(row)


async def list_records(deps: Deps, workflow_id: int, *, page: int, page_size: int) -> RecordPage:
    async with unit_of_work(deps.sessions) as s:
        rows, total = await repo.list_records(s, workflow_id, limit=page_size, offset=(page - 1) * page_size)
    return RecordPage(items=[PublishRecordView.of(r) for r in rows], total=total, page=page, page_size=page_size)


async def engine_info(deps: Deps, workflow_id: int) -> EngineView:
    async with single_read(deps.sessions) as s:
        row = await repo.engine_workflow_of(s, workflow_id)
    if row is None:
        raise NotFound(f"workflow {workflow_id} has never been deployed to DolphinScheduler")
    return EngineView(
        workflow_id=workflow_id,
        workflow_code=row.workflow_code,
        project_code=row.project_code,
        release_state=row.release_state,
        schedule_id=row.schedule_id,
        schedule_online=row.schedule_online,
        last_deployed_version_id=row.last_deployed_version_id,
        engine_version=row.engine_version,
        ds_link=deps.target.links.workflow_definition(row.project_code, row.workflow_code),
    )
