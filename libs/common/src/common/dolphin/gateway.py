"""``DolphinGatewayClient``: the DS Python gateway (py4j) used by publishing (CONTRACT §1).

py4j is used directly (pydolphinscheduler targets DS 3.2). Every py4j call blocks, so each one runs in this client's
own small thread pool; the event loop never waits on a socket. Arguments are passed in the **Java** order of the
entry-point methods (CONTRACT §1.3), which differs from the SDK wrappers.

Error mapping: connection refused/reset/closed and read timeouts -> ``DolphinGatewayUnavailable`` (transient);
a wrong auth token -> ``DolphinAuthError``; an exception thrown by the Java code (``Py4JJavaError``) or an invalid
call (unknown method, wrong arity) -> ``DolphinGatewayError`` with the Java message, scrubbed of our secrets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Self, TypeVar

from opentelemetry import trace

# importing java_collections registers py4j's converters for java.util.Map/List answers
from py4j.java_collections import JavaList, JavaMap
from py4j.java_gateway import GatewayParameters, JavaGateway, JavaObject
from py4j.protocol import Py4JAuthenticationError, Py4JError, Py4JJavaError, Py4JNetworkError
from pydantic import SecretStr

from common.dolphin.errors import DolphinAuthError, DolphinGatewayError, DolphinGatewayUnavailable
from common.dolphin.metrics import observe_call
from common.dolphin.models import (
    CodeAndVersion,
    DataSourceRef,
    GatewayProject,
    ReleaseState,
    WarningType,
    WorkflowExecutionType,
)
from common.errors import PlatformError

logger = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

R = TypeVar("R")

#: The SDK's built-in default py4j token (CONTRACT §1.1); deployments should override it.
#: DS's documented default ``python-gateway.auth-token``: public, so never accepted as the platform's token (a
#: publisher refuses to start with it, docs/security.md)
DEFAULT_GATEWAY_AUTH_TOKEN = SecretStr("jwUDzpLsNKEFER4*a8gruBH_GsAurNxU7A@Xc")


def _is_auth_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, Py4JAuthenticationError):
            return True
        if "bad auth token" in str(getattr(current, "args", ("",))[0] or "").lower():
            return True
        cause = getattr(current, "cause", None)
        current = cause if isinstance(cause, BaseException) else current.__cause__
    return False


class DolphinGatewayClient:
    """Async facade over ``py4j.java_gateway.JavaGateway`` for the DS ``PythonGateway`` entry point."""

    def __init__(
        self,
        host: str,
        port: int,
        auth_token: SecretStr,
        *,
        read_timeout: float = 30.0,
        max_workers: int = 4,
    ) -> None:
        self._host = host
        self._port = port
        self._auth_token = auth_token
        self._read_timeout = read_timeout
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ds-gateway")
        self._gateway: JavaGateway | None = None

    def __repr__(self) -> str:
        return f"DolphinGatewayClient(host={self._host!r}, port={self._port})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close our connections (never ``shutdown``: that would stop the DS gateway server)."""
        gateway, self._gateway = self._gateway, None
        if gateway is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, gateway.close)
        self._executor.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------------------------------------------------
    # Plumbing

    def _entry_point(self) -> Any:
        if self._gateway is None:
            self._gateway = JavaGateway(
                gateway_parameters=GatewayParameters(
                    address=self._host,
                    port=self._port,
                    auto_convert=True,
                    auth_token=self._auth_token.get_secret_value() or None,
                    read_timeout=self._read_timeout,
                    # we keep no Java objects alive; no finalizer traffic after the gateway goes away
                    enable_memory_management=False,
                )
            )
        return self._gateway.entry_point

    def _scrub(self, text: str) -> str:
        secret = self._auth_token.get_secret_value()
        return text.replace(secret, "***") if secret else text

    def _java_error(self, method: str, exc: Py4JJavaError) -> DolphinGatewayError:
        """Read the Java exception's class and message (still on the worker thread)."""
        java_class: str | None = None
        try:
            java_exc = exc.java_exception
            message = java_exc.getMessage()
            java_class = str(java_exc.getClass().getName())
            if not message:
                cause = java_exc.getCause()
                message = cause.getMessage() if cause is not None else None
            text = str(message) if message else java_class
        except Py4JError:
            text = str(exc.errmsg)
        return DolphinGatewayError(method, self._scrub(text), java_class=java_class)

    def _invoke(self, method: str, fn: Callable[[Any], R]) -> R:
        """Run ``fn(entry_point)`` on the calling (worker) thread and map py4j errors."""
        try:
            return fn(self._entry_point())
        except Py4JJavaError as exc:
            raise self._java_error(method, exc) from None
        except Py4JNetworkError as exc:
            if _is_auth_failure(exc):
                raise DolphinAuthError(f"DolphinScheduler gateway refused the auth token ({method})") from None
            cause = exc.cause if isinstance(exc.cause, BaseException) else None
            reason = type(cause).__name__ if cause is not None else "network error"
            raise DolphinGatewayUnavailable(
                f"DolphinScheduler gateway {self._host}:{self._port} unavailable during {method}: {reason}"
            ) from None
        except Py4JAuthenticationError:
            raise DolphinAuthError(f"DolphinScheduler gateway refused the auth token ({method})") from None
        except Py4JError as exc:
            if _is_auth_failure(exc):
                raise DolphinAuthError(f"DolphinScheduler gateway refused the auth token ({method})") from None
            text = str(exc.args[0] if exc.args else exc)
            if "Trace:" not in text:
                # py4j turns a network failure (after its own single retry) into a bare
                # "An error occurred while calling t.<method>" with no Java trace.
                raise DolphinGatewayUnavailable(
                    f"DolphinScheduler gateway {self._host}:{self._port} unavailable during {method}"
                ) from None
            raise DolphinGatewayError(method, self._scrub(text)) from None
        except OSError as exc:
            raise DolphinGatewayUnavailable(
                f"DolphinScheduler gateway {self._host}:{self._port} unavailable during {method}: {type(exc).__name__}"
            ) from None

    async def _call(self, method: str, fn: Callable[[Any], R]) -> R:
        started = time.perf_counter()
        outcome = "ok"
        try:
            # py4j has no OpenTelemetry instrumentation: one CLIENT span per call (errors recorded by the span)
            with _tracer.start_as_current_span(
                f"ds.gateway {method}",
                kind=trace.SpanKind.CLIENT,
                attributes={"rpc.system": "py4j", "rpc.method": method, "server.address": self._host},
            ):
                return await asyncio.get_running_loop().run_in_executor(self._executor, self._invoke, method, fn)
        except DolphinAuthError:
            outcome = "unauthorized"
            raise
        except DolphinGatewayUnavailable:
            outcome = "unavailable"
            raise
        except PlatformError:
            outcome = "ds_error"
            raise
        except BaseException:
            outcome = "error"
            raise
        finally:
            observe_call("gateway", method, outcome, time.perf_counter() - started)

    # ------------------------------------------------------------------------------------------------------------
    # Entry-point methods

    async def ping(self) -> str:
        return await self._call("ping", lambda ep: str(ep.ping()))

    async def get_gateway_version(self) -> str | None:
        def call(ep: Any) -> str | None:
            version = ep.getGatewayVersion()
            return None if version is None else str(version)

        return await self._call("getGatewayVersion", call)

    async def gen_task_code_list(self, count: int) -> list[int]:
        """``count`` fresh task codes: 1 to 100 per call (DS 3.4 answers more with ``DATA_IS_NOT_VALID`` "data N not
        valid", raised as :class:`DolphinGatewayError`)."""

        def call(ep: Any) -> list[int]:
            result = ep.genTaskCodeList(count)
            data = _to_python(result)
            if not isinstance(data, dict):
                raise DolphinGatewayError("genTaskCodeList", f"unexpected answer type {type(data).__name__}")
            status = str(data.get("status", ""))
            if status not in ("SUCCESS", "0"):
                raise DolphinGatewayError("genTaskCodeList", self._scrub(str(data.get("msg") or status)))
            return [int(x) for x in data.get("data") or []]

        return await self._call("genTaskCodeList", call)

    async def get_code_and_version(self, project_name: str, workflow_name: str, task_name: str) -> CodeAndVersion:
        """The existing task's code and version, or a fresh code with version 0 when anything is unknown."""

        def call(ep: Any) -> CodeAndVersion:
            data = _to_python(ep.getCodeAndVersion(project_name, workflow_name, task_name))
            return CodeAndVersion(code=int(data["code"]), version=int(data["version"]))

        return await self._call("getCodeAndVersion", call)

    async def create_or_update_workflow(
        self,
        *,
        user_name: str,
        project_name: str,
        name: str,
        task_relation_json: str,
        task_definition_json: str,
        description: str = "",
        global_params: str = "[]",
        schedule: str | None = None,
        online_schedule: bool = False,
        warning_type: WarningType = WarningType.NONE,
        warning_group_id: int = 0,
        timeout_minutes: int = 0,
        worker_group: str = "default",
        release_state: ReleaseState = ReleaseState.OFFLINE,
        other_params_json: str | None = None,
        execution_type: WorkflowExecutionType = WorkflowExecutionType.PARALLEL,
    ) -> int:
        """Create or update a workflow by name; returns its code.

        An existing workflow is taken offline first (which also offlines its schedule) and updated; DS bumps
        versions only for changed content. ``schedule`` (JSON of CONTRACT §2.3) onlines the workflow and upserts
        the schedule; ``online_schedule`` then sets it online. The user must exist with a tenant and the project
        must exist. Not idempotent from DS's view of the schedule state, so it is never retried here.
        """
        args: tuple[Any, ...] = (
            user_name,
            project_name,
            name,
            description,
            global_params,
            schedule,
            online_schedule,
            warning_type.value,
            warning_group_id,
            timeout_minutes,
            worker_group,
            release_state.ds_code,
            task_relation_json,
            task_definition_json,
            other_params_json,
            execution_type.value,
        )
        return await self._call("createOrUpdateWorkflow", lambda ep: int(ep.createOrUpdateWorkflow(*args)))

    async def create_or_grant_project(self, user_name: str, project_name: str, description: str = "") -> None:
        await self._call(
            "createOrGrantProject", lambda ep: ep.createOrGrantProject(user_name, project_name, description)
        )

    async def query_project_by_name(self, user_name: str, project_name: str) -> GatewayProject | None:
        """The project (code, name, description), or ``None`` when the gateway answers null."""

        def call(ep: Any) -> GatewayProject | None:
            project = ep.queryProjectByName(user_name, project_name)
            if project is None:
                return None
            description = project.getDescription()
            return GatewayProject(
                code=int(project.getCode()),
                name=str(project.getName()),
                description=None if description is None else str(description),
            )

        return await self._call("queryProjectByName", call)

    async def query_project_code(self, user_name: str, project_name: str) -> int | None:
        project = await self.query_project_by_name(user_name, project_name)
        return None if project is None else project.code

    async def get_datasource(self, name: str, datasource_type: str | None = None) -> DataSourceRef:
        def call(ep: Any) -> DataSourceRef:
            ds = ep.getDatasource(name, datasource_type)
            if ds is None:
                raise DolphinGatewayError("getDatasource", f"datasource {name!r} not found")
            ds_type = ds.getType()
            type_name = str(ds_type.name()) if hasattr(ds_type, "name") else str(ds_type)
            return DataSourceRef(id=int(ds.getId()), name=str(ds.getName()), type=type_name)

        return await self._call("getDatasource", call)

    async def exec_workflow_instance(
        self,
        user_name: str,
        project_name: str,
        workflow_name: str,
        *,
        worker_group: str = "default",
        warning_type: WarningType = WarningType.NONE,
        warning_group_id: int = 0,
    ) -> None:
        """The 3.3+ 6-argument trigger (inferred, CONTRACT §1.3). Returns nothing: find the instance over REST."""
        await self._call(
            "execWorkflowInstance",
            lambda ep: ep.execWorkflowInstance(
                user_name, project_name, workflow_name, worker_group, warning_type.value, warning_group_id
            ),
        )

    async def get_dependent_info(
        self, project_name: str, workflow_name: str, task_name: str | None = None
    ) -> dict[str, int]:
        def call(ep: Any) -> dict[str, int]:
            data = _to_python(ep.getDependentInfo(project_name, workflow_name, task_name))
            return {str(k): int(v) for k, v in data.items() if v is not None}

        return await self._call("getDependentInfo", call)


def _to_python(value: Any) -> Any:
    """Deep-copy py4j collection proxies (JavaMap/JavaList) into plain Python objects."""
    if isinstance(value, JavaMap | Mapping):
        return {str(k): _to_python(v) for k, v in value.items()}
    if isinstance(value, JavaList | list | tuple):
        return [_to_python(v) for v in value]
    if isinstance(value, JavaObject):
        return str(value)  # e.g. a Java enum such as DS's Status: its toString() is the name
    return value
