"""Internal HTTP API: inspection reports and runs, alerts with their deliveries, dead-letter counts, channels."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from alerting import service
from alerting.deps import Deps
from alerting.service import AlertPage, ChannelView, DeadLetterCount, InspectionReport
from common.app import deps_of
from common.identity import acting
from common.roles import Role

router = APIRouter(prefix="/internal", tags=["alerting"])


def _deps(request: Request) -> Deps:
    deps: Deps = deps_of(request)
    return deps


DepsDep = Annotated[Deps, Depends(_deps)]


@router.post(
    "/inspections/run",
    response_model=InspectionReport,
    status_code=201,
    dependencies=[Depends(acting(Role.ADMIN))],
)
async def run_inspection(deps: DepsDep) -> InspectionReport:
    """Run the consistency inspection now (the same as the daily job) and return its report."""
    report = await service.run_inspection(deps, "api")
    assert report is not None  # only a scheduled slot can be taken already
    return report


@router.get("/inspections/latest", response_model=InspectionReport)
async def latest_inspection(deps: DepsDep) -> InspectionReport:
    return await service.latest_inspection(deps)


@router.get("/inspections/{inspection_id}", response_model=InspectionReport)
async def get_inspection(inspection_id: int, deps: DepsDep) -> InspectionReport:
    return await service.get_inspection(deps, inspection_id)


@router.get("/alerts", response_model=AlertPage)
async def list_alerts(
    deps: DepsDep,
    kind: Literal[
        "publish_failed", "execution_failed", "execution_streak", "execution_rate", "dead_letters", "history_stale"
    ]
    | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 20,
) -> AlertPage:
    """Incidents, newest first, with their delivery per channel."""
    return await service.list_alerts(deps, page=page, page_size=page_size, kind=kind)


@router.get("/dead-letters", response_model=list[DeadLetterCount])
async def dead_letters(deps: DepsDep) -> list[DeadLetterCount]:
    """Dead letters seen per topic since this service started watching."""
    return await service.dead_letter_counts(deps)


@router.get("/channels", response_model=list[ChannelView])
async def channels(deps: DepsDep) -> list[ChannelView]:
    """The configured IM channels (references to their URLs and secrets, never the values)."""
    return service.channels(deps)
