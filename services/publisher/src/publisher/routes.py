"""Internal HTTP API (called by the gateway service): publish records, retry, engine info, run now, batch start."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from common.app import deps_of
from common.identity import acting
from common.roles import Role
from publisher import restore, runs
from publisher.deps import Deps
from publisher.restore import RestoreView
from publisher.runs import RunPage, RunParams, RunView
from publisher.service import acceptance, batch, drift_check, integration, views
from publisher.service.batch import BatchRunRequest, BatchRunResult, RunRequest
from publisher.service.drift_check import DriftView
from publisher.service.integration import DatasourceView
from publisher.service.views import EngineView, PublishRecordView, RecordPage

router = APIRouter(prefix="/internal", tags=["publisher"])


def _deps(request: Request) -> Deps:
    deps: Deps = deps_of(request)
    return deps


DepsDep = Annotated[Deps, Depends(_deps)]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="the same key (of the same caller) gives the same answer and starts DolphinScheduler once",
    ),
]
#: the verified actor of a call that publishes or runs (``common.identity``)
Publisher = Annotated[str, Depends(acting(Role.PUBLISHER))]


class RetryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: ignored: the retry's operator is the call's verified actor (kept so that older callers are not refused)
    operator: str | None = Field(default=None, min_length=1, max_length=128)


@router.get("/workflows/{workflow_id}/publish-records", response_model=RecordPage)
async def list_publish_records(
    workflow_id: int,
    deps: DepsDep,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> RecordPage:
    """Publish records of a workflow, newest first."""
    return await views.list_records(deps, workflow_id, page=page, page_size=page_size)


@router.get("/publish-records/{record_id}", response_model=PublishRecordView)
async def get_publish_record(record_id: int, deps: DepsDep) -> PublishRecordView:
    return await views.get_record(deps, record_id)


@router.post("/publish-records/{record_id}/retry", response_model=PublishRecordView, status_code=201)
async def retry_publish_record(
    record_id: int,
    deps: DepsDep,
    response: Response,
    actor: Publisher,
    key: IdempotencyKey = None,
    body: Annotated[RetryRequest | None, Body()] = None,
) -> PublishRecordView:
    """Re-run a failed publish under a new request id (``retry_of`` = the failed record); returns the new record.
    A record is retried once (409 names the retry); the same ``Idempotency-Key`` gives the same record again."""
    view, replayed = await acceptance.retry_publish(deps, record_id, operator=actor, key=key)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return view


@router.get("/datasources", response_model=DatasourceView)
async def find_datasource(
    deps: DepsDep,
    name: Annotated[str, Query(min_length=1, max_length=200)],
    datasource_type: Annotated[str, Query(alias="type", min_length=1, max_length=64)],
) -> DatasourceView:
    """Whether DolphinScheduler has this datasource (``exists``; the definition service asks when a SQL task is
    saved)."""
    return await integration.find_datasource(deps, name, datasource_type)


@router.get("/workflows/{workflow_id}/engine", response_model=EngineView)
async def get_engine(workflow_id: int, deps: DepsDep) -> EngineView:
    """What DolphinScheduler holds for the workflow, with the link to it in the DS UI."""
    return await views.engine_info(deps, workflow_id)


@router.get("/workflows/{workflow_id}/drift", response_model=DriftView)
async def get_drift(workflow_id: int, deps: DepsDep) -> DriftView:
    """Read-only drift check: reads the workflow back from DS by code and compares its content with the last
    deployed definition (404 when never deployed)."""
    return await drift_check.drift_check(deps, workflow_id)


@router.post("/workflows/batch-run", response_model=BatchRunResult)
async def batch_run(body: BatchRunRequest, deps: DepsDep, _actor: Publisher) -> BatchRunResult:
    """Start (or backfill) several deployed workflows, each on its own: answers, per workflow, the DS instance ids or
    DS's code and message (200 even when some failed: the others stay started; 409 and nothing started when one was
    never deployed)."""
    return await batch.batch_run(deps, body)


@router.post("/workflows/{workflow_id}/run", response_model=RunView, responses={202: {"model": RunView}})
async def run_workflow(
    workflow_id: int,
    deps: DepsDep,
    response: Response,
    actor: Publisher,
    key: IdempotencyKey = None,
    body: Annotated[RunRequest | None, Body()] = None,
) -> RunView:
    """Run a deployed workflow now; answers the DS instance ids (409 when it was never deployed or another run of
    it is open). 202 when DolphinScheduler's answer did not come in time: the outcome is checked against its
    instances (poll ``GET …/runs/{run_id}``); the same ``Idempotency-Key`` answers the same and starts DS once."""
    params = RunParams.model_validate((body or RunRequest()).model_dump())
    view = await runs.run_workflow(deps, workflow_id, params, actor=actor, key=key)
    if view.state == "unknown":
        response.status_code = 202
    if view.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return view


@router.get("/workflows/{workflow_id}/runs", response_model=RunPage)
async def list_runs(workflow_id: int, deps: DepsDep, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> RunPage:
    """The workflow's latest run requests, newest first: each with its DS instance ids and the trace of the request
    that asked for it (``trace_id``, when recorded)."""
    return await runs.list_runs(deps, workflow_id, limit=limit)


@router.get("/workflows/{workflow_id}/runs/{run_id}", response_model=RunView)
async def get_run(workflow_id: int, run_id: int, deps: DepsDep) -> RunView:
    """A run's state: ``started`` (with the DS instance ids), ``unknown`` (being checked), ``not_started`` or
    ``failed`` (with the problem DS's refusal gave)."""
    return await runs.get_run(deps, workflow_id, run_id)


class PersonRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: ignored: who asks is the call's verified actor (``common.identity``)
    operator: str | None = Field(default=None, min_length=1, max_length=128)


@router.get("/workflows/{workflow_id}/restore", response_model=RestoreView)
async def get_restore(workflow_id: int, deps: DepsDep) -> RestoreView:
    """The restore of DS's state after a failed publish left it diverged (404 when none ever was)."""
    return await restore.get_restore(deps, workflow_id)


@router.post("/workflows/{workflow_id}/restore", response_model=RestoreView, status_code=202)
async def restore_now(
    workflow_id: int, deps: DepsDep, actor: Publisher, body: PersonRequest | None = None
) -> RestoreView:
    """Attempt the restore now (the portal's one-click restore; also after a cancel); 409 when DS holds the
    intended state already."""
    return await restore.restore_now(deps, workflow_id, actor)


@router.post("/workflows/{workflow_id}/restore/cancel", response_model=RestoreView)
async def cancel_restore(
    workflow_id: int, deps: DepsDep, actor: Publisher, body: PersonRequest | None = None
) -> RestoreView:
    """Stop the reconciler's attempts for the workflow (an attempt already started runs to its end)."""
    return await restore.cancel_restore(deps, workflow_id, actor)
