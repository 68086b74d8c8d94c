"""``DolphinRestClient``: the DolphinScheduler 3.3/3.4 REST API (CONTRACT §3) over one ``httpx.AsyncClient``.

- v1 endpoints take form/query parameters; the access token goes in the ``token`` header (never in a URL).
- The DS envelope ``{code, msg, data}`` is unwrapped: ``code == 0`` gives ``data``; anything else raises
  the mapped error from :mod:`common.dolphin.errors` with DS's code and message.
- 401 (empty body) -> ``DolphinAuthError``; 5xx, timeouts and transport errors -> transient errors.
- :meth:`DolphinRestClient.create` runs httpx over aiohttp (:mod:`common.transport`) and sends straight
  to that transport (to its aiohttp session while tracing is off): see :meth:`DolphinRestClient._send`. Any
  ``httpx.AsyncClient`` can be passed to the constructor instead.
- Only GETs are retried (bounded, exponential backoff with jitter); release/start/create are never
  retried because a dropped answer does not tell whether DS applied them.
- Every HTTP attempt is counted in ``ds_calls_total`` / ``ds_call_duration_seconds`` with the route template.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError

from common import deadline
from common.dolphin.errors import (
    DolphinAuthError,
    DolphinError,
    DolphinHttpError,
    DolphinTimeout,
    DolphinUnavailable,
    api_error_for,
)
from common.dolphin.metrics import observe_call
from common.dolphin.models import (
    AccessToken,
    ComplementDependentMode,
    DagData,
    ExecutionOrder,
    FailureStrategy,
    InstanceTasks,
    LogChunk,
    Page,
    Priority,
    Project,
    ReleaseState,
    RunMode,
    Schedule,
    ScheduleSpec,
    TaskDependType,
    Tenant,
    UserInfo,
    WarningType,
    WorkflowDefinition,
    WorkflowDefinitionLog,
    WorkflowExecutionStatus,
    WorkflowExecutionType,
    WorkflowInstance,
    format_ds_datetime,
)
from common.errors import PlatformError, TransientError
from common.retry import retrying
from common.transport import aiohttp_session_of, aiohttp_timeout, aiohttp_transport, transport_failure

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)

_Params = Mapping[str, str | int | float | bool | None]

D = TypeVar("D")


class _Success(BaseModel, Generic[D]):
    """A DS success envelope (``code`` 0) with its ``data`` read as ``D``; other fields ignored."""

    code: Literal[0]
    data: D


#: the instance list (history-sync reads it for every tracked workflow in every cycle)
_INSTANCE_PAGE: TypeAdapter[_Success[Any]] = TypeAdapter(_Success[Page[WorkflowInstance]])

#: aiohttp's default headers DS has no use for (``Accept-Encoding``: answers are small, nothing to inflate)
_SKIP_AUTO_HEADERS = ("User-Agent", "Accept-Encoding")

#: what ``httpx.AsyncClient`` sends by default, minus ``Accept-Encoding`` (DS answers are small; nothing to inflate)
_DEFAULT_HEADERS = {"accept": "*/*", "user-agent": f"python-httpx/{httpx.__version__}"}


def _clean(params: _Params | None) -> dict[str, str]:
    """Drop ``None`` values; render booleans and numbers the way Spring parses them."""
    out: dict[str, str] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


class DolphinRestClient:
    """Typed calls to the DS REST API.

    The ``base_url`` of the given client must end with ``/dolphinscheduler``.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        token: SecretStr,
        *,
        read_attempts: int = 3,
        backoff_initial: float = 0.2,
        backoff_max: float = 2.0,
        owns_client: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``transport``: the transport ``http`` was built with; when given, requests go to it directly (see
        :meth:`_send`), with ``http``'s timeout."""
        if read_attempts < 1:
            raise ValueError("read_attempts must be >= 1")
        self._http = http
        self._transport = transport
        self._timeout = http.timeout.as_dict()
        self._aiohttp = aiohttp_session_of(transport) if transport is not None else None
        self._aiohttp_timeout = aiohttp_timeout(http.timeout)
        self._token = token
        self._read_attempts = read_attempts
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._owns_client = owns_client

    @classmethod
    def create(
        cls,
        base_url: str,
        token: SecretStr,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_connections: int = 20,
        read_attempts: int = 3,
        backoff_initial: float = 0.2,
        backoff_max: float = 2.0,
    ) -> DolphinRestClient:
        """A client that owns its ``httpx.AsyncClient`` (aiohttp transport; closed by :meth:`aclose`)."""
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        transport = aiohttp_transport(limits)
        http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout, limits=limits, transport=transport)
        return cls(
            http,
            token,
            read_attempts=read_attempts,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            owns_client=True,
            transport=transport,
        )

    async def aclose(self) -> None:
        if self._owns_client:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"DolphinRestClient(base_url={str(self._http.base_url)!r})"

    # ----------------------------------------------------------------------------------------------------
    # Transport

    async def _call(
        self,
        method: str,
        template: str,
        *,
        path: Mapping[str, int | str] | None = None,
        params: _Params | None = None,
        form: _Params | None = None,
        headers: Mapping[str, str] | None = None,
        success: TypeAdapter[_Success[Any]] | None = None,
    ) -> Any:
        """One DS call; returns the envelope's ``data``. GETs are retried on transient errors.

        ``success``: the answer read straight from its bytes (pydantic's JSON parser) when it is a success envelope
        whose ``data`` that model reads; the parsed ``data`` is returned. Anything else takes the general path (so
        the errors are the same), which returns the raw ``data``."""
        url = template.format(**(path or {}))
        attempts = self._read_attempts if method == "GET" else 1
        request_headers = {"token": self._token.get_secret_value()} if headers is None else dict(headers)

        def on_retry(exc: BaseException, attempt: int, delay: float) -> None:
            code = exc.code if isinstance(exc, PlatformError) else type(exc).__name__
            retry = "DS %s %s attempt %d/%d failed (%s); retrying in %.2fs"
            logger.warning(retry, method, template, attempt, attempts, code, delay)

        retries = retrying(
            attempts=attempts,
            initial_s=self._backoff_initial,
            max_s=self._backoff_max,
            jitter="scaled",
            retry_on=lambda exc: isinstance(exc, TransientError),
            on_retry=on_retry,
            time_left=deadline.remaining,  # no attempt the caller would not wait for
        )
        async for attempt in retries:
            with attempt:
                return await self._observed(method, url, template, params, form, request_headers, success)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _observed(
        self,
        method: str,
        url: str,
        template: str,
        params: _Params | None,
        form: _Params | None,
        headers: Mapping[str, str],
        success: TypeAdapter[_Success[Any]] | None,
    ) -> Any:
        """One attempt within the request's deadline, counted in the DS call metrics."""
        started = time.perf_counter()
        outcome = "error"
        try:
            try:
                async with deadline.cut():
                    data = await self._attempt(method, url, template, params, form, headers, success)
            except deadline.DeadlineExceeded:
                raise DolphinTimeout(
                    f"DolphinScheduler {method} {template} did not answer before the request's deadline"
                ) from None
            outcome = "ok"
            return data
        except PlatformError as exc:
            outcome = outcome_of(exc)
            raise
        finally:
            observe_call("rest", template, outcome, time.perf_counter() - started)

    async def _attempt(
        self,
        method: str,
        url: str,
        template: str,
        params: _Params | None,
        form: _Params | None,
        headers: Mapping[str, str],
        success: TypeAdapter[_Success[Any]] | None = None,
    ) -> Any:
        # one absolute URL with its query (encoded as httpx encodes params): parsed once, by whoever sends it
        query = urlencode(_clean(params)) if params else ""
        absolute = f"{self._http.base_url}{url.lstrip('/')}{'?' if query else ''}{query}"
        try:
            status, body = await self._send(method, absolute, _clean(form) if form is not None else None, headers)
        except Exception as exc:
            failure = transport_failure(exc)
            if failure is None:
                raise
            # name the transport's original error (aiohttp's), not the httpx type it was re-raised as
            name = type(exc.__cause__ if isinstance(exc.__cause__, Exception) else exc).__name__
            if failure == "timeout":
                raise DolphinTimeout(f"DolphinScheduler {method} {template} timed out ({name})") from None
            raise DolphinUnavailable(f"DolphinScheduler {method} {template} failed: {name}") from None
        if status == 401:
            # DS answers 401 with an empty body: never JSON-decode it.
            raise DolphinAuthError(f"DolphinScheduler refused the access token ({method} {template})")
        if status >= 500:
            raise DolphinUnavailable(f"DolphinScheduler {method} {template} answered HTTP {status}", http_status=status)
        if status >= 400:
            raise DolphinHttpError(status, endpoint=f"{method} {template}")
        if success is not None:
            try:
                return success.validate_json(body).data
            except ValidationError:
                pass  # not a success envelope with data the model reads: the general path says what it is
        try:
            envelope = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise DolphinUnavailable(
                f"DolphinScheduler {method} {template} answered HTTP {status} with a body that is not JSON"
            ) from None
        if not isinstance(envelope, dict) or "code" not in envelope:
            raise DolphinUnavailable(f"DolphinScheduler {method} {template} answered without the DS envelope")
        code = envelope.get("code")
        if code == 0:
            return envelope.get("data")
        ds_code = int(code) if isinstance(code, int | str) and str(code).lstrip("-").isdigit() else -1
        raise api_error_for(ds_code, str(envelope.get("msg") or ""), endpoint=f"{method} {template}")

    async def _send(
        self, method: str, url: str, form: dict[str, str] | None, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        """One HTTP exchange: (status, body). Three ways, the same bytes on the wire and the same errors (see
        :func:`~common.transport.transport_failure`):

        - a client given to the constructor: ``AsyncClient.request``;
        - our own transport (:meth:`create`) under a tracing wrapper: straight to the wrapper, without
          ``AsyncClient.send``'s per-request cookie-jar extraction, auth, redirect handling and URL merging that a
          token-authenticated DS client never uses (about half of the client's CPU per call);
        - our own transport, untraced: straight to its aiohttp session, without httpx request and response objects
          either (half again).
        """
        if self._aiohttp is not None:
            content = urlencode(form).encode() if form is not None else None
            if content is not None:
                headers = {**headers, "content-type": "application/x-www-form-urlencoded"}
            async with self._aiohttp().request(
                method,
                url,
                data=content,
                headers=headers,
                skip_auto_headers=_SKIP_AUTO_HEADERS,
                timeout=self._aiohttp_timeout,
                allow_redirects=False,
            ) as answer:
                return answer.status, await answer.read()
        if self._transport is None:
            response = await self._http.request(method, httpx.URL(url), data=form, headers=headers)
            return response.status_code, response.content
        request = httpx.Request(
            method, url, data=form, headers={**_DEFAULT_HEADERS, **headers}, extensions={"timeout": self._timeout}
        )
        response = await self._transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response.status_code, response.content

    async def _get(self, template: str, **kwargs: Any) -> Any:
        return await self._call("GET", template, **kwargs)

    async def _post(self, template: str, **kwargs: Any) -> Any:
        return await self._call("POST", template, **kwargs)

    async def _put(self, template: str, **kwargs: Any) -> Any:
        return await self._call("PUT", template, **kwargs)

    @staticmethod
    def _parse(model: type[M], data: Any, endpoint: str) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise DolphinUnavailable(
                f"DolphinScheduler {endpoint} answered data we cannot read ({exc.error_count()} errors)"
            ) from None

    @staticmethod
    def _parse_as(adapter: TypeAdapter[Any], data: Any, endpoint: str) -> Any:
        try:
            return adapter.validate_python(data)
        except ValidationError as exc:
            raise DolphinUnavailable(
                f"DolphinScheduler {endpoint} answered data we cannot read ({exc.error_count()} errors)"
            ) from None

    # ----------------------------------------------------------------------------------------------------
    # Users and tokens

    @classmethod
    async def bootstrap_access_token(
        cls,
        http: httpx.AsyncClient,
        user_name: str,
        password: SecretStr,
        *,
        expire_time: datetime,
        token: SecretStr | None = None,
    ) -> AccessToken:
        """Log in with a password and create an access token for that user (for test and dev set-up)."""
        anon = cls(http, SecretStr(""), read_attempts=1)
        data = await anon._call(
            "POST",
            "/login",
            form={"userName": user_name, "userPassword": password.get_secret_value()},
            headers={},
        )
        session = SecretStr(str((data or {}).get("sessionId", "")))
        session_headers = {"sessionId": session.get_secret_value()}
        user = cls._parse(
            UserInfo,
            await anon._call("GET", "/users/get-user-info", headers=session_headers),
            "get-user-info",
        )
        created = await anon._call(
            "POST",
            "/access-tokens",
            form={
                "userId": user.id,
                "expireTime": format_ds_datetime(expire_time),
                "token": token.get_secret_value() if token else None,
            },
            headers=session_headers,
        )
        return cls._parse(AccessToken, created, "POST /access-tokens")

    async def get_current_user(self) -> UserInfo:
        return self._parse(UserInfo, await self._get("/users/get-user-info"), "GET /users/get-user-info")

    async def list_access_tokens_of_user(self, user_id: int) -> list[AccessToken]:
        data = await self._get("/access-tokens/user/{user_id}", path={"user_id": user_id})
        items = data.get("totalList", []) if isinstance(data, dict) else data
        return list(self._parse_as(TypeAdapter(list[AccessToken]), items or [], "GET /access-tokens/user/{id}"))

    # ----------------------------------------------------------------------------------------------------
    # Projects, worker groups, tenants

    async def list_projects(
        self, *, page_no: int = 1, page_size: int = 10, search_val: str | None = None
    ) -> Page[Project]:
        data = await self._get("/projects", params={"pageNo": page_no, "pageSize": page_size, "searchVal": search_val})
        return self._parse(Page[Project], data, "GET /projects")

    async def list_all_projects(self) -> list[Project]:
        data = await self._get("/projects/list")
        return list(self._parse_as(TypeAdapter(list[Project]), data or [], "GET /projects/list"))

    async def get_project(self, project_code: int) -> Project:
        return self._parse(Project, await self._get("/projects/{p}", path={"p": project_code}), "GET /projects/{p}")

    async def find_project_by_name(self, name: str) -> Project | None:
        """v1 has no exact by-name lookup: fuzzy-search, then match the name exactly."""
        page_no = 1
        while True:
            page = await self.list_projects(page_no=page_no, page_size=100, search_val=name)
            for project in page.total_list:
                if project.name == name:
                    return project
            if page_no >= page.page_count:
                return None
            page_no += 1

    async def create_project(self, name: str, description: str = "") -> Project:
        data = await self._post("/projects", form={"projectName": name, "description": description})
        return self._parse(Project, data, "POST /projects")

    async def list_worker_groups(self) -> list[str]:
        data = await self._get("/worker-groups/all")
        return [str(x) for x in (data or [])]

    async def list_tenants(self) -> list[Tenant]:
        data = await self._get("/tenants/list")
        return list(self._parse_as(TypeAdapter(list[Tenant]), data or [], "GET /tenants/list"))

    # ----------------------------------------------------------------------------------------------------
    # Workflow definitions

    async def gen_task_codes(self, project_code: int, count: int) -> list[int]:
        """``count`` fresh task codes: 1 to 100 per call (DS 3.4 refuses more with 50017 "data N not valid")."""
        data = await self._get(
            "/projects/{p}/task-definition/gen-task-codes", path={"p": project_code}, params={"genNum": count}
        )
        return [int(x) for x in (data or [])]

    async def get_workflow_definition(self, project_code: int, workflow_code: int) -> DagData:
        template = "/projects/{p}/workflow-definition/{code}"
        data = await self._get(template, path={"p": project_code, "code": workflow_code})
        return self._parse(DagData, data, f"GET {template}")

    async def get_workflow_definition_by_name(self, project_code: int, name: str) -> DagData:
        template = "/projects/{p}/workflow-definition/query-by-name"
        data = await self._get(template, path={"p": project_code}, params={"name": name})
        return self._parse(DagData, data, f"GET {template}")

    async def list_workflow_definitions(
        self, project_code: int, *, search_val: str | None = None, page_no: int = 1, page_size: int = 100
    ) -> Page[WorkflowDefinition]:
        """A page of the project's workflows (``search_val``: name contains), newest update first."""
        template = "/projects/{p}/workflow-definition"
        data = await self._get(
            template,
            path={"p": project_code},
            params={"searchVal": search_val, "pageNo": page_no, "pageSize": page_size},
        )
        return self._parse(Page[WorkflowDefinition], data, f"GET {template}")

    async def create_workflow_definition(
        self,
        project_code: int,
        *,
        name: str,
        task_definition_json: str,
        task_relation_json: str,
        description: str = "",
        global_params: str = "[]",
        locations: str | None = None,
        timeout_minutes: int = 0,
        execution_type: WorkflowExecutionType = WorkflowExecutionType.PARALLEL,
        other_params_json: str | None = None,
    ) -> WorkflowDefinition:
        """Create over REST (created OFFLINE; the returned ``version`` may be 0, re-read by code)."""
        template = "/projects/{p}/workflow-definition"
        data = await self._post(
            template,
            path={"p": project_code},
            form={
                "name": name,
                "description": description,
                "globalParams": global_params,
                "locations": locations,
                "timeout": timeout_minutes,
                "taskRelationJson": task_relation_json,
                "taskDefinitionJson": task_definition_json,
                "otherParamsJson": other_params_json,
                "executionType": execution_type.value,
            },
        )
        return self._parse(WorkflowDefinition, data, f"POST {template}")

    async def update_workflow_definition(
        self,
        project_code: int,
        workflow_code: int,
        *,
        name: str,
        task_definition_json: str,
        task_relation_json: str,
        description: str = "",
        global_params: str = "[]",
        locations: str | None = None,
        timeout_minutes: int = 0,
        execution_type: WorkflowExecutionType = WorkflowExecutionType.PARALLEL,
        release_state: ReleaseState = ReleaseState.OFFLINE,
    ) -> WorkflowDefinition:
        """Update over REST; DS refuses it (50008) while the workflow is ONLINE. (Unlike the create, DS 3.4's update
        has no ``otherParamsJson`` parameter.)"""
        template = "/projects/{p}/workflow-definition/{code}"
        data = await self._put(
            template,
            path={"p": project_code, "code": workflow_code},
            form={
                "name": name,
                "description": description,
                "globalParams": global_params,
                "locations": locations,
                "timeout": timeout_minutes,
                "taskRelationJson": task_relation_json,
                "taskDefinitionJson": task_definition_json,
                "executionType": execution_type.value,
                "releaseState": release_state.value,
            },
        )
        return self._parse(WorkflowDefinition, data, f"PUT {template}")

    async def release_workflow(self, project_code: int, workflow_code: int, state: ReleaseState) -> None:
        """ONLINE fails with 50035 on an empty DAG; OFFLINE also takes the schedule offline."""
        await self._post(
            "/projects/{p}/workflow-definition/{code}/release",
            path={"p": project_code, "code": workflow_code},
            form={"releaseState": state.value},
        )

    async def online_workflow(self, project_code: int, workflow_code: int) -> None:
        await self.release_workflow(project_code, workflow_code, ReleaseState.ONLINE)

    async def offline_workflow(self, project_code: int, workflow_code: int) -> None:
        await self.release_workflow(project_code, workflow_code, ReleaseState.OFFLINE)

    async def list_workflow_versions(
        self, project_code: int, workflow_code: int, *, page_no: int = 1, page_size: int = 10
    ) -> Page[WorkflowDefinitionLog]:
        template = "/projects/{p}/workflow-definition/{code}/versions"
        data = await self._get(
            template,
            path={"p": project_code, "code": workflow_code},
            params={"pageNo": page_no, "pageSize": page_size},
        )
        return self._parse(Page[WorkflowDefinitionLog], data, f"GET {template}")

    # ----------------------------------------------------------------------------------------------------
    # Executions

    @staticmethod
    def _start_form(
        *,
        schedule_time: str,
        failure_strategy: FailureStrategy,
        warning_type: WarningType,
        warning_group_id: int | None,
        start_node_list: Sequence[int] | None,
        task_depend_type: TaskDependType | None,
        exec_type: str,
        run_mode: RunMode | None,
        priority: Priority,
        worker_group: str,
        tenant_code: str,
        environment_code: int,
        start_params: Mapping[str, str] | None,
        dry_run: bool,
        expected_parallelism_number: int | None,
        complement_dependent_mode: ComplementDependentMode | None,
        execution_order: ExecutionOrder | None,
    ) -> dict[str, str | int | None]:
        return {
            "scheduleTime": schedule_time,
            "failureStrategy": failure_strategy.value,
            "warningType": warning_type.value,
            "warningGroupId": warning_group_id,
            "startNodeList": ",".join(str(c) for c in start_node_list) if start_node_list else None,
            "taskDependType": task_depend_type.value if task_depend_type else None,
            "execType": exec_type,
            "runMode": run_mode.value if run_mode else None,
            "workflowInstancePriority": priority.value,
            "workerGroup": worker_group,
            "tenantCode": tenant_code,
            "environmentCode": environment_code,
            "startParams": json.dumps(dict(start_params)) if start_params else None,
            "dryRun": 1 if dry_run else 0,
            "expectedParallelismNumber": expected_parallelism_number,
            "complementDependentMode": complement_dependent_mode.value if complement_dependent_mode else None,
            "executionOrder": execution_order.value if execution_order else None,
        }

    @staticmethod
    def _instance_ids(data: Any) -> list[int]:
        if data is None:
            return []
        if isinstance(data, list):
            return [int(x) for x in data]
        return [int(data)]

    async def start_workflow_instance(
        self,
        project_code: int,
        workflow_code: int,
        *,
        schedule_time: str = "",
        failure_strategy: FailureStrategy = FailureStrategy.END,
        warning_type: WarningType = WarningType.NONE,
        warning_group_id: int | None = None,
        start_node_list: Sequence[int] | None = None,
        task_depend_type: TaskDependType | None = None,
        exec_type: str = "START_PROCESS",
        run_mode: RunMode | None = None,
        priority: Priority = Priority.MEDIUM,
        worker_group: str = "default",
        tenant_code: str = "default",
        environment_code: int = -1,
        start_params: Mapping[str, str] | None = None,
        dry_run: bool = False,
        expected_parallelism_number: int | None = None,
        complement_dependent_mode: ComplementDependentMode | None = None,
        execution_order: ExecutionOrder | None = None,
    ) -> list[int]:
        """Start a workflow (must be ONLINE, else 50004).

        ``schedule_time`` is ``""`` for a normal run and the complement JSON for a backfill.
        Returns the created instance ids (one for a normal run). Never retried.
        """
        form = self._start_form(
            schedule_time=schedule_time,
            failure_strategy=failure_strategy,
            warning_type=warning_type,
            warning_group_id=warning_group_id,
            start_node_list=start_node_list,
            task_depend_type=task_depend_type,
            exec_type=exec_type,
            run_mode=run_mode,
            priority=priority,
            worker_group=worker_group,
            tenant_code=tenant_code,
            environment_code=environment_code,
            start_params=start_params,
            dry_run=dry_run,
            expected_parallelism_number=expected_parallelism_number,
            complement_dependent_mode=complement_dependent_mode,
            execution_order=execution_order,
        )
        form["workflowDefinitionCode"] = workflow_code
        data = await self._post("/projects/{p}/executors/start-workflow-instance", path={"p": project_code}, form=form)
        return self._instance_ids(data)

    async def batch_start_workflow_instances(
        self,
        project_code: int,
        workflow_codes: Sequence[int],
        *,
        schedule_time: str = "",
        failure_strategy: FailureStrategy = FailureStrategy.END,
        warning_type: WarningType = WarningType.NONE,
        warning_group_id: int | None = None,
        exec_type: str = "START_PROCESS",
        run_mode: RunMode | None = None,
        priority: Priority = Priority.MEDIUM,
        worker_group: str = "default",
        tenant_code: str = "default",
        environment_code: int = -1,
        start_params: Mapping[str, str] | None = None,
        dry_run: bool = False,
        expected_parallelism_number: int | None = None,
        complement_dependent_mode: ComplementDependentMode | None = None,
        execution_order: ExecutionOrder | None = None,
    ) -> list[int]:
        """Start several workflows (or backfill them); returns all created instance ids. Never retried."""
        form = self._start_form(
            schedule_time=schedule_time,
            failure_strategy=failure_strategy,
            warning_type=warning_type,
            warning_group_id=warning_group_id,
            start_node_list=None,
            task_depend_type=None,
            exec_type=exec_type,
            run_mode=run_mode,
            priority=priority,
            worker_group=worker_group,
            tenant_code=tenant_code,
            environment_code=environment_code,
            start_params=start_params,
            dry_run=dry_run,
            expected_parallelism_number=expected_parallelism_number,
            complement_dependent_mode=complement_dependent_mode,
            execution_order=execution_order,
        )
        form["workflowDefinitionCodes"] = ",".join(str(c) for c in workflow_codes)
        data = await self._post(
            "/projects/{p}/executors/batch-start-workflow-instance", path={"p": project_code}, form=form
        )
        return self._instance_ids(data)

    async def list_workflow_instances(
        self,
        project_code: int,
        *,
        page_no: int = 1,
        page_size: int = 10,
        workflow_code: int | None = None,
        search_val: str | None = None,
        executor_name: str | None = None,
        state: WorkflowExecutionStatus | None = None,
        host: str | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
    ) -> Page[WorkflowInstance]:
        """Newest first (start time desc).

        Dates filter on start time and are sent as UTC wall time (the DS user or JVM zone must be UTC).
        """
        template = "/projects/{p}/workflow-instances"
        data = await self._get(
            template,
            path={"p": project_code},
            params={
                "pageNo": page_no,
                "pageSize": page_size,
                "workflowDefinitionCode": workflow_code,
                "searchVal": search_val,
                "executorName": executor_name,
                "stateType": state.value if state else None,
                "host": host,
                "startDate": format_ds_datetime(start_date) if start_date else None,
                "endDate": format_ds_datetime(end_date) if end_date else None,
            },
            success=_INSTANCE_PAGE,
        )
        if isinstance(data, Page):
            return data
        return self._parse(Page[WorkflowInstance], data, f"GET {template}")

    async def get_workflow_instance(self, project_code: int, instance_id: int) -> WorkflowInstance:
        template = "/projects/{p}/workflow-instances/{id}"
        data = await self._get(template, path={"p": project_code, "id": instance_id})
        return self._parse(WorkflowInstance, data, f"GET {template}")

    async def get_instance_tasks(self, project_code: int, instance_id: int) -> InstanceTasks:
        template = "/projects/{p}/workflow-instances/{id}/tasks"
        data = await self._get(template, path={"p": project_code, "id": instance_id})
        return self._parse(InstanceTasks, data, f"GET {template}")

    # ----------------------------------------------------------------------------------------------------
    # Schedules

    @staticmethod
    def _schedule_form(
        spec: ScheduleSpec,
        *,
        warning_type: WarningType,
        warning_group_id: int,
        failure_strategy: FailureStrategy,
        worker_group: str,
        tenant_code: str,
        environment_code: int,
        priority: Priority,
    ) -> dict[str, str | int | None]:
        return {
            "schedule": spec.to_ds_json(),
            "warningType": warning_type.value,
            "warningGroupId": warning_group_id,
            "failureStrategy": failure_strategy.value,
            "workerGroup": worker_group,
            "tenantCode": tenant_code,
            "environmentCode": environment_code,
            "workflowInstancePriority": priority.value,
        }

    async def create_schedule(
        self,
        project_code: int,
        workflow_code: int,
        spec: ScheduleSpec,
        *,
        warning_type: WarningType = WarningType.NONE,
        warning_group_id: int = 1,
        failure_strategy: FailureStrategy = FailureStrategy.CONTINUE,
        worker_group: str = "default",
        tenant_code: str = "default",
        environment_code: int = -1,
        priority: Priority = Priority.MEDIUM,
    ) -> Schedule:
        """Create the workflow's schedule (created OFFLINE; the workflow must be ONLINE; one per workflow)."""
        form = self._schedule_form(
            spec,
            warning_type=warning_type,
            warning_group_id=warning_group_id,
            failure_strategy=failure_strategy,
            worker_group=worker_group,
            tenant_code=tenant_code,
            environment_code=environment_code,
            priority=priority,
        )
        form["workflowDefinitionCode"] = workflow_code
        data = await self._post("/projects/{p}/schedules", path={"p": project_code}, form=form)
        return self._parse(Schedule, data, "POST /projects/{p}/schedules")

    async def update_schedule(
        self,
        project_code: int,
        schedule_id: int,
        spec: ScheduleSpec,
        *,
        warning_type: WarningType = WarningType.NONE,
        warning_group_id: int = 1,
        failure_strategy: FailureStrategy = FailureStrategy.CONTINUE,
        worker_group: str = "default",
        tenant_code: str = "default",
        environment_code: int = -1,
        priority: Priority = Priority.MEDIUM,
    ) -> None:
        """Update a schedule; refused (10023) while it is online. Re-read it with :meth:`list_schedules`."""
        form = self._schedule_form(
            spec,
            warning_type=warning_type,
            warning_group_id=warning_group_id,
            failure_strategy=failure_strategy,
            worker_group=worker_group,
            tenant_code=tenant_code,
            environment_code=environment_code,
            priority=priority,
        )
        await self._put("/projects/{p}/schedules/{id}", path={"p": project_code, "id": schedule_id}, form=form)

    async def online_schedule(self, project_code: int, schedule_id: int) -> None:
        await self._post("/projects/{p}/schedules/{id}/online", path={"p": project_code, "id": schedule_id}, form={})

    async def offline_schedule(self, project_code: int, schedule_id: int) -> None:
        await self._post("/projects/{p}/schedules/{id}/offline", path={"p": project_code, "id": schedule_id}, form={})

    async def list_schedules(
        self,
        project_code: int,
        *,
        workflow_code: int | None = None,
        page_no: int = 1,
        page_size: int = 10,
        search_val: str | None = None,
    ) -> Page[Schedule]:
        data = await self._get(
            "/projects/{p}/schedules",
            path={"p": project_code},
            params={
                "pageNo": page_no,
                "pageSize": page_size,
                "workflowDefinitionCode": workflow_code,
                "searchVal": search_val,
            },
        )
        return self._parse(Page[Schedule], data, "GET /projects/{p}/schedules")

    async def get_schedule_of_workflow(self, project_code: int, workflow_code: int) -> Schedule | None:
        page = await self.list_schedules(project_code, workflow_code=workflow_code, page_size=10)
        for schedule in page.total_list:
            if schedule.workflow_definition_code == workflow_code:
                return schedule
        return None

    # ----------------------------------------------------------------------------------------------------
    # Logs

    async def get_task_log(self, task_instance_id: int, *, skip_line_num: int = 0, limit: int = 1000) -> LogChunk:
        """One window of a task's log; 10191 while the task has no host yet."""
        data = await self._get(
            "/log/detail",
            params={"taskInstanceId": task_instance_id, "skipLineNum": skip_line_num, "limit": limit},
        )
        return self._parse(LogChunk, data, "GET /log/detail")

    async def read_task_log(self, task_instance_id: int, *, chunk_lines: int = 1000, max_lines: int = 100_000) -> str:
        """The whole log, paging by our own ``\\n`` count (DS's ``lineNum`` counts CRLF pieces only)."""
        parts: list[str] = []
        skip = 0
        while skip < max_lines:
            window = await self.get_task_log(task_instance_id, skip_line_num=skip, limit=chunk_lines)
            if not window.message:
                break
            parts.append(window.message)
            lines = window.message.count("\n") or 1
            skip += lines
            if lines < chunk_lines:
                break
        return "".join(parts)


def outcome_of(exc: BaseException) -> str:
    """The ``outcome`` label for a failed call."""
    if isinstance(exc, DolphinAuthError):
        return "unauthorized"
    if isinstance(exc, DolphinTimeout):
        return "timeout"
    if isinstance(exc, DolphinUnavailable):
        return "unavailable"
    if isinstance(exc, DolphinError):
        return "ds_error"
    return "error"
