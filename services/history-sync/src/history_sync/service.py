"""Use cases of history-sync: learn tracked workflows, sync executions, serve them, alert on failures."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from common import deadline
from common.db import unit_of_work
from common.dolphin import DolphinTaskNotDispatched
from common.dolphin.models import InstanceTasks, TaskInstance, WorkflowInstance
from common.errors import NotFound, PlatformError, ValidationFailed
from common.events.models import (
    ExecutionSummary,
    ExecutionSynced,
    FailureRule,
    PublishCompleted,
    PublishOutcome,
    WorkflowExecutionFailed,
    WorkflowRunStarted,
)
from history_sync import metrics
from history_sync.db import repository as repo
from history_sync.deps import Deps
from history_sync.domain.alerts import OpenIncidents, evaluate
from history_sync.domain.executions import (
    KEEP_LAST,
    Changes,
    Execution,
    detect_changes,
    latest_executions,
    trigger_of,
)
from history_sync.domain.logs import count_lines
from history_sync.domain.task_metrics import TaskMetrics, TaskRun, needs_task_fetch, task_metrics
from history_sync.domain.tracking import PublishFacts, apply_publish, cycle_of, is_synced, next_cycle_start

log = logging.getLogger(__name__)

# --- publish.completed -------------------------------------------------------------------------------------------


async def record_publish(session: AsyncSession, event: PublishCompleted) -> None:
    """Track the workflow (code, project, release state) and learn engine version -> platform version."""
    if event.outcome is PublishOutcome.FAILED:
        return
    current = await repo.get_tracked(session, event.workflow_id, for_update=True)
    facts = PublishFacts(
        workflow_id=event.workflow_id,
        operation=event.operation.value,
        engine_workflow_code=event.engine_workflow_code,
        project_code=event.project_code,
        release_state=event.release_state,
        completed_at=event.completed_at,
    )
    before = current.tracking if current else None
    after = apply_publish(before, facts)
    if after is not None and after != before:
        became_synced = before is None or (
            before.release_state != after.release_state or before.engine_workflow_code != after.engine_workflow_code
        )
        await repo.save_tracking(session, after, sync_now=became_synced)
    if after is not None:
        # what DS runs may have changed: the next read refreshes from DS
        await repo.request_refresh(session, event.workflow_id, event.completed_at)
    if event.engine_version is not None:
        await repo.record_engine_version(session, event.workflow_id, event.engine_version, event.version_id)


async def record_run_started(session: AsyncSession, event: WorkflowRunStarted) -> None:
    """A run was started (run now): the workflow's cache is stale from now; the next read refreshes it from DS, and
    the periodic sync takes it at once."""
    if not await repo.request_refresh(session, event.workflow_id, event.started_at):
        log.info("run of an untracked workflow ignored", extra={"workflow_id": event.workflow_id})


# --- syncing -------------------------------------------------------------------------------------------------------


def to_execution(instance: WorkflowInstance, workflow_id: int, versions: Mapping[tuple[int, int], int]) -> Execution:
    command = instance.command_type.value if instance.command_type is not None else None
    version = instance.workflow_definition_version
    return Execution(
        instance_id=instance.id,
        state=instance.state.value,
        start_time=instance.start_time,
        end_time=instance.end_time,
        duration=instance.duration,
        command_type=trigger_of(command, instance.schedule_time),
        ds_command_type=command,
        run_times=instance.run_times,
        host=instance.host,
        engine_version=version,
        platform_version_id=versions.get((workflow_id, version)) if version is not None else None,
    )


def describe_error(exc: BaseException) -> str:
    """Error text for ``last_error`` (DS client errors never contain secrets)."""
    if isinstance(exc, PlatformError):
        return f"{exc.code}: {exc.detail}"[:1000]
    return f"{type(exc).__name__}: {exc}"[:1000]


async def fetch_instances(deps: Deps, project_code: int, workflow_code: int) -> list[WorkflowInstance]:
    page = await deps.dolphin.list_workflow_instances(
        project_code, page_no=1, page_size=KEEP_LAST, workflow_code=workflow_code
    )
    return list(page.total_list)


@dataclass(frozen=True)
class Target:
    workflow_id: int
    engine_workflow_code: int
    project_code: int


def _summary(e: Execution) -> ExecutionSummary:
    return ExecutionSummary(
        instance_id=e.instance_id,
        state=e.state,
        start_time=e.start_time,
        end_time=e.end_time,
        duration=e.duration,
        command_type=e.command_type,
        run_times=e.run_times,
        engine_version=e.engine_version,
        platform_version_id=e.platform_version_id,
    )


async def apply_fetched(
    session: AsyncSession, deps: Deps, fetched: Sequence[tuple[Target, list[WorkflowInstance]]], now: datetime
) -> set[int]:
    """Merge fetched DS pages into the cache; emit ``execution.synced`` for the changed workflows and the failure
    alerts; keep incident state. Returns the ids of the workflows whose cache changed."""
    ids = [t.workflow_id for t, _ in fetched]
    cache = await repo.load_cache(session, ids)
    versions = await repo.engine_versions(session, ids)
    changed: list[tuple[Target, list[Execution], Changes]] = []
    for target, instances in fetched:
        wid = target.workflow_id
        new = latest_executions(to_execution(i, wid, versions) for i in instances)
        changes = detect_changes(cache.get(wid, []), new)
        if changes.changed:
            changed.append((target, new, changes))
    # incident state only for the workflows that changed (none in a steady-state cycle: one query less per batch)
    incidents = await repo.open_incidents(session, [t.workflow_id for t, _, _ in changed])
    replaced: dict[int, list[Execution]] = {}
    for target, new, changes in changed:
        wid = target.workflow_id
        replaced[wid] = new
        await deps.outbox.add(
            session,
            ExecutionSynced(
                workflow_id=wid,
                engine_workflow_code=target.engine_workflow_code,
                project_code=target.project_code,
                executions=tuple(_summary(e) for e in new),
                last_execution_state=new[0].state if new else None,
                synced_at=now,
            ),
        )
        open_before = incidents.get(wid)
        decision = evaluate(wid, new, changes.new_failures, open_before or OpenIncidents(), deps.policy)
        for alert in decision.alerts:
            await deps.outbox.add(
                session,
                WorkflowExecutionFailed(
                    workflow_id=wid,
                    engine_workflow_code=target.engine_workflow_code,
                    project_code=target.project_code,
                    rule=FailureRule(alert.rule),
                    instance_id=alert.instance_id,
                    state=alert.state,
                    details=alert.details,
                    incident_key=alert.incident_key,
                    occurred_at=now,
                ),
            )
        details = {a.incident_key: a.details for a in decision.alerts}
        for rule, key in decision.opened:
            await repo.open_incident(session, wid, rule, key, details.get(key, {}), now)
        await repo.close_incidents(session, (key for _, key in decision.closed), now)
    await repo.replace_cache(session, replaced, now)
    await repo.prune_task_runs(session, list(replaced))
    return set(replaced)


def to_task_run(workflow_id: int, instance_id: int, t: TaskInstance) -> TaskRun | None:
    if t.task_code is None or t.state is None:
        return None
    return TaskRun(
        workflow_id=workflow_id,
        instance_id=instance_id,
        task_instance_id=t.id,
        task_code=t.task_code,
        task_name=t.name,
        task_type=t.task_type,
        state=t.state.value,
        start_time=t.start_time,
        end_time=t.end_time,
        retry_times=t.retry_times,
    )


async def _read_tasks(deps: Deps, target: Target, instance: WorkflowInstance) -> repo.FetchedTasks | None:
    try:
        tasks = await deps.dolphin.get_instance_tasks(target.project_code, instance.id)
    except Exception as exc:  # one run's failure never stops the sync: the next one reads it again
        log.warning("task instances of run %s unavailable: %s", instance.id, describe_error(exc))
        metrics.TASK_FETCHES_FAILED.inc()
        return None
    runs = [r for t in tasks.task_list if (r := to_task_run(target.workflow_id, instance.id, t)) is not None]
    return repo.FetchedTasks(target.workflow_id, instance.id, instance.run_times or 0, runs)


async def read_finished_tasks(
    deps: Deps, fetched: Sequence[tuple[Target, list[WorkflowInstance]]]
) -> tuple[list[repo.FetchedTasks], set[int]]:
    """The task instances of the finished runs among the fetched pages that were not read at their ``run_times``
    (``task_fetch``, read here without a lock; ``repo.save_task_runs`` checks again under the workflow's lock): each
    finished run is read from DS once; at most ``task_reads_per_sync`` per workflow, newest first (the others at the
    next syncs). Returns them with the ids of the workflows that still have runs to read (over the cap, or a read
    that failed)."""
    cap = deps.settings.task_reads_per_sync
    if cap == 0 or not fetched:
        return [], set()
    async with deps.sessions() as session:
        done = await repo.fetched_runs(session, [t.workflow_id for t, _ in fetched])
    wanted: list[tuple[Target, WorkflowInstance]] = []
    left: set[int] = set()
    for target, instances in fetched:
        due = [
            i
            for i in instances[:KEEP_LAST]
            if needs_task_fetch(to_execution(i, target.workflow_id, {}), done.get(i.id))
        ]
        if len(due) > cap:
            left.add(target.workflow_id)
        wanted += [(target, i) for i in due[:cap]]
    if not wanted:
        return [], left
    read = await asyncio.gather(*(_read_tasks(deps, target, instance) for target, instance in wanted))
    left.update(target.workflow_id for (target, _), r in zip(wanted, read, strict=True) if r is None)
    return [r for r in read if r is not None], left


def count_task_runs(stored: Sequence[repo.FetchedTasks]) -> None:
    """Prometheus: per workflow and state (after the commit that stored them, so each is counted once)."""
    for f in stored:
        workflow = str(f.workflow_id)
        for r in f.runs:
            metrics.TASK_RUNS.labels(workflow, r.state).inc()
            if (d := r.duration_s) is not None:
                metrics.TASK_RUN_SECONDS.labels(workflow, r.state).observe(d)


@dataclass
class BatchResult:
    synced: int = 0
    failed: int = 0
    lost: int = 0
    changed: int = 0

    def add(self, other: BatchResult) -> None:
        self.synced += other.synced
        self.failed += other.failed
        self.lost += other.lost
        self.changed += other.changed


@dataclass(frozen=True, slots=True)
class Fetched:
    """One claimed workflow's read: its page (``None`` when DS answered the claimed digest: nothing changed since
    the cache was written), the digest of DS's answer, or the error."""

    instances: list[WorkflowInstance] | None = None
    digest: bytes | None = None
    error: str | None = None

    @property
    def unchanged(self) -> bool:
        return self.error is None and self.instances is None


async def _fetch_one(deps: Deps, c: repo.Claimed) -> Fetched:
    # digests only while task reads are on: a digest vouches for the task instances of the page's finished runs too
    known = c.page_digest if deps.settings.task_reads_per_sync > 0 else None
    try:
        answer = await deps.dolphin.list_workflow_instances_digested(
            c.project_code, c.engine_workflow_code, page_size=KEEP_LAST, known_digest=known
        )
    except Exception as exc:  # one workflow's failure never stops the cycle
        log.warning("sync of workflow %s failed: %s", c.workflow_id, describe_error(exc))
        return Fetched(error=describe_error(exc))
    if answer.data is None:
        return Fetched(digest=answer.digest)
    return Fetched(list(answer.data.total_list), answer.digest)


async def sync_batch(deps: Deps, claimed: Sequence[repo.Claimed]) -> BatchResult:
    """Fetch the claimed workflows from DS (concurrently, throttled), then in ONE transaction: release the leases we
    still hold, write caches, events, incidents and the sync log.

    A workflow whose DS page is byte for byte the one its cache was written from (``page_digest``) is synced
    without parsing or comparing it (the steady state); the digest is stored only when every finished run of the
    page has its task instances read, and only while task reads are on."""
    settings = deps.settings
    results = await asyncio.gather(*(_fetch_one(deps, c) for c in claimed))
    pages = [
        (Target(c.workflow_id, c.engine_workflow_code, c.project_code), f.instances)
        for c, f in zip(claimed, results, strict=True)
        if f.instances is not None
    ]
    tasks, reads_left = await read_finished_tasks(deps, pages)
    now = deps.clock.now()
    use_digest = settings.task_reads_per_sync > 0
    outcomes = [
        repo.SyncOutcome(
            c.workflow_id,
            f.error is None,
            f.error,
            now,
            next_cycle_start(c.claimed_at, settings.sync_interval_s),
            page_digest=f.digest if use_digest and c.workflow_id not in reads_left else None,
            unchanged=f.unchanged,
        )
        for c, f in zip(claimed, results, strict=True)
    ]
    result = BatchResult()
    async with unit_of_work(deps.sessions) as session:
        owned = await repo.complete_leased(session, deps.replica_id, outcomes)
        fetched = [
            (Target(c.workflow_id, c.engine_workflow_code, c.project_code), f.instances)
            for c, f in zip(claimed, results, strict=True)
            if f.instances is not None and c.workflow_id in owned
        ]
        result.changed = len(await apply_fetched(session, deps, fetched, now))
        stored = await repo.save_task_runs(session, [f for f in tasks if f.workflow_id in owned], now)
        if settings.record_sync_runs:
            await repo.insert_sync_runs(
                session,
                [
                    {
                        "workflow_id": c.workflow_id,
                        "cycle": cycle_of(c.claimed_at, settings.sync_interval_s),
                        "replica": deps.replica_id,
                        "ok": f.error is None,
                        "claimed_at": c.claimed_at,
                        "finished_at": now,
                    }
                    for c, f in zip(claimed, results, strict=True)
                    if c.workflow_id in owned
                ],
            )
    count_task_runs(stored)
    result.synced = sum(1 for c, f in zip(claimed, results, strict=True) if f.error is None and c.workflow_id in owned)
    result.failed = len(owned) - result.synced
    result.lost = len(claimed) - len(owned)
    metrics.WORKFLOWS_SYNCED.labels("cycle").inc(result.synced)
    metrics.WORKFLOWS_FAILED.labels("cycle").inc(result.failed)
    metrics.LEASES_LOST.inc(result.lost)
    return result


async def claim_batch(deps: Deps) -> list[repo.Claimed]:
    s = deps.settings
    async with unit_of_work(deps.sessions) as session:
        return await repo.claim_due(
            session,
            replica=deps.replica_id,
            lease_s=s.lease_s,
            limit=s.claim_batch_size,
            offline_grace_s=s.offline_grace_s,
        )


@dataclass
class CycleReport:
    result: BatchResult = field(default_factory=BatchResult)
    batches: int = 0
    errors: list[str] = field(default_factory=list)


async def sync_due_workflows(deps: Deps, *, stop: asyncio.Event | None = None) -> CycleReport:
    """Sync every workflow due now that no other replica holds: ``sync_lanes`` claim->fetch->write pipelines
    share the DS concurrency limit, so DS stays busy while a batch is being written."""
    report = CycleReport()

    async def lane() -> None:
        while stop is None or not stop.is_set():
            try:
                claimed = await claim_batch(deps)
                if not claimed:
                    return
                report.batches += 1
                report.result.add(await sync_batch(deps, claimed))
            except Exception as exc:  # database trouble: leave the leases to expire, try again next poll
                log.exception("sync lane failed")
                report.errors.append(describe_error(exc))
                return

    await asyncio.gather(*(lane() for _ in range(deps.settings.sync_lanes)))
    return report


async def housekeeping(deps: Deps) -> None:
    """Prune the sync log and refresh the staleness gauges."""
    s = deps.settings
    now = deps.clock.now()
    async with unit_of_work(deps.sessions) as session:
        if s.record_sync_runs:
            await repo.prune_sync_runs(session, now - timedelta(seconds=s.sync_run_retention_s))
        oldest, never = await repo.oldest_sync(session, s.offline_grace_s)
    metrics.OLDEST_SYNC_AGE.set((now - oldest).total_seconds() if oldest else 0.0)
    metrics.NEVER_SYNCED.set(never)


@dataclass(frozen=True)
class StaleWorkflows:
    cycles: int
    interval_s: float
    threshold_s: float
    checked_at: datetime
    #: (tracked workflow, age of its last successful sync — or of its last publish when never synced)
    items: list[tuple[repo.TrackedWorkflow, float]]


async def get_stale_workflows(deps: Deps, cycles: int) -> StaleWorkflows:
    """Workflows the periodic sync covers whose last successful sync is older than ``cycles`` sync intervals."""
    s = deps.settings
    now = deps.clock.now()
    threshold = cycles * s.sync_interval_s
    async with unit_of_work(deps.sessions) as session:
        rows = await repo.stale_tracked(session, now - timedelta(seconds=threshold), s.offline_grace_s)
    items = [(t, (now - (t.last_synced_at or t.tracking.last_publish_at)).total_seconds()) for t in rows]
    return StaleWorkflows(cycles, s.sync_interval_s, threshold, now, items)


async def release_my_leases(deps: Deps) -> int:
    async with unit_of_work(deps.sessions) as session:
        return await repo.release_leases(session, deps.replica_id)


# --- on-demand reads -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkflowExecutions:
    workflow_id: int
    engine_workflow_code: int
    project_code: int
    release_state: str
    synced: bool
    synced_at: datetime | None
    age_seconds: float | None
    stale: bool
    last_error: str | None
    last_error_at: datetime | None
    refreshed: bool
    executions: list[Execution]


def _view(
    deps: Deps,
    t: repo.TrackedWorkflow,
    executions: list[Execution],
    now: datetime,
    *,
    refreshed: bool,
    refresh_failed: bool = False,
) -> WorkflowExecutions:
    """``refresh_failed``: the cache needed a refresh that DS did not give (it is stale whatever its age)."""
    s = deps.settings
    age = (now - t.last_synced_at).total_seconds() if t.last_synced_at else None
    return WorkflowExecutions(
        workflow_id=t.workflow_id,
        engine_workflow_code=t.tracking.engine_workflow_code,
        project_code=t.tracking.project_code,
        release_state=t.tracking.release_state,
        synced=is_synced(t.tracking, now, timedelta(seconds=s.offline_grace_s)),
        synced_at=t.last_synced_at,
        age_seconds=None if age is None else max(0.0, age),
        stale=age is None or age > s.stale_after_s or refresh_failed,
        last_error=t.last_error,
        last_error_at=t.last_error_at,
        refreshed=refreshed,
        executions=executions,
    )


async def _read(deps: Deps, workflow_id: int) -> tuple[repo.TrackedWorkflow | None, list[Execution]]:
    async with deps.sessions() as session:
        tracked = await repo.get_tracked(session, workflow_id)
        cache = await repo.load_cache(session, [workflow_id]) if tracked else {}
    return tracked, cache.get(workflow_id, [])


async def refresh_workflow(deps: Deps, t: repo.TrackedWorkflow) -> str | None:
    """Fetch one workflow now and merge it (outside the periodic schedule); returns the error text on failure."""
    target = Target(t.workflow_id, t.tracking.engine_workflow_code, t.tracking.project_code)
    try:
        instances = await fetch_instances(deps, target.project_code, target.engine_workflow_code)
    except PlatformError as exc:
        error = describe_error(exc)
        async with unit_of_work(deps.sessions) as session:
            await repo.record_sync_state(session, t.workflow_id, ok=False, error=error, at=deps.clock.now())
        metrics.WORKFLOWS_FAILED.labels("on_demand").inc()
        return error
    tasks, _ = await read_finished_tasks(deps, [(target, instances)])
    async with unit_of_work(deps.sessions) as session:
        await repo.get_tracked(session, t.workflow_id, for_update=True)  # serialise with a concurrent cycle write
        now = deps.clock.now()
        await apply_fetched(session, deps, [(target, instances)], now)
        stored = await repo.save_task_runs(session, tasks, now)
        await repo.record_sync_state(session, t.workflow_id, ok=True, error=None, at=now)
    count_task_runs(stored)
    metrics.WORKFLOWS_SYNCED.labels("on_demand").inc()
    return None


#: seconds kept, of the caller's deadline, to answer with the cache when DS is slow
ANSWER_RESERVE_S = 0.5


def _needs_refresh(
    deps: Deps, t: repo.TrackedWorkflow, executions: list[Execution], now: datetime, limit: float
) -> bool:
    """Older than ``limit``; or a run was started or a publish finished since the last sync; or the newest run was
    still going at the last sync and that is older than ``running_stale_after_s`` (its end shows within seconds)."""
    if t.last_synced_at is None or t.refresh_pending:
        return True
    age = (now - t.last_synced_at).total_seconds()
    if executions and not executions[0].finished:
        limit = min(limit, deps.settings.running_stale_after_s)
    return age > limit


async def get_executions(deps: Deps, workflow_id: int, max_age_s: float | None = None) -> WorkflowExecutions:
    """The cached executions with their age; refreshed from DS first when older than ``max_age_s`` (default: the
    staleness limit), when a run or publish happened since the last sync, or when the newest run was still going.
    If DS fails or does not answer within the caller's deadline (``common.deadline``), the cache is returned with
    its age, ``stale`` and the error."""
    limit = deps.settings.stale_after_s if max_age_s is None else max_age_s
    tracked, executions = await _read(deps, workflow_id)
    if tracked is None:
        raise NotFound(f"workflow {workflow_id} is not tracked by history-sync", workflow_id=workflow_id)
    now = deps.clock.now()
    refreshed = failed = False
    if _needs_refresh(deps, tracked, executions, now, limit):
        with deadline.within(reserve=ANSWER_RESERVE_S):
            error = await refresh_workflow(deps, tracked)
        refreshed, failed = error is None, error is not None
        tracked, executions = await _read(deps, workflow_id)
        assert tracked is not None
        now = deps.clock.now()
    return _view(deps, tracked, executions, now, refreshed=refreshed, refresh_failed=failed)


async def get_executions_batch(deps: Deps, workflow_ids: Sequence[int]) -> tuple[list[WorkflowExecutions], list[int]]:
    """Cached executions of many workflows (no refresh); returns (views in the order asked, ids not tracked)."""
    if len(workflow_ids) > deps.settings.batch_max_ids:
        raise ValidationFailed(f"at most {deps.settings.batch_max_ids} workflow ids per request")
    unique = list(dict.fromkeys(workflow_ids))
    async with deps.sessions() as session:
        tracked = await repo.get_tracked_many(session, unique)
        cache = await repo.load_cache(session, list(tracked))
    now = deps.clock.now()
    views = [_view(deps, tracked[w], cache.get(w, []), now, refreshed=False) for w in unique if w in tracked]
    return views, [w for w in unique if w not in tracked]


@dataclass(frozen=True)
class InstanceDetail:
    workflow_id: int | None
    project_code: int
    instance: WorkflowInstance
    duration: str | None
    tasks: InstanceTasks


async def get_instance_detail(
    deps: Deps, instance_id: int, *, project_code: int | None = None, workflow_id: int | None = None
) -> InstanceDetail:
    """An instance with its task instances, read from DS. The project comes from the request, from the tracked
    workflow, or from the cache (an instance among a workflow's last 10). With ``workflow_id`` the instance must be
    a run of that workflow (of its DS workflow, or among its cached runs), else 404: a workflow's URL never shows
    another workflow's run."""
    async with deps.sessions() as session:
        cached_owner = await repo.workflow_of_instance(session, instance_id)
        if workflow_id is None and project_code is None:
            workflow_id = cached_owner
        tracked = None
        if workflow_id is not None:
            tracked = await repo.get_tracked(session, workflow_id)
            if tracked is None:
                raise NotFound(f"workflow {workflow_id} is not tracked by history-sync", workflow_id=workflow_id)
        if project_code is None:
            if tracked is None:
                raise ValidationFailed(
                    f"instance {instance_id} is not in the cache: give project_code or workflow_id",
                    instance_id=instance_id,
                )
            project_code = tracked.tracking.project_code
        cached_duration = await repo.cached_duration(session, instance_id)
    instance, tasks = await asyncio.gather(
        deps.dolphin.get_workflow_instance(project_code, instance_id),
        deps.dolphin.get_instance_tasks(project_code, instance_id),
    )
    if (
        tracked is not None
        and instance.workflow_definition_code != tracked.tracking.engine_workflow_code
        and cached_owner != tracked.tracking.workflow_id
    ):
        raise NotFound(
            f"workflow instance {instance_id} is not a run of workflow {tracked.tracking.workflow_id}",
            workflow_id=tracked.tracking.workflow_id,
            instance_id=instance_id,
        )
    # DS fills ``duration`` only in the list endpoint (CONTRACT §3.3): take the cached one
    return InstanceDetail(workflow_id, project_code, instance, instance.duration or cached_duration, tasks)


@dataclass(frozen=True)
class LogPage:
    task_instance_id: int
    skip_line_num: int
    limit: int
    message: str
    line_count: int
    next_skip_line_num: int
    complete: bool
    #: False while no worker has taken the task (DS 10191): no log yet, ask again later
    dispatched: bool = True


async def get_task_log_page(
    deps: Deps,
    task_instance_id: int,
    *,
    skip_line_num: int,
    limit: int,
    workflow_id: int | None = None,
    instance_id: int | None = None,
) -> LogPage:
    """One window of a task log; the next window starts after our own count of lines (not DS's ``lineNum``).

    With ``workflow_id`` the task instance must belong to a run of that workflow, else 404: to the run
    ``instance_id`` when given (checked as in ``get_instance_detail``), otherwise to one of its cached runs (newest
    first: the log of the run just shown is found with one DS call)."""
    if skip_line_num < 0 or limit < 1:
        raise ValidationFailed("skip_line_num must be >= 0 and limit >= 1")
    if workflow_id is not None:
        await _check_task_instance(deps, task_instance_id, workflow_id, instance_id)
    try:
        chunk = await deps.dolphin.get_task_log(task_instance_id, skip_line_num=skip_line_num, limit=limit)
    except DolphinTaskNotDispatched:  # a run just started: its task is queued, the log comes with a worker
        return LogPage(
            task_instance_id=task_instance_id,
            skip_line_num=skip_line_num,
            limit=limit,
            message="",
            line_count=0,
            next_skip_line_num=skip_line_num,
            complete=False,
            dispatched=False,
        )
    lines = count_lines(chunk.message)
    return LogPage(
        task_instance_id=task_instance_id,
        skip_line_num=skip_line_num,
        limit=limit,
        message=chunk.message,
        line_count=lines,
        next_skip_line_num=skip_line_num + lines,
        complete=lines < limit,
    )


async def _run_has_task(deps: Deps, project_code: int, instance_id: int, task_instance_id: int) -> bool:
    tasks = await deps.dolphin.get_instance_tasks(project_code, instance_id)
    return any(t.id == task_instance_id for t in tasks.task_list)


async def _check_task_instance(deps: Deps, task_instance_id: int, workflow_id: int, instance_id: int | None) -> None:
    if instance_id is not None:
        detail = await get_instance_detail(deps, instance_id, workflow_id=workflow_id)
        if any(t.id == task_instance_id for t in detail.tasks.task_list):
            return
        raise NotFound(
            f"task instance {task_instance_id} is not part of run {instance_id} of workflow {workflow_id}",
            workflow_id=workflow_id,
            instance_id=instance_id,
            task_instance_id=task_instance_id,
        )
    async with deps.sessions() as session:
        tracked = await repo.get_tracked(session, workflow_id)
        if tracked is None:
            raise NotFound(f"workflow {workflow_id} is not tracked by history-sync", workflow_id=workflow_id)
        cached = (await repo.load_cache(session, [workflow_id])).get(workflow_id, [])
    project_code = tracked.tracking.project_code
    checked: set[int] = set()
    for execution in cached:
        checked.add(execution.instance_id)
        if await _run_has_task(deps, project_code, execution.instance_id, task_instance_id):
            return
    # the cache may not hold a run started since it was filled (run now, then its log): DS's own last runs decide
    for instance in await fetch_instances(deps, project_code, tracked.tracking.engine_workflow_code):
        if instance.id not in checked and await _run_has_task(deps, project_code, instance.id, task_instance_id):
            return
    raise NotFound(
        f"task instance {task_instance_id} is not part of a recent run of workflow {workflow_id}",
        workflow_id=workflow_id,
        task_instance_id=task_instance_id,
    )


# --- task-level metrics ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkflowTaskMetrics:
    workflow_id: int
    synced_at: datetime | None
    #: the workflow's cached last runs, newest first (each task has one cell per run)
    executions: list[Execution]
    tasks: list[TaskMetrics]


async def get_task_metrics(deps: Deps, workflow_ids: Sequence[int]) -> tuple[list[WorkflowTaskMetrics], list[int]]:
    """Per workflow, each DS task's state and duration in the cached last runs with its success rate and p50/p90
    duration (from what the sync stored; never calls DS). Returns (metrics in the order asked, ids not tracked)."""
    if len(workflow_ids) > deps.settings.batch_max_ids:
        raise ValidationFailed(f"at most {deps.settings.batch_max_ids} workflow ids per request")
    unique = list(dict.fromkeys(workflow_ids))
    async with deps.sessions() as session:
        tracked = await repo.get_tracked_many(session, unique)
        ids = [w for w in unique if w in tracked]
        cache = await repo.load_cache(session, ids)
        runs = await repo.load_task_runs(session, ids)
    out = [WorkflowTaskMetrics(w, tracked[w].last_synced_at, cache[w], task_metrics(cache[w], runs[w])) for w in ids]
    return out, [w for w in unique if w not in tracked]
