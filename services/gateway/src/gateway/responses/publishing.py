"""Publish records, runs, batch runs and restores (publisher)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel

from common.events.models import PublishOperation
from gateway.responses._shared import ReleaseState

# --- publish records, runs, restores (publisher) --------------------------------------------------------------------


class PublishRecord(BaseModel):
    id: int
    request_id: UUID
    workflow_id: int
    version_id: int
    version_no: int
    target_engine: str
    operation: PublishOperation
    status: Literal["pending", "running", "success", "failed", "skipped_unchanged"]
    engine_workflow_code: int | None
    engine_version: int | None
    project_code: int | None
    #: what DolphinScheduler holds after the publish, read back (also after a failure); ``null``: not known
    release_state: ReleaseState | None
    #: what the publish meant DolphinScheduler to hold
    intended_release_state: ReleaseState | None = None
    content_hash: str | None
    log: str
    operator: str
    retry_of: int | None
    error_code: int | None
    error_message: str | None
    attempts: int
    created_at: datetime
    finished_at: datetime | None
    #: an answer given before for the same ``Idempotency-Key`` (retry)
    replayed: bool = False
    #: the publish's trace, when it was recorded
    trace_id: str | None = None
    #: its page in the trace backend's UI (lists and the workflow page; ``null`` without one)
    trace_link: str | None = None


class PublishRecordPage(BaseModel):
    items: list[PublishRecord]
    total: int
    page: int
    page_size: int


class RunView(BaseModel):
    """A run now: ``starting``/``unknown`` are open (poll ``GET …/runs/{run_id}``), the others are settled."""

    workflow_id: int
    run_id: int
    state: Literal["starting", "started", "unknown", "not_started", "failed"]
    instance_ids: list[int]
    #: an answer given before for the same ``Idempotency-Key``
    replayed: bool = False
    detail: str | None = None
    #: ``failed``: the problem DolphinScheduler's refusal gave (``status``, ``type``, ``detail``, ``ds_code``)
    error: dict[str, Any] | None = None
    created_at: datetime
    #: the trace of the request that asked for the run, when it was recorded
    trace_id: str | None = None


class BatchRunItem(BaseModel):
    """What happened to one workflow of a batch start."""

    workflow_id: int
    #: ``started``: DolphinScheduler answered with instance ids; ``failed``: it refused (``ds_code``/``ds_msg``);
    #: ``unknown``: no answer, it may have started
    status: Literal["started", "failed", "unknown"]
    instance_ids: list[int] = []
    #: the DolphinScheduler project the workflow is deployed in
    project_code: int | None = None
    #: each started instance's page in DolphinScheduler's UI, in the order of ``instance_ids`` (empty when DS links
    #: are not configured)
    ds_links: list[str] = []
    #: our problem type of the failure (``dolphin-workflow-offline``, …)
    error: str | None = None
    ds_code: int | None = None
    ds_msg: str | None = None
    message: str | None = None


class BatchRunResult(BaseModel):
    #: every instance started, in the order of the request
    instance_ids: list[int]
    #: one item per requested workflow, in the order of the request
    results: list[BatchRunItem]
    started: int
    failed: int
    unknown: int


class Restore(BaseModel):
    """The restore of a workflow's DolphinScheduler state after a failed publish left it other than intended."""

    workflow_id: int
    #: ``restoring``: attempts continue; ``restored``: DolphinScheduler holds the intended state again;
    #: ``cancelled``: a person stopped the attempts
    status: Literal["restoring", "restored", "cancelled"]
    #: the failed publish whose operation and version DolphinScheduler is to hold
    record_id: int
    intended_release_state: ReleaseState
    #: what DolphinScheduler held when last read back (``null``: it could not be read)
    ds_release_state: ReleaseState | None
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    attempt_record_id: int | None
    requested_by: str | None
    cancelled_by: str | None
    created_at: datetime
    updated_at: datetime
