"""Auto-orchestration proposals (issue 20): proposed workflows for the tasks in none — the definition service."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from common.errors import TransientError
from gateway import responses as r
from gateway.auth import acting
from gateway.domain.proposals import parse_task_tables, tasks_to_look_up, with_tables
from gateway.domain.roles import Role
from gateway.ports import Caller, Json
from gateway.routes.params import PROBLEM_RESPONSES, DepsDep, IdPath, PageQ, PageSizeQ, PassThroughRoute, note
from gateway.schemas import ProposalAcceptInput

log = logging.getLogger(__name__)

#: task ids per lineage-resolver look-up (its limit per request is 1,000)
LOOKUP_BATCH = 500

router = APIRouter(prefix="/proposals", tags=["proposals"], responses=PROBLEM_RESPONSES, route_class=PassThroughRoute)

Viewer = Annotated[Caller, Depends(acting(Role.VIEWER))]
Editor = Annotated[Caller, Depends(acting(Role.EDITOR))]
Admin = Annotated[Caller, Depends(acting(Role.ADMIN))]


@router.get("", response_model=r.ProposalPage)
async def list_proposals(
    deps: DepsDep, caller: Viewer, page: PageQ = 1, page_size: PageSizeQ = 50, include_dismissed: bool = False
) -> Json:
    """Proposed workflows for the tasks in none, the largest first: each with its tasks, the lineage edges between
    them, whether it was split from a larger group, and the dependencies crossing its boundary (kept as DEPENDENT
    links)."""
    params = {"page": page, "page_size": page_size, "include_dismissed": include_dismissed}
    return await deps.definition.list_proposals(params, caller)


@router.post("/rebuild", response_model=r.ProposalRebuild)
async def rebuild_proposals(request: Request, deps: DepsDep, caller: Admin) -> Json:
    """Compute every proposal from scratch (they are kept current as lineage and workflows change)."""
    note(request, "rebuild proposals")
    return await deps.definition.rebuild_proposals(caller)


@router.get("/{proposal_id}/preview", response_model=r.ProposalPreview)
async def preview_proposal(proposal_id: IdPath, deps: DepsDep, caller: Viewer) -> Json:
    """What accepting writes, in the shape of a migration preview (``target_after`` is the DAG, with its DEPENDENT
    links), with the reasons and warnings; ``reasons.tables`` names the tables that tie the tasks together and each
    cut dependency its tables (lineage-resolver's; ``null`` while it cannot be asked)."""
    preview = await deps.definition.preview_proposal(proposal_id, caller)
    ids = tasks_to_look_up(preview)
    try:
        rows: list[dict[str, Any]] = []
        for start in range(0, len(ids), LOOKUP_BATCH):
            rows += (await deps.lineage.task_tables(ids[start : start + LOOKUP_BATCH], caller))["items"]
    except TransientError as exc:
        log.warning("proposal %d previewed without its tables: lineage-resolver unavailable (%s)", proposal_id, exc)
        return with_tables(preview, None)
    return with_tables(preview, parse_task_tables(rows))


@router.post("/{proposal_id}/accept", status_code=201, response_model=r.ProposalAccepted)
async def accept_proposal(
    proposal_id: IdPath, request: Request, deps: DepsDep, caller: Editor, body: ProposalAcceptInput | None = None
) -> Json:
    """A draft workflow (or a new version of the workflow a task joins), trigger ``auto_orchestration``."""
    note(request, f"accept proposal {proposal_id}")
    return await deps.definition.accept_proposal(proposal_id, body.forward() if body else {}, caller)


@router.post("/{proposal_id}/dismiss", response_model=r.ProposalSummary)
async def dismiss_proposal(proposal_id: IdPath, request: Request, deps: DepsDep, caller: Editor) -> Json:
    note(request, f"dismiss proposal {proposal_id}")
    return await deps.definition.dismiss_proposal(proposal_id, caller)
