"""Run now for many workflows at once (batch start), a bounded number at a time."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from common.db import unit_of_work
from common.dolphin import (
    DolphinApiError,
    DolphinTimeout,
    DolphinTransientApiError,
    DolphinUnavailable,
    FailureStrategy,
    RunMode,
    WarningType,
    format_ds_datetime,
)
from common.errors import PlatformError
from publisher.db import repository as repo
from publisher.deps import Deps
from publisher.domain.errors import not_deployed

logger = logging.getLogger(__name__)

#: DS's ``WarningType`` (who is alerted when the run ends)
WarningTypeName = Literal["NONE", "SUCCESS", "FAILURE", "ALL"]
#: a DS worker group's name as the platform accepts it (DS checks only that it is not empty)
WORKER_GROUP_PATTERN = r"^\S(.*\S)?$"


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_params: dict[str, str] = Field(default_factory=dict)
    worker_group: str | None = Field(default=None, min_length=1, max_length=64, pattern=WORKER_GROUP_PATTERN)
    #: none: each workflow's own (``engine_workflow.failure_strategy``, END for one deployed before it was kept)
    failure_strategy: Literal["END", "CONTINUE"] | None = None
    dry_run: bool = False
    #: the run's schedule time (what ``$[yyyyMMdd]`` and ``system.biz.date`` of its tasks are computed from); none:
    #: now. DS ignores ``scheduleTime`` for a plain start, so a run with one is a backfill of that one date
    #: (``run_options``)
    schedule_time: datetime | None = None
    warning_type: WarningTypeName = "NONE"

    @field_validator("schedule_time")
    @classmethod
    def _utc_second(cls, value: datetime | None) -> datetime | None:
        return ds_schedule_time(value)


def ds_schedule_time(value: datetime | None) -> datetime | None:
    """A schedule time as DS holds it: UTC (a time without a zone is taken as UTC), whole seconds."""
    if value is None:
        return None
    value = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return value.replace(microsecond=0)


def run_options(schedule_time: datetime | None, warning_type: str) -> dict[str, Any]:
    """The start-workflow-instance fields of a run's schedule time and warning type (contract §3 "Start workflow"):
    DS 3.3/3.4 reads ``scheduleTime`` only for ``execType=COMPLEMENT_DATA``, so a given time is sent as a backfill of
    that one date (``{"complementScheduleDateList": "<time>"}``, which creates one instance whose schedule time it
    is); ``warningType`` as given."""
    options: dict[str, Any] = {"warning_type": WarningType(warning_type)}
    if schedule_time is not None:
        options["exec_type"] = "COMPLEMENT_DATA"
        options["schedule_time"] = json.dumps({"complementScheduleDateList": format_ds_datetime(schedule_time)})
        options["run_mode"] = RunMode.RUN_MODE_SERIAL
    return options


class Backfill(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> Backfill:
        if self.end < self.start:
            raise ValueError("backfill end is before its start")
        return self


class BatchRunRequest(RunRequest):
    workflow_ids: list[int] = Field(min_length=1, max_length=200)
    backfill: Backfill | None = None
    run_mode: Literal["serial", "parallel"] = "serial"
    parallelism: int | None = Field(default=None, ge=1, le=100)

    @model_validator(mode="after")
    def _distinct(self) -> BatchRunRequest:
        if len(set(self.workflow_ids)) != len(self.workflow_ids):
            raise ValueError("workflow_ids must be distinct")
        if self.schedule_time is not None and self.backfill is not None:
            raise ValueError("schedule_time and backfill exclude each other: a backfill's dates are its schedule times")
        return self


class BatchRunItem(BaseModel):
    """What happened to one workflow of a batch start."""

    workflow_id: int
    #: started: DS answered with instance ids; failed: DS refused it (``ds_code``/``ds_msg`` say why); unknown: DS
    #: gave no answer (timeout, dropped connection, 5xx), so it may or may not have started: see its executions
    status: Literal["started", "failed", "unknown"]
    instance_ids: list[int] = Field(default_factory=list)
    #: the DS project the workflow is deployed in (the gateway links each instance to DS's UI)
    project_code: int | None = None
    #: our problem type for the failure (``dolphin-workflow-offline``, ``dolphin-workflow-missing``, ...)
    error: str | None = None
    ds_code: int | None = None
    ds_msg: str | None = None
    message: str | None = None


class BatchRunResult(BaseModel):
    """A batch start, workflow by workflow (DS starts them one by one too, and a failure does not undo the others)."""

    #: every instance started, in the order of the request
    instance_ids: list[int]
    #: one item per requested workflow, in the order of the request
    results: list[BatchRunItem]
    started: int
    failed: int
    unknown: int


#: how many starts of one batch are in flight at once
BATCH_START_CONCURRENCY = 4


async def batch_run(deps: Deps, req: BatchRunRequest) -> BatchRunResult:
    """Start (or backfill) several deployed workflows, one DS start per workflow, and report each one.

    DS's own batch endpoint starts the workflows one by one and stops at the first failure, answering only that
    error: the instances it started before are running but their ids are lost. So each workflow gets its own start
    (``start-workflow-instance``, which takes the same backfill parameters), a few at a time, and a failure of one
    is reported with DS's code and message while the others go on. Nothing is started when a workflow was never
    deployed (409, as before).
    """
    async with unit_of_work(deps.sessions) as s:
        rows = await repo.engine_workflows_of(s, req.workflow_ids)
    missing = [w for w in req.workflow_ids if w not in rows]
    if missing:
        raise not_deployed(missing)
    kwargs: dict[str, Any] = {
        "worker_group": req.worker_group or deps.target.worker_group,
        "tenant_code": deps.target.tenant,
        "start_params": req.start_params or None,
        "dry_run": req.dry_run,
        **run_options(req.schedule_time, req.warning_type),
    }
    if req.backfill is not None:
        kwargs["schedule_time"] = json.dumps(
            {
                "complementStartDate": format_ds_datetime(req.backfill.start),
                "complementEndDate": format_ds_datetime(req.backfill.end),
            }
        )
        kwargs["exec_type"] = "COMPLEMENT_DATA"
        kwargs["run_mode"] = RunMode.RUN_MODE_PARALLEL if req.run_mode == "parallel" else RunMode.RUN_MODE_SERIAL
        if req.run_mode == "parallel" and req.parallelism is not None:
            kwargs["expected_parallelism_number"] = req.parallelism
    gate = asyncio.Semaphore(BATCH_START_CONCURRENCY)

    async def start_one(workflow_id: int) -> BatchRunItem:
        row = rows[workflow_id]
        strategy = FailureStrategy(req.failure_strategy or row.failure_strategy or "END")
        async with gate:
            try:
                ids = await deps.rest.start_workflow_instance(
                    int(row.project_code), int(row.workflow_code), failure_strategy=strategy, **kwargs
                )
            except PlatformError as exc:
                return _batch_failure(workflow_id, exc).model_copy(update={"project_code": int(row.project_code)})
        return BatchRunItem(
            workflow_id=workflow_id, status="started", instance_ids=ids, project_code=int(row.project_code)
        )

    results = list(await asyncio.gather(*(start_one(w) for w in req.workflow_ids)))
    counts = {status: sum(1 for r in results if r.status == status) for status in ("started", "failed", "unknown")}
    logger.info(
        "batch start of %d workflows in DS: %d started, %d failed, %d unknown",
        len(results),
        counts["started"],
        counts["failed"],
        counts["unknown"],
    )
    return BatchRunResult(
        instance_ids=[i for r in results for i in r.instance_ids],
        results=results,
        started=counts["started"],
        failed=counts["failed"],
        unknown=counts["unknown"],
    )


def _batch_failure(workflow_id: int, exc: PlatformError) -> BatchRunItem:
    no_answer = isinstance(exc, DolphinTimeout | DolphinUnavailable)
    message = exc.detail
    if no_answer:
        message += "; DolphinScheduler gave no answer, so the workflow may have started: check its executions"
    logger.warning("batch start of workflow %d: %s", workflow_id, exc.detail)
    return BatchRunItem(
        workflow_id=workflow_id,
        status="unknown" if no_answer else "failed",
        error=exc.code,
        ds_code=exc.ds_code if isinstance(exc, DolphinApiError | DolphinTransientApiError) else None,
        ds_msg=exc.ds_msg if isinstance(exc, DolphinApiError | DolphinTransientApiError) else None,
        message=message,
    )
