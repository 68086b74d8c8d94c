"""Task migrations and auto-orchestration proposals (definition; tables from lineage-resolver)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from gateway.responses._shared import ExternalDependency
from gateway.responses.workflows import WorkflowDetail
from gateway.schemas import MigrationMode

# --- migrations (definition) ----------------------------------------------------------------------------------------


class CutEdge(BaseModel):
    """A source edge with exactly one end moving; after the migration it crosses workflows."""

    upstream_task_id: int
    downstream_task_id: int
    direction: Literal["source_to_target", "target_to_source"]


class MigrationWarning(BaseModel):
    #: stable (``source_emptied``, ``schedule_differs``, ``missing_global_params``, ``dependent_period``, …)
    code: str
    message: str
    task_ids: list[int] = []


class MigrationSide(BaseModel):
    """A workflow's DAG after the move."""

    workflow_id: int
    task_ids: list[int]
    edges: list[tuple[int, int]]
    entry_task_ids: list[int]
    exit_task_ids: list[int]


class MigrationPreview(BaseModel):
    task_id: int
    mode: MigrationMode
    source_workflow_id: int
    target_workflow_id: int
    moved_task_ids: list[int]
    moved_edges: list[tuple[int, int]]
    dropped_edges: list[CutEdge]
    bridged_edges: list[tuple[int, int]]
    #: lineage-derived edges the move adds in the target (already part of ``target_after.edges``)
    lineage_edges: list[tuple[int, int]] = []
    source_emptied: bool
    warnings: list[MigrationWarning]
    source_after: MigrationSide
    target_after: MigrationSide
    #: the versions to pass back as ``expected_source_version_no``/``expected_target_version_no`` (preview)
    source_version_no: int | None = None
    target_version_no: int | None = None


class MigrationResult(BaseModel):
    source: WorkflowDetail
    target: WorkflowDetail
    #: the executed plan
    preview: MigrationPreview


# --- auto-orchestration proposals (definition, tables from lineage-resolver) ----------------------------------------


class CrossDependency(BaseModel):
    upstream_task_id: int
    downstream_task_id: int
    #: the workflow the task outside the proposal is in (``null``: in none yet, another proposal holds it)
    other_workflow_id: int | None
    #: which end is outside the proposal
    outside: Literal["upstream", "downstream"]
    kept_as: Literal["dependent_link"]
    #: preview only: tables the upstream writes and the downstream reads (empty: through table lineage)
    tables: list[str] | None = None


class ProposalSummary(BaseModel):
    id: int
    kind: Literal["new_workflow", "add_to_workflow"]
    fingerprint: str
    #: ``add_to_workflow``: the workflow the task joins
    workflow_id: int | None
    task_ids: list[int]
    task_count: int
    edges: list[tuple[int, int]]
    #: internal dependencies closing a lineage cycle: such a proposal cannot be accepted
    cycle_edges: list[tuple[int, int]]
    cycles: list[list[int]]
    #: the size of the connected group it was formed from
    component_size: int
    #: cut out of a larger connected group
    split: bool
    cross_dependencies: list[CrossDependency]
    dismissed: bool
    created_at: datetime


class ProposalPage(BaseModel):
    items: list[ProposalSummary]
    total: int
    page: int
    page_size: int


class ProposalRebuild(BaseModel):
    proposals: int
    tasks: int


class TyingTable(BaseModel):
    """A table a task of the proposal writes and another of its tasks reads."""

    table: str
    writers: list[int]
    readers: list[int]


class ProposalReasons(BaseModel):
    component_size: int
    split: bool
    cut_dependencies: list[CrossDependency]
    #: what ties the tasks together (preview only; ``null``: lineage-resolver could not be asked)
    tables: list[TyingTable] | None = None


class ProposalDag(BaseModel):
    workflow_id: int
    task_ids: list[int]
    edges: list[tuple[int, int]]
    entry_task_ids: list[int]
    exit_task_ids: list[int]
    external_dependencies: list[ExternalDependency]


class ProposalPreview(BaseModel):
    """What accepting writes, in the shape of a migration preview, with the reasons."""

    proposal_id: int
    kind: Literal["new_workflow", "add_to_workflow"]
    fingerprint: str
    target_workflow_id: int | None
    moved_task_ids: list[int]
    moved_edges: list[tuple[int, int]]
    dropped_edges: list[CutEdge]
    bridged_edges: list[tuple[int, int]]
    lineage_edges: list[tuple[int, int]]
    external_dependencies: list[ExternalDependency]
    reasons: ProposalReasons
    warnings: list[MigrationWarning]
    target_after: ProposalDag
    #: pass it back as ``expected_version_no`` (``add_to_workflow``)
    target_version_no: int | None


class ProposalAccepted(BaseModel):
    proposal_id: int
    workflow: WorkflowDetail
    #: the preview of what was accepted
    preview: ProposalPreview
