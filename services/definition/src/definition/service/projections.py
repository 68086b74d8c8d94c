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

    One version per workflow and lineage event: lineage-resolver emits an event for both ends of every link that
    moved (same ``cause_event_id``), and one lineage event changes one task's reads or writes, so every moved link
    has that task at one end. An event that moves one link leaves it, inside a workflow, to the other end's event
    while that task's projection does not show the change yet (its event is still to come, maybe on another
    partition): a new writer of a hub table read by ten tasks of its workflow (or a new reader of ten tables) moves
    ten links in one event, applied as one version, whatever order the readers' one-link events come in (applied
    by both, the workflow would get a version per reader first). Of two one-link events, the later one applies the
    link. The same holds for a one-link event's link across workflows: the other end's event flags the workflows
    (a hub's readers consumed before its writer's event write nothing). A workflow the lineage event flagged (a link
    across workflows, a cycle) gets no version from it. Without a cause (no lineage event), an event applies all its
    links."""
    await apply_dependency_changes(session, deps, [(event, event_id)])


async def apply_dependency_changes(
    session: AsyncSession, deps: Deps, changes: Sequence[tuple[TaskDependencyChanged, str]]
) -> None:
    """A batch of ``task.dependency.changed`` (``(event, event id)`` in the order consumed) in one transaction, with
    the effects of applying them one by one (``apply_dependency_change``) except that a workflow gets one version for
    the whole batch: the projection written in two statements
    (each task's last sets), the owners read once, the flags filtered against each other and the stored ones before
    any row is written, each workflow re-versioned at most once (the events' edges applied in order, one that would
    close a cycle flagged and skipped), and the proposals around the tasks refreshed once for the net change."""
    if not changes:
        return
    # The dependency projection mirrors lineage's view for EVERY event, cycle or not (lineage writes the new sets
    # to its view either way), before anything else.
    await dependency_repo.put_many_dependencies(
        session, {e.task_id: (e.new_upstream, e.new_downstream) for e, _ in changes}
    )
    net: dict[EdgePair, bool] = {}
    moved: list[tuple[TaskDependencyChanged, str, list[EdgePair], list[EdgePair]]] = []
    involved: set[int] = set()
    for event, event_id in changes:
        added, removed = _moved_edges(event)
        net.update(dict.fromkeys(removed, False))
        net.update(dict.fromkeys(added, True))
        moved.append((event, event_id, added, removed))
        involved |= _involved(event)
    owners = {k: v[0] for k, v in (await task_repo.task_owners(session, involved)).items() if v is not None}
    # the other (assigned) end of the one link a lineage event's one-link event moves
    ends = {
        x
        for e, _, added, removed in moved
        if e.cause_event_id is not None and e.cycle is None and len(added) + len(removed) == 1
        for x in (*added, *removed)[0]
        if x != e.task_id and owners.get(x) is not None and owners.get(e.task_id) is not None
    }
    projected = await dependency_repo.dependency_sets(session, ends)
    flags: list[_Flag] = []
    inside: dict[int, list[_Inside]] = {}
    for event, event_id, added, removed in moved:
        _classify(event, event_id, added, removed, owners, projected, flags, inside)
    await _set_flags(session, flags)
    if inside:
        await _apply_inside(session, deps, inside)
    # the proposals around the tasks (issue 20), whatever happened to workflows above; last, as everywhere: the
    # proposals' lock is taken after the workflow rows (the reverse order deadlocks with a workflow write)
    await _refresh_proposals(
        session,
        deps,
        Change(
            added=tuple(sorted(e for e, on in net.items() if on)),
            removed=tuple(sorted(e for e, on in net.items() if not on)),
        ),
    )


def _moved_edges(event: TaskDependencyChanged) -> tuple[list[EdgePair], list[EdgePair]]:
    t = event.task_id
    added = [(u, t) for u in sorted(set(event.new_upstream) - set(event.old_upstream))] + [
        (t, d) for d in sorted(set(event.new_downstream) - set(event.old_downstream))
    ]
    removed = [(u, t) for u in sorted(set(event.old_upstream) - set(event.new_upstream))] + [
        (t, d) for d in sorted(set(event.old_downstream) - set(event.new_downstream))
    ]
    return added, removed


def _involved(event: TaskDependencyChanged) -> set[int]:
    out = {event.task_id, *event.old_upstream, *event.new_upstream, *event.old_downstream, *event.new_downstream}
    if event.cycle is not None:
        out.update(event.cycle.task_path)
    return out


@dataclass(frozen=True)
class _Flag:
    """A ``set_attention`` an event asks for."""

    workflows: list[int]
    reason: str
    details: dict[str, Any]
    cause: str | None
    weight: int


@dataclass(frozen=True)
class _Inside:
    """An event's edges to add and remove inside its task's workflow."""

    event: TaskDependencyChanged
    base: dict[str, Any]
    added: frozenset[EdgePair]
    gone: frozenset[EdgePair]


def _classify(
    event: TaskDependencyChanged,
    event_id: str,
    added: list[EdgePair],
    removed: list[EdgePair],
    owners: dict[int, int],
    projected: dict[int, tuple[list[int], list[int]]],
    flags: list[_Flag],
    inside: dict[int, list[_Inside]],
) -> None:
    """What one event asks for: a flag (a cycle, a link across workflows), or edges inside its workflow."""
    t = event.task_id
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

    one_link = event.cause_event_id is not None and len(added) + len(removed) == 1

    def left_to_other_end(e: EdgePair, *, present: bool) -> bool:
        """The one link of a lineage event's one-link event, left to the other end's event of the same lineage event:
        that task's projection does not show it ``present`` (added) or gone yet, so its event is still to come and
        applies it (with the other links it moves, if any)."""
        u, d = e
        if not one_link or u == d:
            return False
        other, side = (u, 1) if d == t else (d, 0)
        sets = projected.get(other, ([], []))
        return (t in sets[side]) != present

    if event.cycle is not None:
        path, tables = list(event.cycle.task_path), list(event.cycle.tables)
        workflows = sorted({home, *(owners[x] for x in path if x in owners)})
        reason = (
            f"lineage change of task {t} closes a dependency cycle {_fmt_path(path)}"
            + (f" through tables {', '.join(tables)}" if tables else "")
            + "; not applied: fix the lineage or the tasks' reads/writes"
        )
        details = {
            **_without_long_lists(base),
            "kind": "cycle",
            "workflows": workflows,
            "cycle": {"task_path": path, "tables": tables},
        }
        flags.append(_Flag(workflows, reason, details, event.cause_event_id, len(path)))
        return

    relevant = [e for e in added if e[0] in owners and e[1] in owners]
    cross = [e for e in relevant if owners[e[0]] != owners[e[1]]]
    if cross and left_to_other_end(cross[0], present=True):
        # the other end's event flags the same workflows (and all the others its links reach): a hub's readers
        # consumed before its writer's event write nothing, the writer's flags each workflow once
        return
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
        details = {
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
        }
        flags.append(_Flag(workflows, reason, details, event.cause_event_id, len(cross)))
        return

    plus = frozenset(e for e in relevant if owners[e[0]] == home and not left_to_other_end(e, present=True))
    gone = frozenset(
        e
        for e in removed
        if owners.get(e[0]) == home and owners.get(e[1]) == home and not left_to_other_end(e, present=False)
    )
    if plus or gone:
        inside.setdefault(home, []).append(_Inside(event, base, plus, gone))


async def _set_flags(session: AsyncSession, flags: Sequence[_Flag]) -> None:
    """The batch's flags, each workflow written once per lineage event: by the flag explaining the most links (the
    first of equal weight), and not at all when the stored flag of the same lineage event weighs as much. Flags
    without a cause are written in order, as they come (the last one stays)."""
    if not flags:
        return
    if any(f.cause is None for f in flags):
        for f in flags:
            await workflow_repo.set_attention(session, f.workflows, f.reason, f.details, cause=f.cause, weight=f.weight)
        return
    best: dict[tuple[str, int], tuple[int, int]] = {}
    for i, f in enumerate(flags):
        assert f.cause is not None
        for w in f.workflows:
            b = best.get((f.cause, w))
            if b is None or f.weight > b[0]:
                best[(f.cause, w)] = (f.weight, i)
    stored = await workflow_repo.attention_causes(session, {w for f in flags for w in f.workflows})
    for i, f in enumerate(flags):
        assert f.cause is not None
        ids = [
            w
            for w in f.workflows
            if best[(f.cause, w)][1] == i and not (stored.get(w, ("", 0))[0] == f.cause and stored[w][1] >= f.weight)
        ]
        if ids:
            await workflow_repo.set_attention(session, ids, f.reason, f.details, cause=f.cause, weight=f.weight)


async def _apply_inside(session: AsyncSession, deps: Deps, inside: dict[int, list[_Inside]]) -> None:
    """Each workflow's edges from the batch's events, in order, as one version. The workflows are locked in id order
    (one statement); an event whose task moved to another workflow meanwhile is left out (the next event, or a
    human, sees the new placement); one whose edges would close a cycle flags the workflow and is skipped."""
    rows = {r.id: r for r in await workflow_repo.lock_workflows(session, inside)}
    tasks = {i.event.task_id for items in inside.values() for i in items}
    now = {k: v[0] for k, v in (await task_repo.task_owners(session, tasks)).items() if v is not None}
    for home in sorted(inside):
        row = rows.get(home)
        if row is None:
            continue
        flagged_by = (row.attention_details or {}).get("cause_event_id") if row.needs_attention else None
        # a lineage event that flagged the workflow (a link across workflows, a cycle) is not applied to it in part
        items = [
            i
            for i in inside[home]
            if now.get(i.event.task_id) == home and (flagged_by is None or i.event.cause_event_id != flagged_by)
        ]
        if not items:
            continue
        old = await _current_snapshot(session, deps, row)
        current = {(e.upstream_task_id, e.downstream_task_id) for e in old.edges}
        edges, dag = set(current), None
        for item in items:
            wanted = (edges | item.added) - item.gone
            if wanted == edges:
                continue
            try:
                dag = analyse_dag([x.task_id for x in old.tasks], sorted(wanted))
            except InvalidWorkflowStructure as exc:
                await _flag_inner_cycle(session, home, item, exc)
                continue
            edges = set(dag.edges)
        if dag is None or edges == current:
            continue
        new = old.model_copy(
            update={
                "edges": tuple(Edge(upstream_task_id=u, downstream_task_id=v) for u, v in sorted(edges)),
                "entry_task_ids": dag.entry_task_ids,
                "exit_task_ids": dag.exit_task_ids,
            }
        )
        await _write_version(
            session, deps, row, new, old, trigger=TriggerSource.LINEAGE_CHANGE, actor=deps.lineage_actor
        )


async def _flag_inner_cycle(session: AsyncSession, home: int, item: _Inside, exc: InvalidWorkflowStructure) -> None:
    cycles = [p for p in exc.problems if p.get("code") == "cycle"]
    closed: list[int] = (cycles[0].get("path") or []) if cycles else []
    reason = (
        f"lineage change of task {item.event.task_id} would close a dependency cycle {_fmt_path(closed)} "
        f"in workflow {home}; not applied"
    )
    await workflow_repo.set_attention(
        session,
        [home],
        reason,
        {
            **_without_long_lists(item.base),
            "kind": "cycle",
            "workflows": [home],
            "cycle": {"task_path": closed, "tables": []},
        },
        cause=item.event.cause_event_id,
        weight=len(closed),
    )


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
