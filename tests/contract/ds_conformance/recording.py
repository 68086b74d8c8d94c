"""What our DolphinScheduler clients send, recorded from the clients themselves (no hand-kept list).

- **REST**: every public method of :class:`DolphinRestClient` is called, through a recording ``httpx`` transport,
  against the DS emulator's app in this process (seeded with a project, workflow, schedule, instance and task instance
  so the multi-step methods run through). Each method is called once with only its required arguments and then five
  times with every optional argument set, enums walking through all their members, so every parameter the client can
  send and every enum value it can put in one appears in a request.
- **Gateway**: every public method of :class:`DolphinGatewayClient` is called with its ``py4j`` entry point replaced by
  a recorder; each argument gets a value that names the Java parameter it is meant for, so the recorded positional
  arguments show the order the client passes them in.

Arguments are chosen by parameter name (:data:`_REST_VALUES`, :data:`_GATEWAY_MEANING`): a new client method with a
parameter name not known here fails the conformance test until it is added, so nothing goes unchecked silently.
"""

from __future__ import annotations

import contextlib
import enum
import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
from pydantic import SecretStr

from common.dolphin import ReleaseState, ScheduleSpec
from common.dolphin.gateway import DolphinGatewayClient
from common.dolphin.rest import DolphinRestClient
from common.errors import PlatformError
from ds_emulator.app import create_app
from ds_emulator.faults import Faults
from ds_emulator.state import Emulator

TOKEN = "conformance-token"
PREFIX = "/dolphinscheduler"
VARIANTS = 5  # the most members of an enum our clients send (Priority)


@dataclass(frozen=True)
class RestRequest:
    client_method: str
    method: str
    path: str  # below /dolphinscheduler
    params: Mapping[str, str]  # query and form, merged (as Spring's @RequestParam reads them)


@dataclass(frozen=True)
class GatewayCall:
    client_method: str
    java_method: str
    args: tuple[Any, ...]
    #: Java parameter name -> the value the client was given for it (from the argument's name)
    meant: Mapping[str, Any] = field(default_factory=dict)


class _Recorder(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = (await request.aread()).decode()
        params = dict(parse_qsl(request.url.query.decode(), keep_blank_values=True))
        if body and "x-www-form-urlencoded" in request.headers.get("content-type", ""):
            params.update(parse_qsl(body, keep_blank_values=True))
        path = request.url.path
        self.requests.append((request.method, path[len(PREFIX) :] if path.startswith(PREFIX) else path, params))
        return await self.inner.handle_async_request(request)


@dataclass
class _Seed:
    project_code: int
    workflow_code: int
    workflow_name: str
    schedule_id: int
    instance_id: int
    task_instance_id: int
    task_definition_json: str
    task_relation_json: str


def _seeded_emulator() -> tuple[Emulator, _Seed]:
    now = [datetime(2025, 1, 1, tzinfo=UTC).timestamp()]
    emu = Emulator(access_token=TOKEN, ds_version="3.4.2", clock=lambda: now[0])
    admin = emu.users[1]
    project = emu.create_project(admin, "conformance", "")
    a, b = emu.gen_task_codes(2)
    tasks = json.dumps(
        [
            {"code": c, "version": 1, "name": n, "taskType": "SHELL", "taskParams": {"rawScript": f"echo {n}"}}
            for c, n in ((a, "A"), (b, "B"))
        ]
    )
    relations = json.dumps([{"preTaskCode": 0, "postTaskCode": a}, {"preTaskCode": a, "postTaskCode": b}])
    args = ("admin", "conformance", "wf", "", "[]", None, False, "NONE", 0, 0, "default", 1, relations, tasks, None)
    code = emu.gateway_create_or_update(*args, "PARALLEL")
    wf = emu.workflows[code]
    spec = {"startTime": "2025-01-01 00:00:00", "endTime": "2099-01-01 00:00:00", "crontab": "0 0 2 * * ? *"}
    schedule = emu.upsert_schedule(
        admin, wf, json.dumps(spec), warning_type="NONE", warning_group_id=0, failure_strategy="END",
        worker_group="default", tenant_code="default", environment_code=-1, priority="MEDIUM",
    )  # fmt: skip
    instance_id = emu.start(admin, wf)
    now[0] += 60
    emu.advance()
    task_instance_id = next(iter(emu.task_runs))
    return emu, _Seed(project.code, code, wf.name, schedule.id, instance_id, task_instance_id, tasks, relations)


def _is_optional(annotation: Any) -> bool:
    return isinstance(annotation, types.UnionType) and type(None) in typing.get_args(annotation)


def _base(annotation: Any) -> Any:
    if isinstance(annotation, types.UnionType):
        return next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation


def _rest_values(seed: _Seed) -> dict[str, Callable[[int], Any]]:
    """Values for parameters without a default, by name; the int is the variant (0..VARIANTS-1)."""
    spec = ScheduleSpec(
        start_time=datetime(2025, 1, 1, tzinfo=UTC), end_time=datetime(2099, 1, 1, tzinfo=UTC), crontab="0 0 3 * * ? *"
    )
    return {
        "project_code": lambda _: seed.project_code,
        "workflow_code": lambda _: seed.workflow_code,
        "workflow_codes": lambda _: [seed.workflow_code],
        "instance_id": lambda _: seed.instance_id,
        "schedule_id": lambda _: seed.schedule_id,
        "task_instance_id": lambda _: seed.task_instance_id,
        "user_id": lambda _: 1,
        "name": lambda _: seed.workflow_name,
        "count": lambda _: 3,
        "spec": lambda _: spec,
        "state": lambda v: list(ReleaseState)[v % len(ReleaseState)],
        "task_definition_json": lambda _: seed.task_definition_json,
        "task_relation_json": lambda _: seed.task_relation_json,
        "user_name": lambda _: "admin",
        "password": lambda _: SecretStr("dolphinscheduler123"),
        "expire_time": lambda _: datetime(2099, 1, 1, tzinfo=UTC),
    }


def _optional_value(name: str, annotation: Any, default: Any, variant: int) -> Any:
    """A value other than "not sent" for an optional parameter, by its type."""
    base = _base(annotation)
    origin = typing.get_origin(base) or base
    if isinstance(base, type) and issubclass(base, enum.Enum):
        members = list(base)
        return members[variant % len(members)]
    if base is bool:
        return variant % 2 == 1
    if base is int:
        return default if default is not None and name in ("page_no", "page_size", "limit") else 7
    if base is str:
        if default not in (None, ""):
            return default  # e.g. exec_type: only its default is something the client sends on its own
        if name == "schedule_time":
            return json.dumps(
                {"complementStartDate": "2025-01-01 00:00:00", "complementEndDate": "2025-01-02 00:00:00"}
            )
        if name in ("global_params", "locations", "other_params_json"):
            return "[]"
        return f"{name}-{variant}"
    if base is datetime:
        return datetime(2025, 1, 1, 12, tzinfo=UTC)
    if base is SecretStr:
        return SecretStr("a-token-of-ours")
    if base is bytes:
        return bytes(16)  # e.g. known_digest: a digest no answer has, so the page is read as usual
    if origin in (Sequence, list, tuple, typing.Sequence):
        return [1, 2]
    if origin in (Mapping, dict, typing.Mapping):
        return {"dt": "2025-01-01"}
    raise LookupError(f"no value for optional parameter {name}: {annotation}")


def public_methods(cls: type) -> list[str]:
    out = []
    for name, fn in inspect.getmembers(cls):
        if name.startswith("_") or name in ("aclose", "create"):
            continue
        if inspect.iscoroutinefunction(fn):
            out.append(name)
    return sorted(out)


async def record_rest_requests() -> list[RestRequest]:
    """Every request :class:`DolphinRestClient` makes, per public method, minimal and with every option set."""
    emu, seed = _seeded_emulator()
    transport = _Recorder(httpx.ASGITransport(app=create_app(emu, Faults())))
    values = _rest_values(seed)
    out: list[RestRequest] = []
    async with DolphinRestClient.create(
        "http://ds" + PREFIX, SecretStr(TOKEN), fake=transport, read_attempts=1
    ) as client:
        for name in public_methods(DolphinRestClient):
            fn = getattr(client, name)
            signature = inspect.signature(fn, eval_str=True)
            for variant in range(VARIANTS + 1):  # 0: only what is required; 1..: every option
                args: list[Any] = []
                kwargs: dict[str, Any] = {}
                for p in signature.parameters.values():
                    if p.name == "http":
                        value: Any = client._http
                    elif p.default is inspect.Parameter.empty:
                        if p.name not in values:
                            raise LookupError(f"DolphinRestClient.{name}: no value for parameter {p.name}")
                        value = values[p.name](variant)
                    elif variant == 0:
                        continue
                    else:
                        value = _optional_value(p.name, p.annotation, p.default, variant - 1)
                    if p.kind is inspect.Parameter.KEYWORD_ONLY:
                        kwargs[p.name] = value
                    else:
                        args.append(value)
                before = len(transport.requests)
                with contextlib.suppress(PlatformError):  # the emulator may refuse the variant: the request counts
                    await fn(*args, **kwargs)
                out += [RestRequest(name, m, path, params) for m, path, params in transport.requests[before:]]
    return out


# ---------------------------------------------------------------------------------------------------------------
# Gateway

#: our argument name -> the Java parameter it stands for, where the names differ beyond snake_case/camelCase
_GATEWAY_MEANING: Mapping[str, Mapping[str, str]] = {
    "create_or_grant_project": {"project_name": "name", "description": "desc"},
    "create_or_update_workflow": {"timeout_minutes": "timeout"},
    "get_code_and_version": {"workflow_name": "workflowDefinitionName"},
    "gen_task_code_list": {"count": "genNum"},
    "get_datasource": {"name": "datasourceName", "datasource_type": "type"},
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


class _JavaObject:
    """What a py4j call answers with when Java returns an object: getters by name."""

    def __init__(self, **values: Any) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Callable[[], Any]:
        key = name[3].lower() + name[4:] if name.startswith("get") else name
        if key not in self._values:
            raise AttributeError(name)
        return lambda: self._values[key]


_ANSWERS: Mapping[str, Any] = {
    "ping": "PONG",
    "getGatewayVersion": "3.4.2",
    "genTaskCodeList": {"status": "SUCCESS", "msg": "success", "data": [11, 12, 13]},
    "getCodeAndVersion": {"code": 11, "version": 1},
    "createOrUpdateWorkflow": 21,
    "queryProjectByName": _JavaObject(code=31, name="p", description=None),
    "getDatasource": _JavaObject(id=41, name="d", type="POSTGRESQL"),
    "getDependentInfo": {"projectCode": 31, "workflowDefinitionCode": 21},
}


class _EntryPoint:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            self.calls.append((name, args))
            return _ANSWERS.get(name)

        return call


def _meaningful_value(java_name: str, annotation: Any, position: int) -> Any:
    """A value that says which Java parameter it is for (strings carry the name, numbers are distinct)."""
    base = _base(annotation)
    if isinstance(base, type) and issubclass(base, enum.Enum):
        members = list(base)
        return members[-1]  # not the default member, so a dropped argument shows
    if base is bool:
        return True
    if base is int:
        return 1000 + position
    if base is str:
        return f"<{java_name}>"
    raise LookupError(f"no value for {java_name}: {annotation}")


async def record_gateway_calls() -> list[GatewayCall]:
    """Every ``py4j`` call :class:`DolphinGatewayClient` makes, per public method, with every argument set."""
    out: list[GatewayCall] = []
    client = DolphinGatewayClient("127.0.0.1", 1, SecretStr("unused"))
    entry = _EntryPoint()
    client._entry_point = lambda: entry  # type: ignore[method-assign]  # the recorder instead of a JavaGateway
    try:
        for name in public_methods(DolphinGatewayClient):
            fn = getattr(client, name)
            signature = inspect.signature(fn, eval_str=True)
            kwargs: dict[str, Any] = {}
            meant: dict[str, Any] = {}
            for position, p in enumerate(signature.parameters.values()):
                java_name = _GATEWAY_MEANING.get(name, {}).get(p.name, _camel(p.name))
                value = _meaningful_value(java_name, p.annotation, position)
                kwargs[p.name] = value
                meant[java_name] = value
            before = len(entry.calls)
            await fn(**kwargs)
            out += [GatewayCall(name, java, args, meant) for java, args in entry.calls[before:]]
    finally:
        await client.aclose()
    return out
