"""The DolphinScheduler publish run (step 3): ``_Run`` deploys one claimed record's snapshot to DS — project, task
codes, the workflow, its release state and schedule — retrying what may pass and reading DS back before it says
what DS holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sqlalchemy import Row

from common.approvals import PublishNotApproved, check_approval
from common.db import unit_of_work
from common.dolphin import (
    DagData,
    DolphinApiError,
    DolphinNotFound,
    DolphinTransientApiError,
    FailureStrategy,
    ReleaseState,
    Schedule,
    ScheduleSpec,
    WorkflowExecutionType,
    parse_ds_datetime,
)
from common.errors import PlatformError, TransientError
from common.events.models import PublishOperation
from common.retry import retrying
from common.workflow import StructureSnapshot, datasources_of
from publisher.db import repository as repo
from publisher.deps import Deps
from publisher.domain import DolphinWorkflowDefinition, assign_codes, code_batches, codes_needed, convert
from publisher.domain.errors import NotDeployed
from publisher.service._shared import PUBLISH_REFUSED, DsNameTaken, ProjectMissing, ReadBackMismatch, T
from publisher.service.drift_check import _sub_workflow_codes, _upstream_task_codes

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Outcome:
    status: Literal["success", "failed", "skipped_unchanged"]
    error_code: int | None = None
    error_message: str | None = None
    #: refused at the approval check: nothing was asked of DS
    refused: bool = False


@dataclass(frozen=True)
class _DsState:
    """What DS holds for the workflow before this publish changes it."""

    dag: DagData
    schedule: Schedule | None


@dataclass
class _Run:
    """One attempt at one publish record: the DS calls, with a log line per step."""

    deps: Deps
    record: Row[Any]
    engine: Row[Any] | None = None
    codes: dict[int, int] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    step: str = "start"
    workflow_code: int | None = None
    engine_version: int | None = None
    project_code: int | None = None
    release_state: Literal["ONLINE", "OFFLINE"] | None = None
    content_hash: str | None = None
    engine_update: dict[str, Any] = field(default_factory=dict)
    #: the release state the publish means DS to hold at its end, and whether the schedule is to be online then
    intended: Literal["ONLINE", "OFFLINE"] | None = None
    intended_schedule: bool = False
    #: after a failure: DS does not hold (or may not hold: unreadable) the state the workflow had or was to get
    diverged: bool = False
    #: the request ids an approval may name: this record's and those of the records it retries
    approved_request_ids: list[uuid.UUID] = field(default_factory=list)
    #: the operation an approval may name (a republish ``deploy`` repeats a deploy or online: that one's)
    approved_operation: str | None = None
    #: task id -> DS task code of every task of the definition DS holds, once a deploy/online has confirmed it
    #: (``publish.completed`` carries them); ``None`` otherwise
    deployed_task_codes: dict[int, int] | None = None
    #: a first deploy's DS lookup of its name (``_refuse_a_name_taken``), asked while the task codes are fetched
    name_lookup: tuple[str, asyncio.Task[DagData]] | None = None

    def note(self, line: str) -> None:
        self.lines.append(line)

    def _check_approval(self) -> None:
        """Before any DolphinScheduler call: the definition service approved exactly this snapshot for this request
        (``common.approvals``). Otherwise the record fails with the reason, counted and alerted."""
        self.step = "approval check"
        record = self.record
        try:
            approved = check_approval(
                self.deps.approvals,
                record.approval,
                request_ids=self.approved_request_ids or [record.request_id],
                workflow_id=int(record.workflow_id),
                version_id=int(record.version_id),
                operation=self.approved_operation or record.operation,
                snapshot=StructureSnapshot.model_validate(record.snapshot),
            )
        except PublishNotApproved as exc:
            PUBLISH_REFUSED.labels(record.operation, exc.reason).inc()
            logger.warning(
                "publish record %d refused: %s",
                record.id,
                exc.detail,
                extra={"record_id": int(record.id), "workflow_id": int(record.workflow_id), "reason": exc.reason},
            )
            raise
        self.note(f"approved by the definition service: version {record.version_no}, content hash {approved[:12]}")

    async def perform(self) -> _Outcome:
        engine = self.engine
        if self.record.operation == PublishOperation.OFFLINE.value:
            self.intended = "OFFLINE"
        elif self.record.operation == PublishOperation.ONLINE.value:
            self.intended, self.intended_schedule = "ONLINE", bool(engine is not None and engine.schedule_online)
        else:  # a deploy keeps the release state (refined once DS has been read)
            self.intended = "ONLINE" if engine is not None and engine.release_state == "ONLINE" else "OFFLINE"
            self.intended_schedule = self.intended == "ONLINE" and bool(engine is not None and engine.schedule_online)
        try:
            self._check_approval()
        except PublishNotApproved as exc:
            # refused: DolphinScheduler is not called at all, not even read
            return replace(self._failed(exc), refused=True)
        try:
            if self.record.operation == PublishOperation.OFFLINE.value:
                return await self._offline()
            return await self._deploy_or_online(online=self.record.operation == PublishOperation.ONLINE.value)
        except PlatformError as exc:
            outcome = self._failed(exc)
        except Exception as exc:  # a bug must not leave the record running forever
            logger.exception("publish record %d failed unexpectedly at %s", self.record.id, self.step)
            self.note(f"FAILED at {self.step}: internal error {type(exc).__name__}")
            outcome = _Outcome("failed", None, f"internal error at {self.step}: {type(exc).__name__}")
        await self._read_ds_after_failure()
        return outcome

    def _failed(self, exc: PlatformError) -> _Outcome:
        ds_code = exc.ds_code if isinstance(exc, DolphinApiError | DolphinTransientApiError) else None
        message = exc.detail
        self.note(f"FAILED at {self.step}: {message}")
        if self.workflow_code is not None and self.project_code is not None and not self.engine_update:
            # remember the DS code (e.g. created, then the read-back failed); not the hash: it was not confirmed
            self.engine_update = {"workflow_code": self.workflow_code, "project_code": self.project_code}
        return _Outcome("failed", ds_code, message)

    async def _read_ds_after_failure(self) -> None:
        """What DS holds now, read back: the record, the event and the workflow tell that, not what was hoped
        for. ``diverged`` when it is not the intended state (or cannot be read): the reconciler takes over."""
        engine = self.engine
        code = self.workflow_code or (int(engine.workflow_code) if engine is not None else None)
        project = self.project_code or (int(engine.project_code) if engine is not None else None)
        self.release_state = None
        if code is None or project is None or self.intended is None:
            return  # nothing in DS to look at: the workflow was never created there
        self.workflow_code, self.project_code = code, project
        self.step = "REST read back after the failure"
        try:
            dag = await self.deps.rest.get_workflow_definition(project, code)
            schedule = await self.deps.rest.get_schedule_of_workflow(project, code)
        except DolphinNotFound:
            self.diverged = engine is not None
            self.note(f"read back after the failure: workflow {code} does not exist in DolphinScheduler")
            return
        except PlatformError as exc:
            self.diverged = True
            self.note(f"read back after the failure failed ({exc.code}): what DolphinScheduler holds is unknown")
            return
        state = dag.workflow_definition.release_state
        held: Literal["ONLINE", "OFFLINE"] | None = None if state is None else state.value
        schedule_online = schedule is not None and schedule.release_state is ReleaseState.ONLINE
        self.release_state = held
        self.diverged = held != self.intended or (self.intended_schedule and not schedule_online)
        holds = f"DolphinScheduler now holds it {held}" + (
            "" if schedule is None else f" (schedule {'online' if schedule_online else 'offline'})"
        )
        if self.diverged:
            wanted = self.intended + (" with its schedule online" if self.intended_schedule else "")
            self.note(f"read back after the failure: {holds}; intended {wanted}: the reconciler will restore it")
        else:
            self.note(f"read back after the failure: {holds}, as intended")

    async def _ds(self, step: str, call: Callable[[], Awaitable[T]]) -> T:
        """One DS call that changes something, retried in place while it fails for a reason that may pass (5xx,
        timeout, gateway unreachable, DS busy): every such call is idempotent (see the module docstring)."""
        r = self.deps.retries

        def on_retry(exc: BaseException, failed: int, delay: float) -> None:
            code = exc.code if isinstance(exc, PlatformError) else type(exc).__name__
            self.note(f"{step}: attempt {failed}/{r.ds_attempts} failed ({code}); retrying in {delay:.1f}s")

        self.step = step
        retries = retrying(
            attempts=r.ds_attempts,
            initial_s=r.ds_initial_s,
            max_s=r.ds_max_s,
            retry_on=lambda exc: isinstance(exc, TransientError),
            on_retry=on_retry,
        )
        async for attempt in retries:
            with attempt:
                return await call()
        raise AssertionError("unreachable")  # pragma: no cover

    # -- offline --------------------------------------------------------------------------------------------------

    async def _offline(self) -> _Outcome:
        rest = self.deps.rest
        engine = self.engine
        if engine is None:
            raise NotDeployed(f"workflow {self.record.workflow_id} was never deployed to DolphinScheduler")
        self.project_code, self.workflow_code = int(engine.project_code), int(engine.workflow_code)
        project_code, code = self.project_code, self.workflow_code
        await self._ds("REST release OFFLINE", lambda: rest.release_workflow(project_code, code, ReleaseState.OFFLINE))
        self.note(f"REST release OFFLINE of workflow {self.workflow_code} (DS also takes its schedule offline)")
        dag = await self._read_back()
        self._expect_state(dag, ReleaseState.OFFLINE)
        self.engine_update = {
            "workflow_code": self.workflow_code,
            "project_code": self.project_code,
            "release_state": "OFFLINE",
            "schedule_online": False,
        }
        return _Outcome("success")

    # -- deploy / online ------------------------------------------------------------------------------------------

    async def _deploy_or_online(self, *, online: bool) -> _Outcome:
        snapshot = StructureSnapshot.model_validate(self.record.snapshot)
        project_code = self.project_code = await self._ensure_project()
        if self.engine is None:
            # a workflow new to DS: whether its name is taken is a read that depends on nothing but the project, so
            # it is asked now and answered while the codes are fetched (one DS round trip less per first deploy);
            # the check itself stays where it was, before the upsert
            name = snapshot.workflow_name
            lookup = asyncio.create_task(self.deps.rest.get_workflow_definition_by_name(project_code, name))
            self.name_lookup = (name, lookup)
        try:
            return await self._deploy(snapshot, project_code, online=online)
        finally:
            await self._drop_name_lookup()

    async def _drop_name_lookup(self) -> None:
        """A lookup not used (the publish failed before its upsert): cancelled, its outcome consumed."""
        if self.name_lookup is not None:
            _, lookup = self.name_lookup
            self.name_lookup = None
            lookup.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await lookup

    async def _deploy(self, snapshot: StructureSnapshot, project_code: int, *, online: bool) -> _Outcome:
        deps = self.deps
        upstream_codes = await _upstream_task_codes(self.deps, snapshot)
        codes = await self._task_codes(snapshot)
        datasource_ids = await self._datasources(snapshot)
        self.step = "convert"
        sub_codes = await _sub_workflow_codes(self.deps, snapshot)
        defn = convert(
            snapshot,
            codes,
            datasource_ids=datasource_ids,
            upstream_task_codes=upstream_codes,
            sub_workflow_codes=sub_codes,
        )
        self.content_hash = defn.content_hash
        self.note(f"converted {len(snapshot.tasks)} tasks, {len(snapshot.edges)} edges: hash {defn.content_hash[:12]}")
        engine = self.engine
        unchanged = (
            engine is not None
            and engine.last_deployed_hash == defn.content_hash
            and int(engine.project_code) == project_code
        )
        if unchanged and not online:
            assert engine is not None
            self.workflow_code, self.engine_version = int(engine.workflow_code), engine.engine_version
            self.release_state = engine.release_state
            self.note(
                f"unchanged since version id {engine.last_deployed_version_id} (DS version {engine.engine_version}): "
                "nothing sent"
            )
            self.engine_update = {
                "workflow_code": int(engine.workflow_code),
                "project_code": project_code,
                "failure_strategy": defn.failure_strategy,
            }
            self._deployed(snapshot, defn)  # the same hash: DS holds these codes
            return _Outcome("skipped_unchanged")

        before = await self._ds_state(engine, project_code)
        # The release state to keep: DS's, or the last one we confirmed (an interrupted deploy may have left DS
        # offline); the platform's own offline operation is how a workflow goes offline.
        was_online = before is not None and before.dag.workflow_definition.release_state is ReleaseState.ONLINE
        schedule_was_online = before is not None and (
            before.schedule is not None and before.schedule.release_state is ReleaseState.ONLINE
        )
        if engine is not None and before is not None:
            was_online = was_online or engine.release_state == "ONLINE"
            schedule_was_online = schedule_was_online or bool(engine.schedule_online)
        end_online = online or was_online
        self.intended = "ONLINE" if end_online else "OFFLINE"
        self.intended_schedule = end_online and (defn.schedule_json is not None or schedule_was_online)

        if unchanged and before is not None:
            code = int(before.dag.workflow_definition.code)
            self.note("definition unchanged since the last deploy: not re-sent")
        else:
            code = await self._create_or_update(defn, replaces=before)
        self.workflow_code = code
        schedule_id: int | None = before.schedule.id if before is not None and before.schedule else None
        schedule_online = False
        if end_online:
            await self._ds(
                "REST release ONLINE", lambda: deps.rest.release_workflow(project_code, code, ReleaseState.ONLINE)
            )
            self.note(
                f"REST release ONLINE of workflow {code}"
                + ("" if online else " (restoring the ONLINE state it had before the deploy)")
            )
            same_workflow = before is not None and before.dag.workflow_definition.code == code
            current = before.schedule if before is not None and same_workflow else None
            schedule_id, schedule_online = await self._sync_schedule(
                defn, current, offlined=not (unchanged and before is not None), was_online=schedule_was_online
            )
        dag = await self._read_back()
        self._confirm(dag, defn)
        self._expect_state(dag, ReleaseState.ONLINE if end_online else ReleaseState.OFFLINE)
        self.engine_update = {
            "workflow_code": code,
            "project_code": project_code,
            "last_deployed_hash": defn.content_hash,
            "last_deployed_version_id": int(self.record.version_id),
            "engine_version": self.engine_version,
            "release_state": self.release_state,
            "schedule_id": schedule_id,
            "schedule_online": schedule_online,
            "failure_strategy": defn.failure_strategy,
        }
        self._deployed(snapshot, defn)
        return _Outcome("success")

    def _deployed(self, snapshot: StructureSnapshot, defn: DolphinWorkflowDefinition) -> None:
        """DS holds ``defn``: its codes of the snapshot's tasks (DEPENDENT nodes are not platform tasks)."""
        self.deployed_task_codes = {t.task_id: defn.task_codes[t.task_id] for t in snapshot.tasks}

    async def _ensure_project(self) -> int:
        deps = self.deps
        cache = deps.projects
        if cache.code is not None:
            return cache.code
        async with cache.lock:
            if cache.code is None:
                t = deps.target
                await self._ds(
                    "gateway createOrGrantProject",
                    lambda: deps.gateway.create_or_grant_project(
                        t.user, t.project_name, "managed by the workflow platform"
                    ),
                )
                project = await self._ds(
                    "gateway queryProjectByName", lambda: deps.gateway.query_project_by_name(t.user, t.project_name)
                )
                if project is None:
                    raise ProjectMissing(f"DolphinScheduler has no project {t.project_name!r} after creating it")
                async with unit_of_work(deps.sessions) as s:
                    await repo.set_project_code(s, t.environment, t.project_name, project.code)
                cache.code = project.code
                self.note(f"project {t.project_name!r} ensured: code {project.code}")
        assert cache.code is not None
        return cache.code

    async def _task_codes(self, snapshot: StructureSnapshot) -> dict[int, int]:
        # DEPENDENT nodes (issue 20) keep a stable code like tasks, under their (negative) node id
        task_ids = [d.node_id for d in snapshot.external_dependencies] + [t.task_id for t in snapshot.tasks]
        batches = code_batches(codes_needed(task_ids, self.codes))
        fresh: list[int] = []
        for call, size in enumerate(batches, 1):  # DS gives at most 100 codes per call (MAX_CODES_PER_CALL)
            step = f"gateway genTaskCodeList({size}), call {call} of {len(batches)}"
            fresh += await self._ds(step, functools.partial(self.deps.gateway.gen_task_code_list, size))
        mapping, new = assign_codes(task_ids, self.codes, fresh)
        if new:
            # persisted before DS sees them: a re-run after a crash reuses the same codes
            async with unit_of_work(self.deps.sessions) as s:
                await repo.add_task_codes(s, int(self.record.workflow_id), new)
            self.codes.update(new)
        calls = f" ({len(batches)} calls)" if len(batches) > 1 else ""
        self.note(f"task codes: {len(mapping) - len(new)} reused, {len(new)} new from DS genTaskCodeList{calls}")
        return mapping

    async def _datasources(self, snapshot: StructureSnapshot) -> dict[tuple[str, str], int]:
        wanted = sorted({ds for t in snapshot.tasks for ds in datasources_of(t.params)})
        ids: dict[tuple[str, str], int] = {}
        for name, ds_type in wanted:
            source = await self._ds(
                f"gateway getDatasource {name!r}",
                functools.partial(self.deps.gateway.get_datasource, name, ds_type.upper()),
            )
            ids[(name, ds_type)] = source.id
        if ids:
            self.note("datasources: " + ", ".join(f"{n} ({t}) = {i}" for (n, t), i in ids.items()))
        return ids

    async def _ds_state(self, engine: Row[Any] | None, project_code: int) -> _DsState | None:
        if engine is None or int(engine.project_code) != project_code:
            return None
        code = int(engine.workflow_code)
        self.step = "REST read workflow before the publish"
        try:
            dag = await self.deps.rest.get_workflow_definition(project_code, code)
        except DolphinNotFound:
            self.note(f"workflow {code} no longer exists in DS: creating it again")
            return None
        self.step = "REST read schedule before the publish"
        schedule = await self.deps.rest.get_schedule_of_workflow(project_code, code)
        wf = dag.workflow_definition
        self.note(
            f"DS before: workflow {code} version {wf.version} {wf.release_state}"
            + (f", schedule {schedule.id} {schedule.release_state}" if schedule else ", no schedule")
        )
        return _DsState(dag, schedule)

    async def _create_or_update(self, defn: DolphinWorkflowDefinition, *, replaces: _DsState | None) -> int:
        if replaces is not None and replaces.dag.workflow_definition.name != defn.name:
            return await self._rename(defn, replaces)
        if replaces is None:
            await self._refuse_a_name_taken(defn.name)
        t = self.deps.target
        code = await self._ds(
            "gateway createOrUpdateWorkflow",
            lambda: self.deps.gateway.create_or_update_workflow(
                user_name=t.user,
                project_name=t.project_name,
                name=defn.name,
                description=defn.description,
                global_params=defn.global_params,
                task_relation_json=defn.task_relation_json,
                task_definition_json=defn.task_definition_json,
                timeout_minutes=defn.timeout,
                worker_group=t.worker_group,
                release_state=ReleaseState.OFFLINE,
                execution_type=WorkflowExecutionType(defn.execution_type),
            ),
        )
        if replaces is not None and replaces.dag.workflow_definition.release_state is ReleaseState.ONLINE:
            self.note(f"gateway createOrUpdateWorkflow: workflow {code} updated (DS took it and its schedule offline)")
        else:
            self.note(f"gateway createOrUpdateWorkflow: workflow {code} {'updated' if replaces else 'created'}")
        return code

    async def _refuse_a_name_taken(self, name: str) -> None:
        """Before the first upsert of this workflow: a DS workflow of this name that another platform workflow owns
        is never taken over. One that no platform workflow owns (this workflow's own interrupted first deploy) is
        the one the upsert updates."""
        p = self.project_code
        assert p is not None
        dag: DagData | None = None
        early, self.name_lookup = self.name_lookup, None
        if early is not None and early[0] == name:
            self.step = "REST query-by-name"
            try:
                dag = await early[1]
            except DolphinNotFound:
                return
            except Exception as exc:  # asked again below, with the in-place retries of every DS call
                why = exc.code if isinstance(exc, PlatformError) else type(exc).__name__
                self.note(f"REST query-by-name: the early lookup failed ({why}); asking again")
        if dag is None:
            try:
                dag = await self._ds(
                    "REST query-by-name", lambda: self.deps.rest.get_workflow_definition_by_name(p, name)
                )
            except DolphinNotFound:
                return
        code = int(dag.workflow_definition.code)
        async with self.deps.sessions() as s:
            owner = await repo.workflow_of_engine_code(s, code)
        if owner is not None and owner != int(self.record.workflow_id):
            raise DsNameTaken(
                f"DolphinScheduler workflow {code} named {name!r} belongs to platform workflow {owner} (its name "
                "before a rename, until it is deployed again): rename this workflow, or deploy the other one first",
                workflow_code=code,
                owner_workflow_id=owner,
            )

    async def _rename(self, defn: DolphinWorkflowDefinition, replaces: _DsState) -> int:
        """The workflow was renamed: update the same DS workflow by its code over REST. The gateway's upsert goes by
        name, so it would create a second DS workflow and leave the first one running on its schedule."""
        rest, p = self.deps.rest, self.project_code
        assert p is not None
        old = replaces.dag.workflow_definition
        if old.release_state is ReleaseState.ONLINE:  # DS updates only an offline workflow
            await self._ds(
                "REST release OFFLINE before the rename",
                lambda: rest.release_workflow(p, old.code, ReleaseState.OFFLINE),
            )
        await self._ds(
            "REST update workflow (rename)",
            lambda: rest.update_workflow_definition(
                p,
                old.code,
                name=defn.name,
                task_definition_json=defn.task_definition_json,
                task_relation_json=defn.task_relation_json,
                description=defn.description,
                global_params=defn.global_params,
                timeout_minutes=defn.timeout,
                execution_type=WorkflowExecutionType(defn.execution_type),
                release_state=ReleaseState.OFFLINE,
            ),
        )
        self.note(
            f"REST update of workflow {old.code}: renamed {old.name!r} to {defn.name!r}"
            + (" (DS took it and its schedule offline)" if old.release_state is ReleaseState.ONLINE else "")
        )
        return int(old.code)

    async def _sync_schedule(
        self, defn: DolphinWorkflowDefinition, current: Schedule | None, *, offlined: bool, was_online: bool
    ) -> tuple[int | None, bool]:
        """Make DS's schedule match the snapshot; put it online when the snapshot has one or it was online.

        Returns ``(schedule id, online)``. ``offlined``: the deploy just took the schedule offline.
        """
        rest, t, p = self.deps.rest, self.deps.target, self.project_code
        assert p is not None
        assert self.workflow_code is not None
        online_now = current is not None and current.release_state is ReleaseState.ONLINE and not offlined
        if defn.schedule_json is None:
            if current is None:
                return None, False
            if was_online and not online_now:
                schedule_id = current.id
                await self._ds("REST schedule online", lambda: rest.online_schedule(p, schedule_id))
                self.note(f"schedule {current.id} put back online (it was online before)")
                return current.id, True
            return current.id, online_now
        spec = _spec(defn.schedule_json)
        kwargs: dict[str, Any] = {
            "failure_strategy": FailureStrategy(defn.failure_strategy),
            "worker_group": t.worker_group,
            "tenant_code": t.tenant,
        }
        if current is None:
            code = self.workflow_code
            current = await self._ds("REST create schedule", lambda: rest.create_schedule(p, code, spec, **kwargs))
            self.note(
                f"schedule {current.id} created ({spec.crontab}, {spec.timezone_id}, failure strategy "
                f"{defn.failure_strategy})"
            )
            online_now = False
        elif not _same_schedule(current, spec, FailureStrategy(defn.failure_strategy)):
            schedule_id = current.id
            if online_now:
                await self._ds("REST schedule offline", lambda: rest.offline_schedule(p, schedule_id))
                online_now = False
            await self._ds("REST update schedule", lambda: rest.update_schedule(p, schedule_id, spec, **kwargs))
            self.note(
                f"schedule {current.id} updated ({spec.crontab}, {spec.timezone_id}, failure strategy "
                f"{defn.failure_strategy})"
            )
        if not online_now:
            schedule_id = current.id
            await self._ds("REST schedule online", lambda: rest.online_schedule(p, schedule_id))
            self.note(f"schedule {current.id} online")
        return current.id, True

    async def _read_back(self) -> DagData:
        assert self.project_code is not None
        assert self.workflow_code is not None
        self.step = "REST read back"
        dag = await self.deps.rest.get_workflow_definition(self.project_code, self.workflow_code)
        wf = dag.workflow_definition
        self.engine_version = wf.version
        self.release_state = None if wf.release_state is None else wf.release_state.value
        self.note(
            f"read back: workflow {wf.code} version {wf.version} {wf.release_state}, "
            f"{len(dag.task_definition_list)} tasks, {len(dag.workflow_task_relation_list)} relations"
        )
        return dag

    def _confirm(self, dag: DagData, defn: DolphinWorkflowDefinition) -> None:
        sent_codes = set(defn.task_codes.values())
        got_codes = {t.code for t in dag.task_definition_list}
        sent_edges = {(int(r["preTaskCode"]), int(r["postTaskCode"])) for r in json.loads(defn.task_relation_json)}
        problems = []
        if got_codes != sent_codes:
            problems.append(f"task codes differ ({len(got_codes ^ sent_codes)} not matching)")
        if dag.edges() != sent_edges:
            problems.append(f"relations differ ({len(dag.edges() ^ sent_edges)} not matching)")
        if dag.workflow_definition.name != defn.name:
            problems.append(f"name is {dag.workflow_definition.name!r}")
        if problems:
            raise ReadBackMismatch(f"workflow {self.workflow_code} read back from DS: " + "; ".join(problems))

    def _expect_state(self, dag: DagData, state: ReleaseState) -> None:
        got = dag.workflow_definition.release_state
        if got is not state:
            raise ReadBackMismatch(f"workflow {self.workflow_code} is {got} in DS, expected {state.value}")


def _spec(schedule_json: str) -> ScheduleSpec:
    raw = json.loads(schedule_json)
    start, end = parse_ds_datetime(raw["startTime"]), parse_ds_datetime(raw["endTime"])
    assert start is not None
    assert end is not None
    return ScheduleSpec(start_time=start, end_time=end, crontab=raw["crontab"], timezone_id=raw["timezoneId"])


def _same_schedule(current: Schedule, spec: ScheduleSpec, failure_strategy: FailureStrategy) -> bool:
    return (
        current.failure_strategy is failure_strategy
        and " ".join(current.crontab.split()) == spec.crontab
        and (current.timezone_id or "UTC") == spec.timezone_id
        and current.start_time == spec.start_time
        and current.end_time == spec.end_time
    )
