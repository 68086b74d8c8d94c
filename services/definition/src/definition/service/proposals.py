"""Auto-orchestration (issue 20): proposals of workflows for the tasks in none — list, preview, accept,
dismiss and ``rebuild_proposals``, which computes all of them from scratch (after the migration that added them, or to
repair).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from pydantic import ValidationError
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import unit_of_work
from common.errors import Conflict, NotFound, ValidationFailed
from common.events.models import TriggerSource
from common.workflow import ExternalDependency, StructureSnapshot
from definition import schemas
from definition.db.repository import dependencies as dependency_repo
from definition.db.repository import proposals as proposal_repo
from definition.db.repository import tasks as task_repo
from definition.db.repository import workflows as workflow_repo
from definition.deps import Deps
from definition.domain.enums import WorkflowStatus
from definition.domain.grouping.home import suggest_home
from definition.domain.grouping.proposals import dependent_period, propose
from definition.service._proposal_upkeep import _store_proposals
from definition.service._shared import (
    _check_name_free,
    _check_version,
    _check_writable,
    _current_snapshot,
    _fmt_path,
    _integrity_conflict,
    _locked,
    _snapshot,
    _validated_snapshot,
    _write_version,
)
from definition.service._views import _detail


async def rebuild_proposals(deps: Deps) -> schemas.ProposalRebuild:
    """Every proposal computed from scratch (one transaction; dismissed task sets stay dismissed)."""
    async with unit_of_work(deps.sessions) as session:
        await proposal_repo.lock_proposals_table(session)
        unassigned = await proposal_repo.all_unassigned(session)
        upstream = await proposal_repo.all_dependencies(session)
        owners = await proposal_repo.all_owners(session)
        proposals = propose(unassigned, upstream, owners, max_size=deps.proposal_max_size)
        await proposal_repo.delete_proposals(session, None)
        await _store_proposals(session, proposals)
    return schemas.ProposalRebuild(proposals=len(proposals), tasks=len(unassigned))


def _proposal_view(row: Row[Any]) -> schemas.ProposalSummary:
    d = row.details
    return schemas.ProposalSummary(
        id=row.id,
        kind=row.kind,
        fingerprint=row.fingerprint,
        workflow_id=row.workflow_id,
        task_ids=list(row.task_ids),
        task_count=row.task_count,
        edges=[(u, v) for u, v in d["edges"]],
        cycle_edges=[(u, v) for u, v in d["cycle_edges"]],
        cycles=d["cycles"],
        component_size=d["component_size"],
        split=d["component_size"] > row.task_count or any(c["other_workflow_id"] is None for c in d["cross"]),
        cross_dependencies=[schemas.CrossDependencyOut.model_validate(c) for c in d["cross"]],
        dismissed=row.dismissed,
        created_at=row.created_at,
    )


async def list_proposals(
    deps: Deps, *, include_dismissed: bool, page: int, page_size: int
) -> schemas.Page[schemas.ProposalSummary]:
    async with unit_of_work(deps.sessions) as session:
        total, rows = await proposal_repo.list_proposals(
            session, include_dismissed=include_dismissed, page=page, page_size=page_size
        )
    return schemas.Page(items=[_proposal_view(r) for r in rows], total=total, page=page, page_size=page_size)


async def _proposal(session: AsyncSession, proposal_id: int, *, lock: bool = False) -> Row[Any]:
    row = await proposal_repo.get_proposal(session, proposal_id, lock=lock)
    if row is None:
        raise NotFound(
            f"proposal {proposal_id} not found (proposals are regrouped when lineage or workflows change: list them "
            "again)",
            proposal_id=proposal_id,
        )
    return row


class ProposalNotAcceptable(Conflict):
    code = "proposal-not-acceptable"
    title = "Proposal cannot be accepted"


async def _dependent_links(
    session: AsyncSession, deps: Deps, proposal: schemas.ProposalSummary
) -> tuple[list[ExternalDependency], list[str]]:
    """The proposal's dependencies on tasks of existing workflows, as DEPENDENT links (one per upstream task),
    with the upstream workflow's DolphinScheduler codes when it was deployed and the period its schedule runs."""
    waits: dict[int, tuple[int, set[int]]] = {}
    for c in proposal.cross_dependencies:
        if c.outside == "upstream" and c.other_workflow_id is not None:
            waits.setdefault(c.upstream_task_id, (c.other_workflow_id, set()))[1].add(c.downstream_task_id)
    if not waits:
        return [], []
    names = {r.id: r.name for r in await task_repo.catalog_tasks(session, waits)}
    links: list[ExternalDependency] = []
    notes: list[str] = []
    upstream_rows: dict[int, tuple[Row[Any], StructureSnapshot]] = {}
    for upstream_task, (workflow_id, task_ids) in sorted(waits.items()):
        if workflow_id not in upstream_rows:
            row = await workflow_repo.get_workflow(session, workflow_id)
            if row is None:
                continue
            upstream_rows[workflow_id] = (row, await _current_snapshot(session, deps, row))
        row, snapshot = upstream_rows[workflow_id]
        cycle, date_value, note = dependent_period(snapshot.schedule.crontab if snapshot.schedule else None)
        if note is not None:
            notes.append(f"link to task {upstream_task} of workflow {workflow_id}: {note}")
        links.append(
            ExternalDependency(
                upstream_workflow_id=workflow_id,
                upstream_task_id=upstream_task,
                task_ids=tuple(task_ids),
                cycle=cycle,
                date_value=date_value,
                upstream_project_code=row.project_code,
                upstream_workflow_code=row.workflow_code,
                upstream_workflow_name=row.workflow_name,
                upstream_task_name=names.get(upstream_task, ""),
            )
        )
    return links, notes


class InvalidDependentLinks(ValidationFailed):
    code = "invalid-dependent-links"
    title = "Invalid DEPENDENT links"


async def _with_links(
    session: AsyncSession,
    deps: Deps,
    snapshot: StructureSnapshot,
    links: Sequence[schemas.DependentLinkInput] | None,
    old: StructureSnapshot | None,
) -> StructureSnapshot:
    """``snapshot`` with its DEPENDENT links: ``links`` as given (the upstream's workflow, codes and names looked
    up), or, with ``None``, ``old``'s links whose waiting tasks are still in the workflow (each narrowed to them)."""
    tasks = {t.task_id for t in snapshot.tasks}
    if links is None:
        kept: list[ExternalDependency] = []
        for d in old.external_dependencies if old is not None else ():
            waiting = tuple(t for t in d.task_ids if t in tasks)
            if waiting:
                kept.append(d if waiting == d.task_ids else d.model_copy(update={"task_ids": waiting}))
        return snapshot.model_copy(update={"external_dependencies": tuple(kept)}).canonical()
    problems: list[dict[str, Any]] = []
    owners = await task_repo.task_owners(session, {link.upstream_task_id for link in links})
    names = {r.id: r.name for r in await task_repo.catalog_tasks(session, {link.upstream_task_id for link in links})}
    seen: set[int] = set()
    out: list[ExternalDependency] = []
    for i, link in enumerate(links):
        where = f"external_dependencies[{i}]"
        owner = owners.get(link.upstream_task_id)
        outside = sorted(set(link.task_ids) - tasks)
        if link.upstream_task_id in seen:
            problems.append({"code": "duplicate_link", "field": where, "message": "one link per upstream task"})
        elif owner is None:
            problems.append(
                {
                    "code": "upstream_task_unassigned",
                    "field": where,
                    "message": f"task {link.upstream_task_id} is in no workflow (or does not exist)",
                }
            )
        elif owner[0] == snapshot.workflow_id:
            problems.append(
                {
                    "code": "upstream_in_this_workflow",
                    "field": where,
                    "message": f"task {link.upstream_task_id} is in this workflow: draw an edge instead",
                }
            )
        elif outside:
            problems.append(
                {"code": "task_not_in_workflow", "field": where, "message": f"tasks {outside} are not in the workflow"}
            )
        else:
            upstream = await _workflow_row(session, owner[0])
            try:
                out.append(
                    ExternalDependency(
                        upstream_workflow_id=upstream.id,
                        upstream_task_id=link.upstream_task_id,
                        task_ids=tuple(link.task_ids),
                        cycle=link.cycle,
                        date_value=link.date_value,
                        upstream_project_code=upstream.project_code,
                        upstream_workflow_code=upstream.workflow_code,
                        upstream_workflow_name=upstream.workflow_name,
                        upstream_task_name=names.get(link.upstream_task_id, ""),
                    )
                )
            except ValidationError as exc:  # a date value that is not one of the cycle's
                problems.append({"code": "invalid_period", "field": where, "message": str(exc.errors()[0]["msg"])})
        seen.add(link.upstream_task_id)
    if problems:
        raise InvalidDependentLinks("; ".join(f"{p['field']}: {p['message']}" for p in problems), problems=problems)
    return snapshot.model_copy(update={"external_dependencies": tuple(out)}).canonical()


def _workflow_body(
    snapshot: StructureSnapshot | None, proposal: schemas.ProposalSummary, name: str, description: str
) -> schemas.WorkflowInput:
    """The workflow after accepting: the proposal's tasks and edges, added to ``snapshot``'s when there is one."""
    tasks = [schemas.WorkflowTaskInput(task_id=t) for t in proposal.task_ids]
    edges = [schemas.EdgeModel(upstream_task_id=u, downstream_task_id=v) for u, v in proposal.edges]
    if snapshot is None:
        return schemas.WorkflowInput(name=name, description=description, tasks=tasks, edges=edges)
    return schemas.WorkflowInput(
        name=snapshot.workflow_name,
        description=snapshot.description,
        tasks=[schemas.WorkflowTaskInput(task_id=t.task_id, node_attrs=t.node_attrs) for t in snapshot.tasks] + tasks,
        edges=[
            schemas.EdgeModel(upstream_task_id=e.upstream_task_id, downstream_task_id=e.downstream_task_id)
            for e in snapshot.edges
        ]
        + edges,
        schedule=snapshot.schedule,
        global_params=list(snapshot.global_params),
        execution_type=snapshot.execution_type,
        timeout_minutes=snapshot.timeout_minutes,
    )


def _dag_of(snapshot: StructureSnapshot) -> dict[str, Any]:
    return {
        "workflow_id": snapshot.workflow_id,
        "task_ids": [t.task_id for t in snapshot.tasks],
        "edges": [[e.upstream_task_id, e.downstream_task_id] for e in snapshot.edges],
        "entry_task_ids": list(snapshot.entry_task_ids),
        "exit_task_ids": list(snapshot.exit_task_ids),
        "external_dependencies": [d.model_dump(mode="json") for d in snapshot.external_dependencies],
    }


class _Planned(NamedTuple):
    proposal: schemas.ProposalSummary
    #: ``add_to_workflow``: the (locked when accepting) workflow and its current snapshot
    target: Row[Any] | None
    old: StructureSnapshot | None
    new: StructureSnapshot
    preview: dict[str, Any]


async def _plan_proposal(
    session: AsyncSession, deps: Deps, proposal_id: int, body: schemas.ProposalAccept, *, lock: bool
) -> _Planned:
    """What accepting the proposal writes, and its preview: the same shape as a migration preview (moved tasks and
    edges, the resulting DAG as ``target_after``, warnings, ``target_version_no`` to pass back), plus the reasons
    and the DEPENDENT links."""
    if lock:
        # the order every writer keeps: the workflow row, then the proposals' lock, then proposal rows (a regrouping
        # holds the proposals' lock while it deletes proposals, a workflow write takes it after its workflow row)
        seen = _proposal_view(await _proposal(session, proposal_id))
        if seen.workflow_id is not None:
            await _locked(session, seen.workflow_id)
        await proposal_repo.lock_proposals_table(session)
    proposal = _proposal_view(await _proposal(session, proposal_id, lock=lock))
    if lock and proposal.workflow_id != seen.workflow_id:
        raise ProposalNotAcceptable(
            f"proposal {proposal_id} changed while it was accepted: list the proposals again", proposal_id=proposal_id
        )
    if proposal.cycle_edges:
        raise ProposalNotAcceptable(
            f"proposal {proposal_id} holds a lineage cycle ({'; '.join(_fmt_path(c) for c in proposal.cycles)}): "
            "fix the tasks' reads and writes first",
            proposal_id=proposal_id,
            cycles=proposal.cycles,
        )
    target: Row[Any] | None = None
    old: StructureSnapshot | None = None
    if proposal.kind == "add_to_workflow":
        assert proposal.workflow_id is not None
        target = await (
            _locked(session, proposal.workflow_id) if lock else _workflow_row(session, proposal.workflow_id)
        )
        _check_writable(target)
        old = await _current_snapshot(session, deps, target)
    name = body.name or f"auto-{(await task_repo.catalog_tasks(session, proposal.task_ids[:1]))[0].name}"[:128]
    workflow_body = _workflow_body(old, proposal, name, body.description)
    catalog, dag, attrs = await _validated_snapshot(session, target.id if target is not None else None, workflow_body)
    new = _snapshot(deps, target.id if target is not None else 0, workflow_body, catalog, dag, attrs)
    links, notes = await _dependent_links(session, deps, proposal) if body.dependent_links else ([], [])
    kept = list(old.external_dependencies) if old is not None else []
    if links or kept:
        by_upstream = {d.upstream_task_id: d for d in kept}
        for link in links:
            prev = by_upstream.get(link.upstream_task_id)
            by_upstream[link.upstream_task_id] = (
                link
                if prev is None
                else prev.model_copy(update={"task_ids": tuple(sorted({*prev.task_ids, *link.task_ids}))})
            )
        new = new.model_copy(update={"external_dependencies": tuple(by_upstream.values())}).canonical()
    warnings = []
    not_yet = [c for c in proposal.cross_dependencies if c.other_workflow_id is None]
    if not_yet:
        warnings.append(
            {
                "code": "cross_proposal_dependencies",
                "message": f"{len(not_yet)} dependencies link this proposal's tasks with tasks of other proposals: "
                "they become DEPENDENT links once those are accepted too",
                "task_ids": sorted(
                    {c.upstream_task_id if c.outside == "downstream" else c.downstream_task_id for c in not_yet}
                ),
            }
        )
    warnings.extend({"code": "dependent_period", "message": n, "task_ids": []} for n in notes)
    undeployed = sorted({d.upstream_workflow_id for d in links if d.upstream_workflow_code is None})
    if undeployed:
        warnings.append(
            {
                "code": "upstream_not_deployed",
                "message": f"workflows {undeployed} are not deployed yet: publishing waits until they are",
                "task_ids": [],
            }
        )
    preview = {
        "proposal_id": proposal.id,
        "kind": proposal.kind,
        "fingerprint": proposal.fingerprint,
        "target_workflow_id": target.id if target is not None else None,
        "moved_task_ids": proposal.task_ids,
        "moved_edges": [list(e) for e in proposal.edges],
        "dropped_edges": [],
        "bridged_edges": [],
        "lineage_edges": [list(e) for e in proposal.edges],
        "external_dependencies": [d.model_dump(mode="json") for d in links],
        "reasons": {
            "component_size": proposal.component_size,
            "split": proposal.split,
            "cut_dependencies": [c.model_dump(mode="json") for c in proposal.cross_dependencies],
        },
        "warnings": warnings,
        "target_after": _dag_of(new),
        "target_version_no": target.current_version_no if target is not None else None,
    }
    return _Planned(proposal, target, old, new, preview)


async def _workflow_row(session: AsyncSession, workflow_id: int) -> Row[Any]:
    row = await workflow_repo.get_workflow(session, workflow_id)
    if row is None:
        raise NotFound(f"workflow {workflow_id} not found", workflow_id=workflow_id)
    return row


async def preview_proposal(deps: Deps, proposal_id: int) -> dict[str, Any]:
    async with unit_of_work(deps.sessions) as session:
        planned = await _plan_proposal(session, deps, proposal_id, schemas.ProposalAccept(), lock=False)
    return planned.preview


async def accept_proposal(
    deps: Deps, proposal_id: int, body: schemas.ProposalAccept, actor: str
) -> schemas.ProposalAccepted:
    """Accept: a draft workflow with the proposal's tasks and edges, or a new version of the workflow a task is
    added to (``trigger_source=auto_orchestration``), with the DEPENDENT links to other workflows' tasks (unless
    ``dependent_links`` is false). The proposal goes with the regrouping its tasks' new placement causes."""
    try:
        async with unit_of_work(deps.sessions) as session:
            planned = await _plan_proposal(session, deps, proposal_id, body, lock=True)
            if planned.target is not None:
                if body.expected_version_no is not None:
                    _check_version(planned.target, body.expected_version_no)
                written = await _write_version(
                    session,
                    deps,
                    planned.target,
                    planned.new,
                    planned.old,
                    trigger=TriggerSource.AUTO_ORCHESTRATION,
                    actor=actor,
                )
                assert written is not None
                row = written.row
                snapshot = planned.new
            else:
                await _check_name_free(session, planned.new.workflow_name, None)
                row = await workflow_repo.insert_workflow(
                    session,
                    {
                        "workflow_name": planned.new.workflow_name,
                        "description": planned.new.description,
                        "status": WorkflowStatus.DRAFT.value,
                        "created_by": actor,
                        "updated_by": actor,
                    },
                )
                snapshot = planned.new.model_copy(update={"workflow_id": row.id})
                written = await _write_version(
                    session, deps, row, snapshot, None, trigger=TriggerSource.AUTO_ORCHESTRATION, actor=actor
                )
                assert written is not None
                row = written.row
            preview = {**planned.preview, "target_workflow_id": row.id, "target_after": _dag_of(snapshot)}
            return schemas.ProposalAccepted(proposal_id=proposal_id, workflow=_detail(row, snapshot), preview=preview)
    except IntegrityError as exc:
        name = body.name or ""
        raise await _integrity_conflict(deps, exc, None, list(planned.proposal.task_ids), name) from exc


async def dismiss_proposal(deps: Deps, proposal_id: int, actor: str) -> schemas.ProposalSummary:
    """Dismiss: the proposal is no longer listed, nor is the same task set when a regrouping forms it again."""
    async with unit_of_work(deps.sessions) as session:
        row = await _proposal(session, proposal_id, lock=True)
        await proposal_repo.dismiss_proposal(session, proposal_id, row.fingerprint, actor)
        row = await _proposal(session, proposal_id)
    return _proposal_view(row)


async def _suggested_workflow(session: AsyncSession, task_id: int) -> schemas.SuggestedWorkflow | None:
    """The workflow an unassigned task's lineage points to (``grouping.home.suggest_home``)."""
    sets = (await dependency_repo.dependency_sets(session, [task_id])).get(task_id)
    if sets is None:
        return None
    ups, downs = sets
    owners = await task_repo.task_owners(session, {*ups, *downs})
    home = suggest_home(
        {u: o[0] if (o := owners.get(u)) else None for u in ups},
        {d: o[0] if (o := owners.get(d)) else None for d in downs},
    )
    if home is None:
        return None
    name = next(o[1] for o in owners.values() if o is not None and o[0] == home.workflow_id)
    return schemas.SuggestedWorkflow(
        workflow_id=home.workflow_id,
        workflow_name=name,
        reason=home.reason,
        upstream_task_ids=list(home.upstream_task_ids),
        downstream_task_ids=list(home.downstream_task_ids),
    )
