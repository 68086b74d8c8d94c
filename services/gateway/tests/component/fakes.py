"""In-memory stand-ins for the four services, at the HTTP level: small FastAPI apps that answer the internal APIs of
docs/api-contracts.md §1–4 (paths, query parameters, shapes, status codes, problem JSON), mounted behind the
gateway's real httpx clients with ``httpx.ASGITransport``. Every request they receive is recorded."""

import asyncio
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import httpx
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from common.errors import Conflict, InvalidTransition, NotFound, StaleVersion, ValidationFailed
from common.http import install_problem_handlers
from common.identity import InvalidToken, Verifier, trusted_keys_from
from common.settings import ServiceSettings

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

#: WorkflowSummary (docs/api-contracts.md §1)
SUMMARY_FIELDS = (
    *("id", "name", "description", "status", "publish_status", "workflow_code", "project_code", "release_state"),
    *("current_version_no", "approved", "last_published_version_no", "last_execution_state", "last_execution_at"),
    *("needs_attention", "attention_reason", "task_count", "updated_at", "updated_by"),
)


#: the fields of an execution in a workflow list item
EXECUTION_FIELDS = ("instance_id", "state", "start_time", "end_time", "duration")


#: the identity audience of each stand-in (the service's name)
AUDIENCES = {
    "definition": "definition",
    "publisher": "publisher",
    "history": "history-sync",
    "lineage": "lineage-resolver",
}


async def _actor(request: Request) -> str | None:
    """The verified actor of the call (``None`` when its token did not verify)."""
    actor: str | None = request.state.actor
    return actor


Actor = Annotated[str | None, Depends(_actor)]


def _page(items: list[dict[str, Any]], page: int, page_size: int) -> dict[str, Any]:
    start = (page - 1) * page_size
    return {"items": items[start : start + page_size], "total": len(items), "page": page, "page_size": page_size}


@dataclass
class Seen:
    service: str
    method: str
    path: str
    query: dict[str, str]
    #: the actor and roles of the call's verified identity token (``None``: none, or one that did not verify)
    actor: str | None
    request_id: str | None
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    roles: tuple[str, ...] | None = None


@dataclass
class Control:
    """Per-service fault switches."""

    delay_s: float = 0.0
    #: answer this raw (non-problem) status with an HTML body instead of the real answer
    raw_error: int | None = None


#: DS 3.4.x's answer to a start of an OFFLINE workflow
OFFLINE_START_MESSAGE = "start workflow instance error:The workflowDefinition should be online"


@dataclass
class FakeServices:
    seen: list[Seen] = field(default_factory=list)
    control: dict[str, Control] = field(
        default_factory=lambda: {n: Control() for n in ("definition", "publisher", "history", "lineage")}
    )
    tasks: dict[int, dict[str, Any]] = field(default_factory=dict)
    workflows: dict[int, dict[str, Any]] = field(default_factory=dict)
    versions: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    executions: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    #: workflow id -> history-sync's task metrics entries (``/internal/workflows/task-metrics``)
    task_metrics: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    deployed: set[int] = field(default_factory=set)
    #: run-now answers by idempotency key
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: deployed workflows whose DS start fails (batch run reports them as failed)
    offline_in_ds: set[int] = field(default_factory=set)
    #: workflow id -> the publisher's restore view (a failed publish left DS other than intended)
    restores: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: task id -> (upstream ids, downstream ids)
    deps: dict[int, tuple[list[int], list[int]]] = field(default_factory=dict)
    #: task id -> (tables read, tables written), lineage-resolver's ``/internal/task-tables``
    tables: dict[int, tuple[list[str], list[str]]] = field(default_factory=dict)
    #: lineage-resolver's answers of the table queries, as the test sets them: ``("lineage"|"affected", table)`` ->
    #: the answer (a table missing here is unknown: 404 ``unknown-table``); ``"links"``: ``/internal/task-links``
    table_answers: dict[Any, dict[str, Any]] = field(default_factory=dict)
    #: lineage filter pages are cut at this many ids whatever ``limit`` says (to exercise keyset paging)
    lineage_page_cap: int = 1000
    #: bodies lineage-resolver's ``/internal/lineage/events`` received
    lineage_events: list[dict[str, Any]] = field(default_factory=list)
    #: task id -> (OpenLineage job namespace, name)
    #: pattern rule id -> rule
    patterns: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: answer tasks without ``workflow_id``/``workflow_name`` (owners then come from /internal/task-owners only)
    tasks_without_owner: bool = False
    _ids: dict[str, int] = field(default_factory=dict)

    def reset(self) -> None:
        """Forget every seeded and created object and every recorded request (the apps keep serving)."""
        for store in (self.seen, self.tasks, self.workflows, self.versions, self.records, self.executions):
            store.clear()
        self.task_metrics.clear()
        self.restores.clear()
        self.deployed.clear()
        self.runs.clear()
        self.offline_in_ds.clear()
        self.deps.clear()
        self.tables.clear()
        self.lineage_events.clear()
        self.patterns.clear()
        self.table_answers.clear()
        self._ids.clear()

    def next_id(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    def calls(self, service: str, path: str | None = None) -> list[Seen]:
        return [s for s in self.seen if s.service == service and (path is None or s.path == path)]

    # ---------------------------------------------------------------------------------------------- seeding helpers

    def add_task(self, name: str, *, workflow_id: int | None = None, **extra: Any) -> dict[str, Any]:
        tid = self.next_id("task")
        task = {
            "id": tid,
            "name": name,
            "task_type": "SHELL",
            "description": "",
            "params": {"kind": "SHELL", "script": f"echo {name}"},
            "worker_group": "default",
            "owner": None,
            "revision": 1,
            "workflow_id": None,
            "workflow_name": None,
            "ds_task_code": None,
            "openlineage_job": None,
            "created_by": "seed",
            "updated_by": "seed",
            "created_at": NOW.isoformat(),
            "updated_at": NOW.isoformat(),
            **extra,
        }
        self.tasks[tid] = task
        if workflow_id is not None:
            self._own(tid, workflow_id)
        return task

    def add_workflow(
        self, name: str, *, task_ids: Sequence[int] = (), status: str = "draft", codes: tuple[int, int] | None = None
    ) -> dict[str, Any]:
        wid = self.next_id("workflow")
        wf = {
            "id": wid,
            "name": name,
            "description": "",
            "status": status,
            "publish_status": "published" if codes else "never_published",
            "workflow_code": codes[1] if codes else None,
            "project_code": codes[0] if codes else None,
            "release_state": None,
            "current_version_no": 1,
            "approved": status != "draft",
            "last_published_version_no": 1 if codes else None,
            "last_execution_state": None,
            "last_execution_at": None,
            "needs_attention": False,
            "attention_reason": None,
            "task_count": len(task_ids),
            "updated_at": (NOW + timedelta(minutes=wid)).isoformat(),
            "updated_by": "seed",
            "tasks": [],
            "edges": [],
            "entry_task_ids": list(task_ids),
            "exit_task_ids": list(task_ids),
            "schedule": None,
            "global_params": [],
            "execution_type": "PARALLEL",
            "timeout_minutes": 0,
            "allowed_actions": _allowed(status),
            "allowed_publish_operations": ["deploy"],
            "attention_details": None,
            "created_by": "seed",
            "created_at": NOW.isoformat(),
        }
        self.workflows[wid] = wf
        for t in task_ids:
            self._own(t, wid)
        self._new_version(wid, "manual_edit", "seed")
        return wf

    def _own(self, task_id: int, workflow_id: int) -> None:
        wf = self.workflows.get(workflow_id)
        self.tasks[task_id]["workflow_id"] = workflow_id
        self.tasks[task_id]["workflow_name"] = wf["name"] if wf else f"wf-{workflow_id}"
        if wf is not None:
            t = self.tasks[task_id]
            wf["tasks"].append(
                {
                    "task_id": task_id,
                    "name": t["name"],
                    "task_type": t["task_type"],
                    "description": t["description"],
                    "params": t["params"],
                    "node_attrs": {},
                    "upstream_count": 0,
                    "downstream_count": 0,
                }
            )
            wf["task_count"] = len(wf["tasks"])

    def _new_version(self, wid: int, trigger: str, actor: str) -> None:
        versions = self.versions.setdefault(wid, [])
        wf = self.workflows[wid]
        no = len(versions) + 1
        versions.append(
            {
                "id": self.next_id("version"),
                "version_no": no,
                "trigger_source": trigger,
                "created_by": actor,
                "created_at": NOW.isoformat(),
                "content_hash": f"h{wid}-{no}",
                "summary": f"version {no}",
                "change_summary": {
                    "is_initial": no == 1,
                    **{key: [] for key in ("tasks_added", "tasks_removed", "edges_added", "edges_removed")},
                    **{"tasks_changed": [], "schedule": None, "global_params": None, "workflow_fields": []},
                    "summary": f"version {no}",
                },
                "structure_snapshot": {
                    "workflow_id": wid,
                    "workflow_name": wf["name"],
                    "description": wf["description"],
                    "tasks": [
                        {k: t[k] for k in ("task_id", "name", "task_type", "description", "params", "node_attrs")}
                        for t in wf["tasks"]
                    ],
                    **{k: wf[k] for k in ("edges", "schedule", "global_params", "execution_type", "timeout_minutes")},
                    **{k: wf[k] for k in ("entry_task_ids", "exit_task_ids")},
                },
            }
        )
        self.workflows[wid]["current_version_no"] = no

    def add_executions(self, workflow_id: int, count: int, *, state: str = "SUCCESS") -> None:
        self.executions[workflow_id] = [
            {
                "instance_id": 1000 * workflow_id + i,
                "state": state if i % 3 else "FAILURE",
                "start_time": (NOW - timedelta(hours=i)).isoformat(),
                "end_time": (NOW - timedelta(hours=i) + timedelta(minutes=5)).isoformat(),
                "duration": "5m",
                "command_type": "SCHEDULER",
                "ds_command_type": "SCHEDULER",
                "run_times": 1,
                "host": "worker-1",
                "engine_version": 1,
                "platform_version_id": 1,
            }
            for i in range(count)
        ]

    def add_record(self, workflow_id: int, *, status: str = "failed") -> dict[str, Any]:
        rid = self.next_id("record")
        rec = {
            "id": rid,
            "request_id": str(uuid.uuid4()),
            "workflow_id": workflow_id,
            "version_id": 1,
            "version_no": 1,
            "target_engine": "dolphinscheduler",
            "operation": "deploy",
            "status": status,
            "engine_workflow_code": None,
            "engine_version": None,
            "project_code": None,
            "release_state": None,
            "content_hash": None,
            "log": "",
            "operator": "seed",
            "retry_of": None,
            "error_code": 50001 if status == "failed" else None,
            "error_message": "DS said no" if status == "failed" else None,
            "attempts": 1,
            "created_at": NOW.isoformat(),
            "finished_at": NOW.isoformat(),
        }
        self.records[rid] = rec
        return rec

    def add_restore(self, workflow_id: int, record_id: int) -> dict[str, Any]:
        """DS left OFFLINE by the failed ``online`` of ``record_id``: the reconciler is restoring it."""
        view = {
            "workflow_id": workflow_id,
            "status": "restoring",
            "record_id": record_id,
            "intended_release_state": "ONLINE",
            "ds_release_state": "OFFLINE",
            "attempts": 0,
            "next_attempt_at": NOW.isoformat(),
            "last_error": "DolphinScheduler POST release answered HTTP 503",
            "attempt_record_id": None,
            "requested_by": None,
            "cancelled_by": None,
            "created_at": NOW.isoformat(),
            "updated_at": NOW.isoformat(),
        }
        self.restores[workflow_id] = view
        return view

    # ------------------------------------------------------------------------------------------------------- plumbing

    def transports(self) -> dict[str, httpx.AsyncBaseTransport]:
        return {
            "definition": httpx.ASGITransport(app=self._definition()),
            "publisher": httpx.ASGITransport(app=self._publisher()),
            "history": httpx.ASGITransport(app=self._history()),
            "lineage": httpx.ASGITransport(app=self._lineage()),
        }

    def _app(self, service: str) -> FastAPI:
        app = FastAPI()
        install_problem_handlers(app)
        fake = self
        # the identity the gateway sends, verified as a service verifies it (the session's test keys)
        verifier = Verifier(AUDIENCES[service], trusted_keys_from(ServiceSettings(service_name=service)))

        @app.middleware("http")
        async def record(request: Request, call_next: Any) -> Any:
            raw = await request.body()
            authorization = request.headers.get("authorization", "")
            try:
                identity = verifier.verify(authorization.removeprefix("Bearer "))
            except InvalidToken:
                identity = None
            request.state.actor = identity.actor if identity is not None else None
            fake.seen.append(
                Seen(
                    service=service,
                    method=request.method,
                    path=request.url.path,
                    query=dict(request.query_params),
                    actor=request.state.actor,
                    request_id=request.headers.get("x-request-id"),
                    body=json.loads(raw) if raw else None,
                    headers=dict(request.headers),
                    roles=identity.roles if identity is not None else None,
                )
            )
            ctl = fake.control[service]
            if ctl.delay_s:
                await asyncio.sleep(ctl.delay_s)
            if ctl.raw_error is not None:
                return HTMLResponse("<html>upstream proxy error at http://10.0.0.7:8101</html>", ctl.raw_error)
            return await call_next(request)

        return app

    # ----------------------------------------------------------------------------------------------------- definition

    def _definition(self) -> FastAPI:
        app = self._app("definition")
        fake = self

        def task_or_404(task_id: int) -> dict[str, Any]:
            if task_id not in fake.tasks:
                raise NotFound(f"task {task_id} does not exist", task_id=task_id)
            return fake.tasks[task_id]

        def wf_or_404(workflow_id: int) -> dict[str, Any]:
            if workflow_id not in fake.workflows:
                raise NotFound(f"workflow {workflow_id} does not exist", workflow_id=workflow_id)
            return fake.workflows[workflow_id]

        def page_of(items: list[dict[str, Any]], page: int, page_size: int) -> dict[str, Any]:
            return _page(items, page, page_size)

        def summary(wf: dict[str, Any]) -> dict[str, Any]:
            return {k: wf[k] for k in SUMMARY_FIELDS}

        def list_item(wf: dict[str, Any]) -> dict[str, Any]:
            """A list item: the summary with the projection of ``execution.synced`` (list fields, ≤ 10)."""
            runs = fake.executions.get(wf["id"])
            return {
                **summary(wf),
                "last_executions": [{k: e[k] for k in EXECUTION_FIELDS} for e in (runs or [])[:10]],
                "executions_synced_at": NOW.isoformat() if runs is not None else None,
            }

        class TaskIn(BaseModel):
            model_config = ConfigDict(extra="ignore")
            name: str = Field(min_length=1, max_length=200)
            task_type: Literal["SHELL", "SQL", "PYTHON"]
            description: str = ""
            params: dict[str, Any]
            worker_group: str = "default"
            owner: str | None = None
            openlineage_job: dict[str, str] | None = None

        class TaskUpd(TaskIn):
            expected_revision: int = Field(ge=1)

        class WfTask(BaseModel):
            task_id: int
            node_attrs: dict[str, Any] | None = None

        class WfIn(BaseModel):
            model_config = ConfigDict(extra="ignore")
            name: str = Field(min_length=1, max_length=200)
            description: str = ""
            tasks: list[WfTask]
            edges: list[dict[str, int]] = []

        class WfUpd(WfIn):
            expected_version_no: int = Field(ge=0)

        class Rollback(BaseModel):
            to_version_no: int
            expected_version_no: int

        class Publish(BaseModel):
            operation: Literal["deploy", "online", "offline"]

        class MigPreview(BaseModel):
            task_id: int
            target_workflow_id: int
            mode: Literal["only_current", "cascade_downstream", "cascade_up_and_downstream"]
            allow_empty_source: bool = False

        class MigExec(MigPreview):
            expected_source_version_no: int
            expected_target_version_no: int

        def ids_of(raw: str | None) -> list[int] | None:
            if raw is None:
                return None
            try:
                return [int(p) for p in raw.split(",") if p.strip()]
            except ValueError:
                raise ValidationFailed(f"expected comma-separated integers, got '{raw}'") from None

        def check_tasks(body: WfIn, workflow_id: int | None) -> None:
            missing = [t.task_id for t in body.tasks if t.task_id not in fake.tasks]
            if missing:
                raise ValidationFailed(f"unknown tasks: {missing}", unknown_task_ids=missing)
            owned = [
                {"task_id": t.task_id, "owner_workflow_id": fake.tasks[t.task_id]["workflow_id"]}
                for t in body.tasks
                if fake.tasks[t.task_id]["workflow_id"] not in (None, workflow_id)
            ]
            if owned:
                raise TaskOwnedByAnotherWorkflow(
                    "tasks belong to another workflow: migrate them first",
                    tasks=owned,
                    owner_workflow_ids=sorted({o["owner_workflow_id"] for o in owned}),
                    migration_modes=["only_current", "cascade_downstream", "cascade_up_and_downstream"],
                )

        @app.post("/internal/tasks", status_code=201)
        async def create_task(body: TaskIn, x_actor: Actor) -> dict[str, Any]:
            job_holder(body.openlineage_job, 0)
            task = fake.add_task(body.name, **body.model_dump(exclude={"name"}), created_by=x_actor or "system")
            return task

        @app.put("/internal/tasks/{task_id}")
        async def update_task(task_id: int, body: TaskUpd, x_actor: Actor) -> Any:
            task = task_or_404(task_id)
            if body.expected_revision != task["revision"]:
                raise StaleVersion(
                    f"task {task_id} is at revision {task['revision']}", current_revision=task["revision"]
                )
            if "openlineage_job" in body.model_fields_set:  # left out: kept
                job_holder(body.openlineage_job, task_id)
                task["openlineage_job"] = body.openlineage_job
            task.update(body.model_dump(exclude={"expected_revision", "openlineage_job"}))
            task["revision"] += 1
            task["updated_by"] = x_actor or "system"
            return task

        @app.get("/internal/tasks/{task_id}")
        async def get_task(task_id: int) -> Any:
            return task_or_404(task_id)

        def job_holder(job: dict[str, str] | None, task_id: int) -> None:
            holder = next((t for t, task in fake.tasks.items() if job and task.get("openlineage_job") == job), None)
            if holder is not None and holder != task_id:
                raise Conflict(f"openlineage_job: already the identity of task {holder}", task_id=holder)

        @app.put("/internal/tasks/{task_id}/openlineage-job")
        async def put_task_job(task_id: int, body: dict[str, str], x_actor: Actor) -> Any:
            task = task_or_404(task_id)
            job_holder(body, task_id)
            task.update(openlineage_job=body, revision=task["revision"] + 1, updated_by=x_actor or "system")
            return task

        @app.delete("/internal/tasks/{task_id}/openlineage-job", status_code=204)
        async def delete_task_job(task_id: int) -> None:
            task = task_or_404(task_id)
            if task.get("openlineage_job") is None:
                raise NotFound(f"task {task_id} has no OpenLineage job identity")
            task.update(openlineage_job=None, revision=task["revision"] + 1)

        @app.get("/internal/tasks")
        async def list_tasks(
            ids: str | None = None,
            workflow_id: int | None = None,
            name: str | None = None,
            upstream_task_id: Annotated[int | None, Query(ge=1)] = None,
            downstream_task_id: Annotated[int | None, Query(ge=1)] = None,
            page: Annotated[int, Query(ge=1)] = 1,
            page_size: Annotated[int, Query(ge=1, le=200)] = 20,
        ) -> Any:
            wanted = ids_of(ids)

            def sets(tid: int) -> tuple[list[int], list[int]]:
                return fake.deps.get(tid, ([], []))

            items = [
                {**t, "upstream_count": len(sets(t["id"])[0]), "downstream_count": len(sets(t["id"])[1])}
                for t in fake.tasks.values()
                if (wanted is None or t["id"] in wanted)
                and (workflow_id is None or t["workflow_id"] == workflow_id)
                and (name is None or name.lower() in t["name"].lower())
                and (upstream_task_id is None or upstream_task_id in sets(t["id"])[0])
                and (downstream_task_id is None or downstream_task_id in sets(t["id"])[1])
            ]
            if fake.tasks_without_owner:
                items = [{k: v for k, v in t.items() if k not in ("workflow_id", "workflow_name")} for t in items]
            return page_of(sorted(items, key=lambda t: t["id"]), page, page_size)

        @app.get("/internal/task-owners")
        async def task_owners(task_ids: str) -> Any:
            out: dict[str, Any] = {}
            for t in ids_of(task_ids) or []:
                task = fake.tasks.get(t)
                wid = task["workflow_id"] if task else None
                out[str(t)] = {"workflow_id": wid, "workflow_name": task["workflow_name"]} if wid else None
            return {"owners": out}

        @app.post("/internal/workflows", status_code=201)
        async def create_workflow(body: WfIn, x_actor: Actor) -> Any:
            check_tasks(body, None)
            wf = fake.add_workflow(body.name, task_ids=[t.task_id for t in body.tasks])
            wf["created_by"] = wf["updated_by"] = x_actor or "system"
            return wf

        @app.put("/internal/workflows/{workflow_id}")
        async def update_workflow(workflow_id: int, body: WfUpd, x_actor: Actor) -> Any:
            wf = wf_or_404(workflow_id)
            if body.expected_version_no != wf["current_version_no"]:
                raise StaleVersion(
                    f"workflow {workflow_id} is at version {wf['current_version_no']}, not {body.expected_version_no}",
                    current_version_no=wf["current_version_no"],
                )
            check_tasks(body, workflow_id)
            wf["name"] = body.name
            wf["updated_by"] = x_actor or "system"
            fake._new_version(workflow_id, "manual_edit", x_actor or "system")
            return wf

        @app.get("/internal/workflows/{workflow_id}")
        async def get_workflow(workflow_id: int) -> Any:
            return wf_or_404(workflow_id)

        @app.get("/internal/workflow-states")
        async def workflow_states(ids: str) -> Any:
            wanted = [int(i) for i in ids.split(",") if i]
            return {
                "items": [
                    {k: fake.workflows[w][k] for k in ("id", "name", "status", "publish_status", "release_state")}
                    | {"workflow_code": fake.workflows[w]["workflow_code"]}
                    | {"current_version_no": fake.workflows[w]["current_version_no"]}
                    for w in wanted
                    if w in fake.workflows
                ]
            }

        @app.get("/internal/workflows")
        async def list_workflows(
            name: str | None = None,
            status: Literal["draft", "ready", "online", "offline"] | None = None,
            publish_status: str | None = None,
            last_execution_state: str | None = None,
            needs_attention: bool | None = None,
            sort: Literal["name", "-name", "updated_at", "-updated_at"] = "-updated_at",
            page: Annotated[int, Query(ge=1)] = 1,
            page_size: Annotated[int, Query(ge=1, le=200)] = 20,
        ) -> Any:
            items = [
                list_item(w)
                for w in fake.workflows.values()
                if (name is None or name.lower() in w["name"].lower())
                and (status is None or w["status"] == status)
                and (publish_status is None or w["publish_status"] == publish_status)
                and (needs_attention is None or w["needs_attention"] == needs_attention)
            ]
            key = sort.lstrip("-")
            items.sort(key=lambda w: w[key], reverse=sort.startswith("-"))
            return page_of(items, page, page_size)

        @app.post("/internal/workflows/{workflow_id}/actions/{action}")
        async def action(workflow_id: int, action: Literal["approve", "online", "offline"]) -> Any:
            wf = wf_or_404(workflow_id)
            allowed = _allowed(wf["status"])
            if action not in allowed:
                raise InvalidTransition(f"cannot {action} a workflow in status {wf['status']}", allowed_actions=allowed)
            wf["status"] = {"approve": "ready", "online": "online", "offline": "offline"}[action]
            wf["approved"] = True
            wf["allowed_actions"] = _allowed(wf["status"])
            return wf

        @app.get("/internal/workflows/{workflow_id}/versions")
        async def versions(
            workflow_id: int,
            page: Annotated[int, Query(ge=1)] = 1,
            page_size: Annotated[int, Query(ge=1, le=200)] = 20,
        ) -> Any:
            wf_or_404(workflow_id)
            summaries = [
                {k: v for k, v in ver.items() if k not in ("change_summary", "structure_snapshot")}
                for ver in reversed(fake.versions[workflow_id])
            ]
            return page_of(summaries, page, page_size)

        @app.get("/internal/workflows/{workflow_id}/versions/{version_no}")
        async def version(workflow_id: int, version_no: int) -> Any:
            wf_or_404(workflow_id)
            for ver in fake.versions[workflow_id]:
                if ver["version_no"] == version_no:
                    return ver
            raise NotFound(f"workflow {workflow_id} has no version {version_no}")

        @app.get("/internal/workflows/{workflow_id}/diff")
        async def diff(
            workflow_id: int,
            from_no: Annotated[int, Query(alias="from", ge=1)],
            to_no: Annotated[int, Query(alias="to", ge=1)],
        ) -> Any:
            wf_or_404(workflow_id)
            nos = {v["version_no"] for v in fake.versions[workflow_id]}
            if from_no not in nos or to_no not in nos:
                raise NotFound(f"workflow {workflow_id} has no version {from_no if from_no not in nos else to_no}")
            # a ChangeSummary (what definition answers), its summary naming the versions for the test
            return {**fake.versions[workflow_id][-1]["change_summary"], "summary": f"{from_no} to {to_no}"}

        @app.post("/internal/workflows/{workflow_id}/rollback")
        async def rollback(workflow_id: int, body: Rollback, x_actor: Actor) -> Any:
            wf = wf_or_404(workflow_id)
            if body.expected_version_no != wf["current_version_no"]:
                raise StaleVersion(f"workflow {workflow_id} is at version {wf['current_version_no']}")
            fake._new_version(workflow_id, "rollback", x_actor or "system")
            return {**wf, "unassigned_task_ids": []}

        @app.post("/internal/workflows/{workflow_id}/publish", status_code=202)
        async def publish(workflow_id: int, body: Publish) -> Any:
            wf = wf_or_404(workflow_id)
            if wf["status"] == "draft":
                raise PublishNotAllowed("a draft workflow cannot be published; approve it first", allowed_operations=[])
            return {
                "request_id": str(uuid.uuid4()),
                "workflow_id": workflow_id,
                "version_id": fake.versions[workflow_id][-1]["id"],
                "version_no": wf["current_version_no"],
                "operation": body.operation,
            }

        # auto-orchestration (issue 20): one proposal per unassigned task, with the task's id
        def proposal_of(task_id: int) -> dict[str, Any]:
            task = task_or_404(task_id)
            if task["workflow_id"]:
                raise NotFound(f"proposal {task_id} not found")
            return {
                "id": task_id,
                "kind": "new_workflow",
                "fingerprint": f"fp{task_id}",
                "workflow_id": None,
                "task_ids": [task_id],
                "task_count": 1,
                "edges": [],
                "cycle_edges": [],
                "cycles": [],
                "component_size": 1,
                "split": False,
                "cross_dependencies": [],
                "dismissed": False,
                "created_at": NOW.isoformat(),
            }

        def proposal_preview(p: dict[str, Any], cut: list[dict[str, Any]]) -> dict[str, Any]:
            return {
                "proposal_id": p["id"],
                "kind": p["kind"],
                "fingerprint": p["fingerprint"],
                "target_workflow_id": None,
                "moved_task_ids": p["task_ids"],
                "moved_edges": [],
                "dropped_edges": [],
                "bridged_edges": [],
                "lineage_edges": [],
                "external_dependencies": [],
                "reasons": {"component_size": 1, "split": False, "cut_dependencies": cut},
                "warnings": [],
                "target_after": {
                    "workflow_id": 0,
                    "task_ids": p["task_ids"],
                    "edges": [],
                    "entry_task_ids": p["task_ids"],
                    "exit_task_ids": p["task_ids"],
                    "external_dependencies": [],
                },
                "target_version_no": None,
            }

        @app.get("/internal/proposals")
        async def proposals(page: int = 1, page_size: int = 50) -> Any:
            free = [proposal_of(t) for t, task in sorted(fake.tasks.items()) if not task["workflow_id"]]
            return page_of(free, page, page_size)

        @app.post("/internal/proposals/rebuild")
        async def rebuild_proposals() -> Any:
            free = [t for t, task in fake.tasks.items() if not task["workflow_id"]]
            return {"proposals": len(free), "tasks": len(free)}

        @app.get("/internal/proposals/{proposal_id}/preview")
        async def preview_proposal(proposal_id: int) -> Any:
            p = proposal_of(proposal_id)
            cut = [
                {
                    "upstream_task_id": u,
                    "downstream_task_id": t,
                    "other_workflow_id": fake.tasks[u]["workflow_id"] if u in fake.tasks else None,
                    "outside": "upstream",
                    "kept_as": "dependent_link",
                }
                for t in p["task_ids"]
                for u in fake.deps.get(t, ([], []))[0]
            ]
            return proposal_preview(p, cut)

        @app.post("/internal/proposals/{proposal_id}/accept", status_code=201)
        async def accept_proposal(proposal_id: int) -> Any:
            p = proposal_of(proposal_id)
            wf = fake.add_workflow(f"auto-{proposal_id}", task_ids=p["task_ids"])
            return {"proposal_id": proposal_id, "workflow": wf, "preview": proposal_preview(p, [])}

        @app.post("/internal/proposals/{proposal_id}/dismiss")
        async def dismiss_proposal(proposal_id: int) -> Any:
            return {**proposal_of(proposal_id), "dismissed": True}

        @app.post("/internal/migrations/preview")
        async def preview(body: MigPreview) -> Any:
            task = task_or_404(body.task_id)
            wf_or_404(body.target_workflow_id)
            return {
                **migration_plan(task, body.task_id, body.target_workflow_id, body.mode),
                "source_version_no": fake.workflows[task["workflow_id"]]["current_version_no"]
                if task["workflow_id"]
                else None,
                "target_version_no": fake.workflows[body.target_workflow_id]["current_version_no"],
            }

        def migration_plan(task: dict[str, Any], task_id: int, target_id: int, mode: str) -> dict[str, Any]:
            def side(workflow_id: int, task_ids: list[int]) -> dict[str, Any]:
                return {
                    "workflow_id": workflow_id,
                    "task_ids": task_ids,
                    "edges": [],
                    "entry_task_ids": task_ids,
                    "exit_task_ids": task_ids,
                }

            source_id = task["workflow_id"]
            source_tasks = [t["task_id"] for t in fake.workflows[source_id]["tasks"]] if source_id else []
            target_tasks = [t["task_id"] for t in fake.workflows[target_id]["tasks"]]
            return {
                "task_id": task_id,
                "mode": mode,
                "source_workflow_id": source_id,
                "target_workflow_id": target_id,
                "moved_task_ids": [task_id],
                "moved_edges": [],
                "dropped_edges": [],
                "bridged_edges": [],
                "lineage_edges": [],
                "source_emptied": source_tasks == [task_id],
                "warnings": [],
                "source_after": side(source_id or 0, [t for t in source_tasks if t != task_id]),
                "target_after": side(target_id, [*target_tasks, task_id]),
            }

        @app.post("/internal/migrations")
        async def execute(body: MigExec) -> Any:
            task = task_or_404(body.task_id)
            target = wf_or_404(body.target_workflow_id)
            if body.expected_target_version_no != target["current_version_no"]:
                raise StaleVersion(f"workflow {target['id']} is at version {target['current_version_no']}")
            source = fake.workflows.get(task["workflow_id"]) if task["workflow_id"] else None
            plan = migration_plan(task, body.task_id, target["id"], body.mode)
            fake._own(body.task_id, target["id"])
            return {"source": source, "target": target, "preview": plan}

        return app

    # ------------------------------------------------------------------------------------------------------ publisher

    def _publisher(self) -> FastAPI:
        app = self._app("publisher")
        fake = self

        class RetryIn(BaseModel):
            model_config = ConfigDict(extra="forbid")
            operator: str | None = None

        class RunIn(BaseModel):
            model_config = ConfigDict(extra="forbid")
            start_params: dict[str, str] = {}
            worker_group: str | None = None
            failure_strategy: Literal["END", "CONTINUE"] | None = None  # none: the workflow's (the publisher's)
            dry_run: bool = False
            schedule_time: datetime | None = None
            warning_type: Literal["NONE", "SUCCESS", "FAILURE", "ALL"] = "NONE"

        class BatchIn(RunIn):
            workflow_ids: list[int] = Field(min_length=1, max_length=200)
            backfill: dict[str, Any] | None = None
            run_mode: Literal["serial", "parallel"] = "serial"
            parallelism: int | None = None

        class NotDeployed(Conflict):
            code = "not-deployed"
            title = "Not deployed"

        @app.get("/internal/workflows/{workflow_id}/publish-records")
        async def records(
            workflow_id: int,
            page: Annotated[int, Query(ge=1)] = 1,
            page_size: Annotated[int, Query(ge=1, le=100)] = 20,
        ) -> Any:
            items = sorted(
                (r for r in fake.records.values() if r["workflow_id"] == workflow_id), key=lambda r: -r["id"]
            )
            return _page(items, page, page_size)

        @app.get("/internal/publish-records/{record_id}")
        async def record(record_id: int) -> Any:
            rec = fake.records.get(record_id)
            if rec is None:
                raise NotFound(f"publish record {record_id} does not exist")
            return rec

        @app.post("/internal/publish-records/{record_id}/retry", status_code=201)
        async def retry(record_id: int, x_actor: Actor, body: RetryIn | None = None) -> Any:
            rec = fake.records.get(record_id)
            if rec is None:
                raise NotFound(f"publish record {record_id} does not exist")
            if rec["status"] != "failed":
                raise Conflict(f"publish record {record_id} is {rec['status']}, not failed")
            new = fake.add_record(rec["workflow_id"], status="pending")
            new["retry_of"] = record_id
            new["operator"] = x_actor or rec["operator"]
            return new

        def restore_or_404(workflow_id: int) -> dict[str, Any]:
            view = fake.restores.get(workflow_id)
            if view is None:
                raise NotFound(f"workflow {workflow_id} has no restore")
            return view

        @app.get("/internal/workflows/{workflow_id}/restore")
        async def get_restore(workflow_id: int) -> Any:
            return restore_or_404(workflow_id)

        @app.post("/internal/workflows/{workflow_id}/restore", status_code=202)
        async def restore_now(workflow_id: int, x_actor: Actor) -> Any:
            view = restore_or_404(workflow_id)
            view.update(status="restoring", requested_by=x_actor, cancelled_by=None)
            return view

        @app.post("/internal/workflows/{workflow_id}/restore/cancel")
        async def cancel_restore(workflow_id: int, x_actor: Actor) -> Any:
            view = restore_or_404(workflow_id)
            view.update(status="cancelled", cancelled_by=x_actor, next_attempt_at=None)
            return view

        @app.post("/internal/workflows/batch-run")
        async def batch_run(body: BatchIn) -> Any:
            never = [w for w in body.workflow_ids if w not in fake.deployed]
            if never:
                raise NotDeployed(f"workflows never deployed: {never}", workflow_ids=never)
            results: list[dict[str, Any]] = []
            for w in body.workflow_ids:
                if w in fake.offline_in_ds:
                    results.append({
                        "workflow_id": w, "status": "failed", "instance_ids": [], "project_code": 77,
                        "error": "dolphin-workflow-offline",
                        "ds_code": 50014, "ds_msg": OFFLINE_START_MESSAGE,
                        "message": "the DS workflow is offline: publish it online first",
                    })  # fmt: skip
                else:
                    started_one = {"workflow_id": w, "status": "started", "instance_ids": [5000 + w]}
                    started_one["project_code"] = 77
                    results.append(started_one)
            started = [r for r in results if r["status"] == "started"]
            return {
                "instance_ids": [i for r in started for i in r["instance_ids"]],
                "results": results,
                "started": len(started),
                "failed": len(results) - len(started),
                "unknown": 0,
            }

        @app.post("/internal/workflows/{workflow_id}/run")
        async def run(
            workflow_id: int,
            body: RunIn | None = None,
            key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
        ) -> Any:
            if workflow_id not in fake.deployed:
                raise NotDeployed(f"workflow {workflow_id} was never deployed to DolphinScheduler")
            if key is not None and key in fake.runs:
                return {**fake.runs[key], "replayed": True}
            run_id = len(fake.runs) + 1
            answer = {
                "workflow_id": workflow_id,
                "run_id": run_id,
                "state": "started",
                "instance_ids": [] if body and body.dry_run else [7000 + workflow_id],
                "replayed": False,
                "detail": None,
                "error": None,
                "created_at": NOW.isoformat(),
                "trace_id": f"{0xABC0000 + run_id:032x}",  # the (recorded) trace of the request
            }
            fake.runs[key or f"generated-{run_id}"] = answer
            return answer

        @app.get("/internal/workflows/{workflow_id}/runs")
        async def list_runs(workflow_id: int, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> Any:
            mine = [a for a in fake.runs.values() if a["workflow_id"] == workflow_id]
            return {"items": sorted(mine, key=lambda a: -a["run_id"])[:limit]}

        @app.get("/internal/workflows/{workflow_id}/runs/{run_id}")
        async def get_run(workflow_id: int, run_id: int) -> Any:
            for answer in fake.runs.values():
                if (answer["workflow_id"], answer["run_id"]) == (workflow_id, run_id):
                    return answer
            raise NotFound(f"workflow {workflow_id} has no run {run_id}")

        return app

    # -------------------------------------------------------------------------------------------------------- history

    def _history(self) -> FastAPI:
        app = self._app("history")
        fake = self

        def view(workflow_id: int) -> dict[str, Any]:
            return {
                "workflow_id": workflow_id,
                "engine_workflow_code": 9000 + workflow_id,
                "project_code": 77,
                "release_state": "ONLINE",
                "synced": True,
                "synced_at": NOW.isoformat(),
                "age_seconds": 12.5,
                "stale": False,
                "last_error": None,
                "last_error_at": None,
                "refreshed": False,
                "executions": fake.executions[workflow_id],
            }

        @app.get("/internal/workflows/executions")
        async def batch(ids: str) -> Any:
            try:
                wanted = [int(x) for x in ids.split(",") if x.strip()]
            except ValueError:
                raise ValidationFailed("ids must be a comma-separated list of workflow ids") from None
            return {
                "workflows": [view(w) for w in wanted if w in fake.executions],
                "unknown_ids": [w for w in wanted if w not in fake.executions],
            }

        @app.get("/internal/workflows/task-metrics")
        async def task_metrics(ids: str) -> Any:
            try:
                wanted = [int(x) for x in ids.split(",") if x.strip()]
            except ValueError:
                raise ValidationFailed("ids must be a comma-separated list of workflow ids") from None
            tracked = [w for w in wanted if w in fake.executions or w in fake.task_metrics]
            return {
                "workflows": [
                    {
                        "workflow_id": w,
                        "synced_at": NOW.isoformat(),
                        "instance_ids": [e["instance_id"] for e in fake.executions.get(w, [])],
                        "tasks": fake.task_metrics.get(w, []),
                    }
                    for w in tracked
                ],
                "unknown_ids": [w for w in wanted if w not in tracked],
            }

        @app.get("/internal/workflows/{workflow_id}/executions")
        async def executions(workflow_id: int) -> Any:
            if workflow_id not in fake.executions:
                raise NotFound(f"workflow {workflow_id} is not tracked by history-sync", workflow_id=workflow_id)
            return view(workflow_id)

        @app.get("/internal/instances/{instance_id}")
        async def instance(instance_id: int, workflow_id: int | None = None) -> Any:
            for wid, runs in fake.executions.items():
                for run in runs:
                    if run["instance_id"] == instance_id and workflow_id in (None, wid):
                        times = {k: run[k] for k in ("start_time", "end_time", "duration", "host")}
                        return {
                            "instance": {
                                "id": instance_id,
                                "name": "x",
                                "workflow_id": wid,
                                "project_code": 7,
                                "workflow_definition_code": 8,
                                "workflow_definition_version": 1,
                                "state": run["state"],
                                "schedule_time": None,
                                "command_type": run["command_type"],
                                "run_times": run["run_times"],
                                "executor_name": "admin",
                                **times,
                            },
                            "tasks": [
                                {
                                    "id": instance_id * 10,
                                    "name": "t1",
                                    "task_type": "SHELL",
                                    "task_code": 11,
                                    "state": run["state"],
                                    "submit_time": run["start_time"],
                                    "retry_times": 0,
                                    **times,
                                }
                            ],
                        }
            raise NotFound(f"workflow instance {instance_id} does not exist")

        @app.get("/internal/task-instances/{task_instance_id}/log")
        async def log(
            task_instance_id: int,
            skip_line_num: Annotated[int, Query(ge=0)] = 0,
            limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
            workflow_id: int | None = None,
            instance_id: int | None = None,
        ) -> Any:
            owned = any(
                run["instance_id"] * 10 == task_instance_id and instance_id in (None, run["instance_id"])
                for wid, runs in fake.executions.items()
                for run in runs
                if workflow_id in (None, wid)
            )
            if not owned:
                raise NotFound(f"task instance {task_instance_id} is not part of a run of workflow {workflow_id}")
            lines = [f"line {i}" for i in range(25)][skip_line_num : skip_line_num + limit]
            return {
                "task_instance_id": task_instance_id,
                "skip_line_num": skip_line_num,
                "limit": limit,
                "message": "\n".join(lines),
                "line_count": len(lines),
                "next_skip_line_num": skip_line_num + len(lines),
                "complete": len(lines) < limit,
                "dispatched": True,
            }

        return app

    # -------------------------------------------------------------------------------------------------------- lineage

    def _lineage(self) -> FastAPI:
        app = self._app("lineage")
        fake = self

        @app.get("/internal/dependency-view")
        async def dependency_view(task_ids: Annotated[list[str], Query()]) -> Any:
            ids = [int(p) for chunk in task_ids for p in chunk.split(",") if p.strip()]
            if not ids:
                raise ValidationFailed("task_ids: give at least one task id")
            items = []
            for t in ids:
                up, down = fake.deps.get(t, ([], []))
                items.append(
                    {
                        "task_id": t,
                        "upstream_task_ids": up,
                        "downstream_task_ids": down,
                        "upstream_count": len(up),
                        "downstream_count": len(down),
                        "updated_at": NOW.isoformat() if t in fake.deps else None,
                    }
                )
            return {"items": items}

        @app.get("/internal/task-tables")
        async def task_tables(task_ids: Annotated[list[str], Query()]) -> Any:
            ids = [int(p) for chunk in task_ids for p in chunk.split(",") if p.strip()]
            items = [
                {"task_id": t, "reads": fake.tables.get(t, ([], []))[0], "writes": fake.tables.get(t, ([], []))[1]}
                for t in ids
            ]
            return {"items": items}

        @app.get("/internal/tables")
        async def search_tables(q: str = "", limit: Annotated[int, Query(ge=1, le=100)] = 20) -> Any:
            names = sorted({t for kind, t in fake.table_answers if kind == "lineage" and q.lower() in t.lower()})
            return {"items": [{"table": t, "readers": 1, "writers": 1} for t in names[:limit]]}

        @app.get("/internal/tables/{name:path}/lineage")
        async def table_lineage(name: str, depth: Annotated[int, Query(ge=1, le=5)] = 2) -> Any:
            return table_answer("lineage", name, depth)

        @app.get("/internal/tables/{name:path}/affected")
        async def affected(name: str, depth: Annotated[int, Query(ge=1, le=20)] = 10) -> Any:
            return table_answer("affected", name, depth)

        def table_answer(kind: str, name: str, depth: int) -> Any:
            answer = fake.table_answers.get((kind, name))
            if answer is None:
                raise UnknownTable(f"table {name!r} is not known to lineage", table=name)
            return {**answer, "table": name, "depth": depth}

        @app.get("/internal/task-links")
        async def task_links(task_ids: Annotated[list[str], Query()]) -> Any:
            ids = [int(p) for chunk in task_ids for p in chunk.split(",") if p.strip()]
            if len(ids) > 500:
                raise ValidationFailed("task_ids: at most 500 ids per request")
            answer = fake.table_answers.get("links", {"direct": [], "reachable": [], "known": [], "truncated": False})
            return {**answer, "task_ids": ids, "depth": 10}

        @app.get("/internal/dependency-view/filter")
        async def filter_view(
            upstream_task_id: Annotated[int | None, Query(ge=1)] = None,
            downstream_task_id: Annotated[int | None, Query(ge=1)] = None,
            after: Annotated[int | None, Query(ge=0)] = None,
            limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        ) -> Any:
            if upstream_task_id is None and downstream_task_id is None:
                raise ValidationFailed("give upstream_task_id and/or downstream_task_id")
            match = sorted(
                t
                for t, (up, down) in fake.deps.items()
                if (upstream_task_id is None or upstream_task_id in up)
                and (downstream_task_id is None or downstream_task_id in down)
                and (after is None or t > after)
            )
            cut = min(limit, fake.lineage_page_cap)
            page = match[:cut]
            return {"task_ids": page, "next_after": page[-1] if len(page) == cut and len(match) > cut else None}

        @app.post("/internal/lineage/events")
        async def lineage_event(body: dict[str, Any]) -> Any:
            fake.lineage_events.append(body)
            job = body.get("job") or {}
            wanted = {"namespace": job.get("namespace"), "name": job.get("name")}
            mapped = next((t for t, task in fake.tasks.items() if task.get("openlineage_job") == wanted), None)
            status = "applied" if "type" in body or mapped is not None else "unmapped"
            kind = "native" if "type" in body else "openlineage"
            return {"event_id": f"e{len(fake.lineage_events)}", "status": status, "kind": kind, "reason": None,
                    "task_id": mapped, "job_namespace": job.get("namespace"), "job_name": job.get("name"),
                    "changed_tasks": []}  # fmt: skip

        def pattern(pid: int) -> dict[str, Any]:
            if pid not in fake.patterns:
                raise NotFound(f"pattern rule {pid} does not exist")
            return fake.patterns[pid]

        @app.get("/internal/openlineage/patterns")
        async def patterns() -> Any:
            return {"items": sorted(fake.patterns.values(), key=lambda p: (p["position"], p["id"]))}

        @app.post("/internal/openlineage/patterns", status_code=201)
        async def create_pattern(body: dict[str, Any], x_actor: Actor) -> Any:
            pid = fake.next_id("pattern")
            fake.patterns[pid] = {"id": pid, "position": body.get("position") or pid, "name_regex": body["name_regex"],
                                  "namespace": body.get("namespace"), "created_by": x_actor or "?",
                                  "created_at": NOW.isoformat()}  # fmt: skip
            return {**fake.patterns[pid], "applied": []}

        @app.put("/internal/openlineage/patterns/{pid}")
        async def update_pattern(pid: int, body: dict[str, Any]) -> Any:
            pattern(pid).update(name_regex=body["name_regex"], namespace=body.get("namespace"))
            return {**fake.patterns[pid], "applied": []}

        @app.delete("/internal/openlineage/patterns/{pid}", status_code=204)
        async def delete_pattern(pid: int) -> None:
            pattern(pid)
            del fake.patterns[pid]

        @app.get("/internal/openlineage/unmapped-jobs")
        async def unmapped(limit: int = 100) -> Any:
            return {"items": [], "total": 0}

        return app


class UnknownTable(NotFound):
    code = "unknown-table"
    title = "Table not known to lineage"


class TaskOwnedByAnotherWorkflow(Conflict):
    code = "task-owned-by-another-workflow"
    title = "Task owned by another workflow"


class PublishNotAllowed(Conflict):
    code = "publish-not-allowed"
    title = "Publish not allowed"


def _allowed(status: str) -> list[str]:
    return {"draft": ["approve"], "ready": ["online"], "online": ["offline"], "offline": ["online"]}[status]
