"""DS REST conventions: form or query parameters (merged, as Spring's ``@RequestParam`` reads both), their
checks, and the envelope ``{code, msg, data, success, failed}``; the enums DS accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse

from ds_emulator.errors import DsError
from ds_emulator.model import User
from ds_emulator.state import Emulator

PREFIX = "/dolphinscheduler"


class _Unauthorized(Exception):
    pass


class _BadParam(Exception):
    pass


def envelope(data: Any = None, code: int = 0, msg: str = "success", status: int = 200) -> JSONResponse:
    body = {"code": code, "msg": msg, "data": data, "success": code == 0, "failed": code != 0}
    return JSONResponse(body, status_code=status)


class Params:
    """Merged query + form parameters of one request, read the way Spring binds ``@RequestParam``."""

    def __init__(self, values: dict[str, str], path: dict[str, str]) -> None:
        self.values = values
        self.path = path

    @classmethod
    async def read(cls, request: Request) -> Params:
        values = dict(request.query_params)
        if request.method in ("POST", "PUT", "DELETE"):
            body = (await request.body()).decode("utf-8", "replace")
            content_type = request.headers.get("content-type", "")
            if body and "json" not in content_type:
                values.update(dict(parse_qsl(body, keep_blank_values=True)))
        return cls(values, dict(request.path_params))

    def text(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        value: str | None = self.values.get(name)
        if value is None:
            if required:
                raise _BadParam(f"Required request parameter '{name}' for method parameter type String is not present")
            return default
        return value

    def req(self, name: str) -> str:
        value = self.text(name, required=True)
        assert value is not None
        return value

    def number(self, name: str, default: int | None = None, *, required: bool = False) -> int | None:
        raw = self.values.get(name)
        if raw is None or (raw == "" and not required):
            if required:
                raise _BadParam(f"Required request parameter '{name}' for method parameter type Integer is not present")
            return default
        try:
            return int(raw)
        except ValueError:
            raise _BadParam(
                f"Failed to convert value of type 'java.lang.String' to required type 'int'; "
                f'For input string: "{raw}"'
            ) from None

    def req_int(self, name: str) -> int:
        value = self.number(name, required=True)
        assert value is not None
        return value

    def path_int(self, name: str) -> int:
        raw = self.path[name]
        try:
            return int(raw)
        except ValueError:
            raise _BadParam(
                f"Failed to convert value of type 'java.lang.String' to required type 'long'; "
                f'For input string: "{raw}"'
            ) from None

    def enum(self, name: str, allowed: tuple[str, ...], default: str | None = None, *, required: bool = False) -> str:
        value = self.maybe_enum(name, allowed, default, required=required)
        if value is None:
            raise _BadParam(f"Failed to convert value of type 'java.lang.String' to enum for value '{value}'")
        return value

    def maybe_enum(
        self, name: str, allowed: tuple[str, ...], default: str | None = None, *, required: bool = False
    ) -> str | None:
        """An enum parameter as Spring binds it: case-sensitive names; absent or empty is null (or the default)."""
        value = self.text(name, default, required=required)
        if value == "" and not required:
            value = default
        if value is not None and value not in allowed:
            raise _BadParam(f"Failed to convert value of type 'java.lang.String' to enum for value '{value}'")
        return value

    def paging(self) -> tuple[int, int]:
        page_no = self.req_int("pageNo")
        page_size = self.req_int("pageSize")
        if page_no < 1:
            raise DsError("REQUEST_PARAMS_NOT_VALID_ERROR", "pageNo")
        if page_size < 1:
            raise DsError("REQUEST_PARAMS_NOT_VALID_ERROR", "pageSize")
        return page_no, page_size


Handler = Callable[[Emulator, User, Params], Any]
FAILURE_STRATEGIES = ("END", "CONTINUE")
WARNING_TYPES = ("NONE", "SUCCESS", "FAILURE", "ALL")
PRIORITIES = ("HIGHEST", "HIGH", "MEDIUM", "LOW", "LOWEST")
RELEASE_STATES = ("ONLINE", "OFFLINE")
WF_STATES = (
    "SUBMITTED_SUCCESS", "RUNNING_EXECUTION", "READY_PAUSE", "PAUSE", "READY_STOP", "STOP", "FAILURE", "SUCCESS",
    "SERIAL_WAIT", "FAILOVER",
)  # fmt: skip


#: ``CommandType`` names (a start's ``execType``)
COMMAND_TYPES = (
    "START_PROCESS", "START_CURRENT_TASK_PROCESS", "RECOVER_TOLERANCE_FAULT_PROCESS", "RECOVER_SUSPENDED_PROCESS",
    "START_FAILURE_TASK_PROCESS", "COMPLEMENT_DATA", "SCHEDULER", "REPEAT_RUNNING", "PAUSE", "STOP",
    "RECOVER_SERIAL_WAIT", "EXECUTE_TASK", "DYNAMIC_GENERATION",
)  # fmt: skip


TASK_DEPEND_TYPES = ("TASK_ONLY", "TASK_PRE", "TASK_POST")
RUN_MODES = ("RUN_MODE_SERIAL", "RUN_MODE_PARALLEL")
