"""Projections of other services' events: the publisher's ``publish.completed``, history-sync's
``execution.synced`` and lineage-resolver's dependency changes (with the full re-syncs behind ``python -m definition``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.db import unit_of_work
from common.events.models import (
    ExecutionSummary,
    ExecutionSynced,
    PublishCompleted,
    PublishOperation,
    PublishOutcome,
    TaskDependencyChanged,
    TriggerSource,
)
from common.workflow import Edge
from definition.db.repository import dependencies as dependency_repo
from definition.db.repository import proposals as proposal_repo
from definition.db.repository import publish_requests as publish_repo
from definition.db.repository import tasks as task_repo
from definition.db.repository import workflows as workflow_repo
from definition.deps import Deps
from definition.domain.dag import EdgePair, analyse_dag
from definition.domain.enums import WorkflowStatus
from definition.domain.errors import InvalidWorkflowStructure
from definition.domain.grouping.upkeep import Change
from definition.ports import DependencyView, ExecutionsView
from definition.service._proposal_upkeep import _refresh_proposals
from definition.service._shared import (
    AUTO_ORCHESTRATION_ACTOR,
    _current_snapshot,
    _fmt_path,
    _lock_owner_of,
    _write_version,
)

log = logging.getLogger(__name__)


async def apply_publish_completed(session: AsyncSession, deps: Deps, event: PublishCompleted) -> None:
    """``publish.completed``: the request's outcome, and the workflow's publish state. ``skipped_unchanged`` counts
    as published. ``publish_status`` stays ``pending`` while a newer request of the workflow is still open.

    Results arrive in the order the publisher finished them (one workflow's records run in order, keyed by the
    workflow), except a copy: a late duplicate with a new event id, a dead letter replayed. A result whose record is
    not newer than the one applied (``last_publish_record_id``) only records its request's outcome: it never undoes
    a later publish (as an older ``execution.synced`` never undoes a newer one).

    The release state is DS's, read back by the publisher (also after a failure). A failure that left DS other than
    intended (``diverged``) is kept as ``ds_attention`` — the workflow needs attention while it lasts — until a
    later result says DS holds its intended state again (the publisher restores it, or a person publishes again)."""
    row = await workflow_repo.lock_workflow(session, event.workflow_id)
    if row is None or not await publish_repo.version_exists(session, event.workflow_id, event.version_id):
        log.warning(
            "publish.completed for an unknown workflow/version ignored",
            extra={"workflow_id": event.workflow_id, "version_id": event.version_id},
        )
        return
    if event.refused and not await publish_repo.publish_request_exists(session, event.request_id):
        # a request this service never made (forged, or replayed under a new id), refused by the publisher before any
        # DS call: it changes nothing the platform says about the workflow (the publisher recorded and alerted it)
        log.warning(
            "publish.completed of a refused request this service never made (record %d): ignored",
            event.record_id,
            extra={"workflow_id": event.workflow_id, "request_id": str(event.request_id)},
        )
        return
    succeeded = event.outcome in (PublishOutcome.SUCCESS, PublishOutcome.SKIPPED_UNCHANGED)
    error = None
    if event.outcome is PublishOutcome.FAILED:
        code = f"[{event.error_code}] " if event.error_code is not None else ""
        error = f"{code}{event.error_message or 'publish failed'}"
    requested_at = await publish_repo.record_publish_outcome(
        session,
        {
            "request_id": event.request_id,
            "workflow_id": event.workflow_id,
            "version_id": event.version_id,
            "operation": event.operation.value,
            "status": event.outcome.value,
            "requested_by": event.operator,
            "requested_at": event.completed_at,
            "completed_at": event.completed_at,
            "record_id": event.record_id,
            "error": error,
        },
    )
    applied = row.last_publish_record_id
    if applied is not None and event.record_id <= applied:
        log.info(
            "publish.completed of record %d not newer than the applied record %d: the workflow is left as it is",
            event.record_id,
            applied,
            extra={"workflow_id": event.workflow_id},
        )
        return
    newer_pending = await publish_repo.newer_pending_request(session, event.workflow_id, event.request_id, requested_at)
    values: dict[str, Any] = {
        "publish_status": "pending" if newer_pending else ("published" if succeeded else "failed"),
        "last_publish_record_id": event.record_id,
    }
    if event.engine_workflow_code is not None:
        values["workflow_code"] = event.engine_workflow_code
    if event.project_code is not None:
        values["project_code"] = event.project_code
    if event.release_state is not None or event.diverged:
        values["release_state"] = event.release_state  # None: DS could not be read back, its state is unknown
    if event.schedule_online is not None:
        values["schedule_online"] = event.schedule_online
    elif event.release_state == "OFFLINE":
        values["schedule_online"] = False  # DS takes the schedule offline with the workflow
    if succeeded and event.operation in (PublishOperation.DEPLOY, PublishOperation.ONLINE):
        values["last_published_version_id"] = event.version_id
    if event.diverged:
        values["ds_attention"] = _ds_attention(event, error)
    elif succeeded or event.intended_release_state is not None:
        values["ds_attention"] = None  # DS holds what this newest result intended
    await workflow_repo.update_workflow(session, event.workflow_id, values)
    if event.task_codes is not None and succeeded:
        # what DS holds now: the task links follow it (an event without codes leaves the ones applied before)
        codes = {c.task_id: c.ds_task_code for c in event.task_codes}
        await publish_repo.replace_deployed_task_codes(session, event.workflow_id, codes)
    if event.engine_workflow_code is not None and event.project_code is not None:
        await _follow_upstream_codes(session, deps, row, event.engine_workflow_code, event.project_code)


async def _follow_upstream_codes(
    session: AsyncSession, deps: Deps, upstream: Row[Any], workflow_code: int, project_code: int
) -> None:
    """The workflows whose DEPENDENT links wait for ``upstream`` get a new version (``auto_orchestration``) when its
    DolphinScheduler codes are not the ones their current version names (first deploy, or deployed again under
    new codes): a publish sends exactly what was approved, so the new codes need a version (and an approval)."""
    for dependent_id in await proposal_repo.dependents_of(session, upstream.id):
        row = await workflow_repo.lock_workflow(session, dependent_id)
        if row is None or row.status == WorkflowStatus.ARCHIVED.value:
            continue
        old = await _current_snapshot(session, deps, row)
        links = tuple(
            d.model_copy(
                update={
                    "upstream_workflow_code": workflow_code,
                    "upstream_project_code": project_code,
                    "upstream_workflow_name": upstream.workflow_name,
                }
            )
            if d.upstream_workflow_id == upstream.id
            else d
            for d in old.external_dependencies
        )
        if links == old.external_dependencies:
            continue
        new = old.model_copy(update={"external_dependencies": links})
        await _write_version(
            session, deps, row, new, old, trigger=TriggerSource.AUTO_ORCHESTRATION, actor=AUTO_ORCHESTRATION_ACTOR
        )


def _ds_attention(event: PublishCompleted, error: str | None) -> dict[str, Any]:
    """What the workflow's attention says while DS is left other than intended by a failed publish."""
    held = (
        f"DolphinScheduler now holds it {event.release_state}"
        if event.release_state is not None
        else "what DolphinScheduler holds could not be read"
    )
    reason = (
        f"{held} after publish record {event.record_id} ({event.operation.value}) failed; intended "
        f"{event.intended_release_state}. The publisher keeps restoring it (or restore / cancel it by hand)."
    )
    return {
        "kind": "ds_state",
        "reason": reason,
        "record_id": event.record_id,
        "operation": event.operation.value,
        "intended_release_state": event.intended_release_state,
        "release_state": event.release_state,
        "error": error,
        "since": event.completed_at.isoformat(),
    }


#: the fields of an execution the workflow list shows (``schemas.LastExecution``)
LAST_EXECUTION_FIELDS = frozenset({"instance_id", "state", "start_time", "end_time", "duration"})
MAX_LAST_EXECUTIONS = 10


async def apply_execution_synced(session: AsyncSession, deps: Deps, event: ExecutionSynced) -> None:
    """``execution.synced``: the newest execution's state and start time, and the newest ≤ 10 executions (list
    fields only) for the workflow list, in the consumer's transaction (``updated_at`` is not touched: it tracks
    definition changes). An event synced before the one already applied (``synced_at``) changes nothing."""
    written = await _store_executions(
        session, event.workflow_id, event.executions, event.synced_at, state=event.last_execution_state
    )
    if written:
        return
    if await workflow_repo.workflow_exists(session, event.workflow_id):
        log.info(
            "execution.synced older than the executions already stored ignored",
            extra={"workflow_id": event.workflow_id},
        )
    else:
        log.info("execution.synced for an unknown workflow ignored", extra={"workflow_id": event.workflow_id})


async def _store_executions(
    session: AsyncSession,
    workflow_id: int,
    executions: Sequence[ExecutionSummary],
    synced_at: datetime,
    *,
    state: str | None = None,
) -> bool:
    """Write the projection of a workflow's last executions unless a later sync is stored; whether it was written."""
    newest = executions[0] if executions else None
    state = state or (newest.state if newest else None)
    at = (newest.start_time or newest.end_time or synced_at) if newest else None
    listed = [e.model_dump(mode="json", include=set(LAST_EXECUTION_FIELDS)) for e in executions[:MAX_LAST_EXECUTIONS]]
    return await workflow_repo.set_executions(
        session, workflow_id, state=state, at=at, executions=listed, synced_at=synced_at
    )


@dataclass(frozen=True)
class ExecutionsSyncReport:
    workflows: int
    rows_written: int
    batches: int


async def sync_executions(
    sessions: async_sessionmaker[AsyncSession], view: ExecutionsView, *, batch_size: int = 500
) -> ExecutionsSyncReport:
    """(Re)fill every workflow's last executions from history-sync's cache, ``batch_size`` workflows per batch (one
    read of the cache, one transaction each). history-sync emits ``execution.synced`` only when a workflow's
    executions change, so a deployment that gains the projection (definition migration 0002), or a consumer that
    skipped events, needs this once. Safe while the consumer runs: a row is written only when the cache's
    ``synced_at`` is not older than the stored one, so a newer event is never undone."""
    size = max(1, min(batch_size, view.max_batch))
    after, workflows, written, batches = 0, 0, 0, 0
    while True:
        async with unit_of_work(sessions) as session:
            ids = await dependency_repo.workflow_ids_after(session, after, size)
        if not ids:
            return ExecutionsSyncReport(workflows=workflows, rows_written=written, batches=batches)
        cached = await view.cached_executions(ids)
        async with unit_of_work(sessions) as session:
            for c in cached:
                written += await _store_executions(session, c.workflow_id, c.executions, c.synced_at)
        workflows += len(ids)
        batches += 1
        after = ids[-1]


async def apply_dependency_change(
    session: AsyncSession, deps: Deps, event: TaskDependencyChanged, *, event_id: str
) -> None:
    """``task.dependency.changed``: apply lineage-derived edges inside one workflow, or flag for a human.

    Rule (decision): lineage adds exactly the edges it reports as new and removes exactly the edges it reports as
    gone; edges drawn by hand are not told apart (a hand-drawn edge that lineage later reports as removed goes).
    A link to an unassigned task, and a removed link between different workflows (there is no edge to remove), is
    ignored. A new link across workflows, or one that closes a cycle (the event's ``cycle``, or our own check of the
    workflow's DAG), changes nothing and sets ``needs_attention`` on every workflow involved, with the reason.
    """
    t = event.task_id
    # The dependency projection mirrors lineage's view for EVERY event, cycle or not (lineage writes the new sets
    # to its view either way), before any of the early returns below.
    await dependency_repo.put_dependencies(session, t, event.new_upstream, event.new_downstream)
    added = [(u, t) for u in sorted(set(event.new_upstream) - set(event.old_upstream))] + [
        (t, d) for d in sorted(set(event.new_downstream) - set(event.old_downstream))
    ]
    removed = [(u, t) for u in sorted(set(event.old_upstream) - set(event.new_upstream))] + [
        (t, d) for d in sorted(set(event.old_downstream) - set(event.new_downstream))
    ]
    await _apply_to_workflows(session, deps, event, added, removed, event_id=event_id)
    # the proposals around the task (issue 20), whatever happened to workflows above; last, as everywhere: the
    # proposals' lock is taken after the workflow rows (the reverse order deadlocks with a workflow write)
    await _refresh_proposals(session, deps, Change(added=tuple(added), removed=tuple(removed)))


async def _apply_to_workflows(
    session: AsyncSession,
    deps: Deps,
    event: TaskDependencyChanged,
    added: list[EdgePair],
    removed: list[EdgePair],
    *,
    event_id: str,
) -> None:
    t = event.task_id
    involved = {t, *event.old_upstream, *event.new_upstream, *event.old_downstream, *event.new_downstream}
    if event.cycle is not None:
        involved.update(event.cycle.task_path)
    owners = {k: v[0] for k, v in (await task_repo.task_owners(session, involved)).items() if v is not None}
    home = owners.get(t)
    if home is None:
        log.info("dependency change of an unassigned task ignored", extra={"task_id": t, "event_id": event_id})
        return
    base: dict[str, Any] = {
        "source": "task.dependency.changed",
        "event_id": event_id,
        "task_id": t,
        "edges_added": [list(e) for e in added],
        "edges_removed": [list(e) for e in removed],
    }

    if event.cycle is not None:
        path, tables = list(event.cycle.task_path), list(event.cycle.tables)
        workflows = sorted({home, *(owners[x] for x in path if x in owners)})
        reason = (
            f"lineage change of task {t} closes a dependency cycle {_fmt_path(path)}"
            + (f" through tables {', '.join(tables)}" if tables else "")
            + "; not applied: fix the lineage or the tasks' reads/writes"
        )
        await workflow_repo.set_attention(
            session,
            workflows,
            reason,
            {
                **_without_long_lists(base),
                "kind": "cycle",
                "workflows": workflows,
                "cycle": {"task_path": path, "tables": tables},
            },
            cause=event.cause_event_id,
            weight=len(path),
        )
        return

    relevant = [e for e in added if e[0] in owners and e[1] in owners]
    cross = [e for e in relevant if owners[e[0]] != owners[e[1]]]
    if cross:
        workflows = sorted({home, *(owners[x] for e in cross for x in e)})
        links = ", ".join(
            f"task {u} (workflow {owners[u]}) → task {d} (workflow {owners[d]})" for u, d in cross[:REASON_LINKS]
        )
        more = f" and {len(cross) - REASON_LINKS} more" if len(cross) > REASON_LINKS else ""
        reason = (
            f"lineage change of task {t} links tasks across workflows: {links}{more}; not applied: "
            "move the tasks into one workflow (migration) or handle the dependency by hand"
        )
        # every flagged row carries these details: a hub task's change lists its first links and their count, not
        # thousands of links copied into hundreds of rows (the lineage pages list them all)
        await workflow_repo.set_attention(
            session,
            workflows,
            reason,
            {
                **_without_long_lists(base),
                "kind": "cross_workflow",
                "workflows": workflows[:DETAIL_WORKFLOWS],
                "workflow_count": len(workflows),
                "cross_edge_count": len(cross),
                "cross_edges": [
                    {
                        "upstream_task_id": u,
                        "upstream_workflow_id": owners[u],
                        "downstream_task_id": d,
                        "downstream_workflow_id": owners[d],
                    }
                    for u, d in cross[:DETAIL_EDGES]
                ],
            },
            cause=event.cause_event_id,
            weight=len(cross),
        )
        return

    row = await _lock_owner_of(session, t)
    if row is None or row.id != home:  # moved meanwhile: the next event (or a human) sees the new placement
        return
    inside = {e for e in relevant if owners[e[0]] == home}
    gone = {e for e in removed if owners.get(e[0]) == home and owners.get(e[1]) == home}
    old = await _current_snapshot(session, deps, row)
    current = {(e.upstream_task_id, e.downstream_task_id) for e in old.edges}
    edges = (current | inside) - gone
    if edges == current:
        return
    try:
        dag = analyse_dag([x.task_id for x in old.tasks], sorted(edges))
    except InvalidWorkflowStructure as exc:
        cycles = [p for p in exc.problems if p.get("code") == "cycle"]
        closed: list[int] = (cycles[0].get("path") or []) if cycles else []
        reason = (
            f"lineage change of task {t} would close a dependency cycle {_fmt_path(closed)} "
            f"in workflow {home}; not applied"
        )
        await workflow_repo.set_attention(
            session,
            [home],
            reason,
            {
                **_without_long_lists(base),
                "kind": "cycle",
                "workflows": [home],
                "cycle": {"task_path": closed, "tables": []},
            },
            cause=event.cause_event_id,
            weight=len(closed),
        )
        return
    new = old.model_copy(
        update={
            "edges": tuple(Edge(upstream_task_id=u, downstream_task_id=v) for u, v in dag.edges),
            "entry_task_ids": dag.entry_task_ids,
            "exit_task_ids": dag.exit_task_ids,
        }
    )
    await _write_version(session, deps, row, new, old, trigger=TriggerSource.LINEAGE_CHANGE, actor=deps.lineage_actor)


@dataclass(frozen=True)
class DependencySyncReport:
    tasks: int
    rows_written: int
    batches: int


async def sync_dependencies(
    sessions: async_sessionmaker[AsyncSession], view: DependencyView, *, batch_size: int = 500
) -> DependencySyncReport:
    """(Re)fill the dependency projection from lineage-resolver's view for every catalog task, ``batch_size`` task
    ids per batch (one read of the view, one transaction each). Safe while the consumer runs: a batch takes the
    database clock before it reads the view and overwrites only rows written before that moment, so a change the
    consumer applied meanwhile is never replaced by the older read."""
    size = max(1, min(batch_size, view.max_batch))
    after, tasks, written, batches = 0, 0, 0, 0
    while True:
        async with unit_of_work(sessions) as session:
            ids = await dependency_repo.task_ids_after(session, after, size)
            since = await dependency_repo.database_now(session)
        if not ids:
            return DependencySyncReport(tasks=tasks, rows_written=written, batches=batches)
        sets = await view.dependency_sets(ids)
        rows = dependency_repo.DependencyRows([], [], [])
        for d in sets:
            rows.task_ids.append(d.task_id)
            rows.ups.append(_pg_array(d.upstream))
            rows.downs.append(_pg_array(d.downstream))
        async with unit_of_work(sessions) as session:
            written += await dependency_repo.refill_dependencies(session, rows, fetched_after=since)
        tasks += len(ids)
        batches += 1
        after = ids[-1]


#: cross-workflow links named in an attention reason, and listed (with the workflows) in its details
REASON_LINKS = 10
DETAIL_EDGES = 100
DETAIL_WORKFLOWS = 100


def _without_long_lists(base: dict[str, Any]) -> dict[str, Any]:
    """The event's edge lists cut to ``DETAIL_EDGES`` each, with their full counts."""
    out = dict(base)
    for key in ("edges_added", "edges_removed"):
        edges = base[key]
        if len(edges) > DETAIL_EDGES:
            out[key] = edges[:DETAIL_EDGES]
            out[f"{key}_count"] = len(edges)
    return out


def _pg_array(ids: Iterable[int]) -> str:
    return "{" + ",".join(str(i) for i in sorted(set(ids))) + "}"
