"""DolphinScheduler errors, mapped onto the platform hierarchy (``common.errors``).

- A DS business error (HTTP 200, ``code != 0``) becomes a :class:`DolphinApiError` (a ``DomainError``)
  that keeps DS's numeric ``ds_code`` and ``ds_msg``; a few codes get a more precise subclass (not found,
  conflict, invalid input), named by DS ``Status`` constants the conformance test checks against the jar.
  The rare codes that mean "the server is not ready" (:data:`TRANSIENT_DS_CODES`) become
  :class:`DolphinTransientApiError` (a ``TransientError``) instead, except 10000 "Cannot find the workflow",
  a permanent :class:`DolphinWorkflowMissing`, and 10000 "SubWorkflowDefinition <name> is not online" (an online of
  a workflow whose sub-workflow is offline), a permanent :class:`DolphinSubWorkflowOffline`. A start's 50014 says by
  its text whether the workflow is offline
  (:class:`DolphinWorkflowOffline`) or the tenant unknown (:class:`DolphinTenantMissing`).
- HTTP 401 (DS answers it with an empty body) becomes :class:`DolphinAuthError`; so does a py4j
  "bad auth token".
- 5xx, timeouts, dropped connections become :class:`DolphinUnavailable` / :class:`DolphinTimeout`;
  an unreachable py4j gateway becomes :class:`DolphinGatewayUnavailable`.
- A Java exception raised by the gateway becomes :class:`DolphinGatewayError` with the Java message.

No error text ever contains a token: messages are built from route templates, DS codes and DS messages
only, and the gateway scrubs known secrets from Java messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from common.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    TransientError,
    Unauthorized,
    UpstreamTimeout,
    UpstreamUnavailable,
    ValidationFailed,
)

# Each classification names the DS ``Status`` constants it covers (``org.apache.dolphinscheduler.api.enums.Status``)
# with their codes: the conformance test (tests/contract/ds_conformance) holds every pair to the released jar.

#: server state rather than the request: retrying later may succeed (10000 is also what a ``ServiceException``
#: without a status answers; see :func:`api_error_for` for the 10000 that means "no such workflow")
TRANSIENT_STATUSES: Mapping[str, int] = MappingProxyType(
    {"INTERNAL_SERVER_ERROR_ARGS": 10000, "MASTER_NOT_EXISTS": 10025}
)
NOT_FOUND_STATUSES: Mapping[str, int] = MappingProxyType(
    {
        "TASK_INSTANCE_NOT_FOUND": 10008,
        "USER_NOT_EXIST": 10010,
        "TENANT_NOT_EXIST": 10017,
        "PROJECT_NOT_FOUND": 10018,
        "TASK_INSTANCE_NOT_EXISTS": 10020,
        "WORKFLOW_INSTANCE_NOT_EXIST": 50001,
        "WORKFLOW_DEFINITION_NOT_EXIST": 50003,
        "TASK_DEFINE_NOT_EXIST": 50030,
        "ACCESS_TOKEN_NOT_EXIST": 70015,
    }
)
CONFLICT_STATUSES: Mapping[str, int] = MappingProxyType(
    {
        "PROJECT_ALREADY_EXISTS": 10019,
        "SCHEDULE_CRON_ONLINE_FORBID_UPDATE": 10023,
        "SCHEDULE_CRON_REALEASE_NEED_NOT_CHANGE": 10126,
        "WORKFLOW_DEFINITION_NAME_EXIST": 10168,
        "SCHEDULE_ALREADY_EXISTS": 10204,
        "WORKFLOW_DEFINITION_NOT_RELEASE": 50004,
        "SUB_WORKFLOW_DEFINITION_NOT_RELEASE": 50004,
        "WORKFLOW_DEFINITION_NOT_ALLOWED_EDIT": 50008,
        "WORKFLOW_DEFINE_STATE_ONLINE": 50021,
        "SCHEDULE_STATE_ONLINE": 50023,
    }
)
INVALID_STATUSES: Mapping[str, int] = MappingProxyType(
    {
        "REQUEST_PARAMS_NOT_VALID_ERROR": 10001,
        "SCHEDULE_START_TIME_END_TIME_SAME": 10141,
        "PARSE_SCHEDULE_PARAM_ERROR": 10202,
        "DATA_IS_NOT_VALID": 50017,
        "DATA_IS_NULL": 50018,
        "WORKFLOW_NODE_HAS_CYCLE": 50019,
        "WORKFLOW_NODE_S_PARAMETER_INVALID": 50020,
        "WORKFLOW_DAG_IS_EMPTY": 50035,
        "CHECK_WORKFLOW_TASK_RELATION_ERROR": 50036,
        "START_TIME_BIGGER_THAN_END_TIME_ERROR": 80003,
    }
)
FORBIDDEN_STATUSES: Mapping[str, int] = MappingProxyType(
    {"USER_NO_OPERATION_PERM": 30001, "USER_NO_OPERATION_PROJECT_PERM": 30002, "USER_DISABLED": 10148}
)
#: a task instance no worker has taken yet: it has no host, so no log to read (``GET /log/detail``)
NOT_DISPATCHED_STATUSES: Mapping[str, int] = MappingProxyType({"TASK_INSTANCE_HOST_IS_NULL": 10191})
#: the start endpoints' ``@ApiException`` statuses: DS answers an exception thrown while starting with this code
#: and the exception's text appended (``start workflow instance error:The workflowDefinition should be online``)
START_ERROR_STATUSES: Mapping[str, int] = MappingProxyType(
    {"START_WORKFLOW_INSTANCE_ERROR": 50014, "BATCH_START_WORKFLOW_INSTANCE_ERROR": 50014}
)

#: DS codes that describe the server's own state rather than the request: retrying later may succeed.
TRANSIENT_DS_CODES: frozenset[int] = frozenset(TRANSIENT_STATUSES.values())

_NOT_FOUND_CODES = frozenset(NOT_FOUND_STATUSES.values())
_CONFLICT_CODES = frozenset(CONFLICT_STATUSES.values())
_INVALID_CODES = frozenset(INVALID_STATUSES.values())
_FORBIDDEN_CODES = frozenset(FORBIDDEN_STATUSES.values())
_START_ERROR_CODES = frozenset(START_ERROR_STATUSES.values())
_NOT_DISPATCHED_CODES = frozenset(NOT_DISPATCHED_STATUSES.values())

# Texts DS 3.4.x puts in a message (read from its bytecode), for the codes that mean several things:
#: 10000 from a start: ``new ServiceException("Cannot find the workflow: " + code)``
_WORKFLOW_MISSING = re.compile(r"Cannot find the workflow: ?(-?\d+)")
#: 10000 from an online (REST release or the gateway): ``checkAllSubWorkflowDefinitionIsOnline``'s
#: ``new ServiceException("SubWorkflowDefinition " + name + " is not online")`` (DS 3.4.2 bytecode)
_SUB_WORKFLOW_OFFLINE = re.compile(r"SubWorkflowDefinition (.*) is not online")
#: 50014 from a start: the workflow is not ONLINE (``IllegalStateException`` of the trigger validator)
_WORKFLOW_OFFLINE = "The workflowDefinition should be online"
#: ``TenantExistValidator`` (``"Tenant: [%s] not exists"``), under the endpoint's code: 50014 from a start, 10076 from
#: a schedule create
_TENANT_MISSING = re.compile(r"Tenant: \[(.*?)\] not exists")


class DolphinError:
    """Marker mixin shared by every DolphinScheduler error, so callers can ``except DolphinError``."""


class _DsCoded(DolphinError):
    """An answer carrying DS's own ``code`` and ``msg`` (kept as attributes and problem extras)."""

    ds_code: int
    ds_msg: str
    endpoint: str

    def __init__(self, ds_code: int, ds_msg: str, *, endpoint: str, summary: str | None = None, **extras: Any) -> None:
        """``summary``: what the answer means for the caller, put before DS's own code and message."""
        text = f"DolphinScheduler {endpoint} failed with code {ds_code}: {ds_msg}"
        super().__init__(  # type: ignore[call-arg]  # cooperative: PlatformError
            f"{summary} ({text})" if summary else text,
            ds_code=ds_code,
            ds_msg=ds_msg,
            endpoint=endpoint,
            **extras,
        )
        self.ds_code = ds_code
        self.ds_msg = ds_msg
        self.endpoint = endpoint


class DolphinApiError(_DsCoded, DomainError):
    """DS answered a REST call with a non-zero ``code`` (a business error; never retried)."""

    code = "dolphin-api-error"
    title = "DolphinScheduler rejected the request"


class DolphinNotFound(DolphinApiError, NotFound):
    code = "dolphin-not-found"
    title = "Not found in DolphinScheduler"


class DolphinConflict(DolphinApiError, Conflict):
    code = "dolphin-conflict"
    title = "DolphinScheduler state conflict"


class DolphinInvalidRequest(DolphinApiError, ValidationFailed):
    code = "dolphin-invalid-request"
    title = "DolphinScheduler rejected the input"


class DolphinForbidden(DolphinApiError, Forbidden):
    code = "dolphin-forbidden"
    title = "No permission in DolphinScheduler"


class DolphinTaskNotDispatched(DolphinConflict):
    """A task instance no worker has taken yet (10191 "task instance host is null"): it has no log yet."""

    code = "dolphin-task-not-dispatched"
    title = "The task has not reached a worker yet"


class DolphinTransientApiError(_DsCoded, TransientError):
    """DS answered with a code that means "not now" (see :data:`TRANSIENT_DS_CODES`)."""

    code = "dolphin-busy"
    title = "DolphinScheduler is not ready"


class DolphinWorkflowMissing(DolphinNotFound):
    """A start named a workflow code DS does not have (deleted in DS): 10000 "Cannot find the workflow: <code>"."""

    code = "dolphin-workflow-missing"
    title = "The DolphinScheduler workflow no longer exists"


class DolphinWorkflowOffline(DolphinConflict):
    """A start of a workflow that is OFFLINE in DS: 50014 "...The workflowDefinition should be online"."""

    code = "dolphin-workflow-offline"
    title = "The DolphinScheduler workflow is offline"


class DolphinSubWorkflowOffline(DolphinConflict):
    """An online of a workflow one of whose sub-workflows (a child's children too) is not ONLINE in DS: 10000
    "SubWorkflowDefinition <name> is not online". DS takes no child online by itself."""

    code = "dolphin-sub-workflow-offline"
    title = "A DolphinScheduler sub-workflow is offline"


class DolphinTenantMissing(DolphinInvalidRequest):
    """A start (or schedule) named a tenant DS does not have: "Tenant: [<code>] not exists"."""

    code = "dolphin-tenant-missing"
    title = "DolphinScheduler has no such tenant"


def api_error_for(ds_code: int, ds_msg: str, *, endpoint: str) -> DolphinApiError | DolphinTransientApiError:
    """The error to raise for a DS envelope with a non-zero code.

    Classified by code, and by DS's message where one code means several things (CONTRACT §3, 3.4.x bytecode):
    10000 "Cannot find the workflow: <code>" is a permanent not-found, not a busy server, and 10000
    "SubWorkflowDefinition <name> is not online" a permanent conflict; a start's 50014 says whether the workflow is
    offline or the tenant is unknown.
    """
    if ds_code in TRANSIENT_DS_CODES:
        if (missing := _WORKFLOW_MISSING.search(ds_msg)) is not None:
            code = int(missing.group(1))
            summary = f"the DS workflow no longer exists (workflow code {code})"
            return DolphinWorkflowMissing(ds_code, ds_msg, endpoint=endpoint, summary=summary, workflow_code=code)
        if (sub := _SUB_WORKFLOW_OFFLINE.search(ds_msg)) is not None:
            extras = {"sub_workflow_name": sub.group(1)}
            summary = f"the DS sub-workflow {sub.group(1)!r} is offline: take it online first"
            return DolphinSubWorkflowOffline(ds_code, ds_msg, endpoint=endpoint, summary=summary, **extras)
        return DolphinTransientApiError(ds_code, ds_msg, endpoint=endpoint)
    tenant = _TENANT_MISSING.search(ds_msg)
    if tenant is not None:  # the validator's text, under whichever endpoint code (start 50014, schedule 10076)
        return DolphinTenantMissing(
            ds_code, ds_msg, endpoint=endpoint, summary=f"DolphinScheduler has no tenant {tenant.group(1)!r}"
        )
    if ds_code in _START_ERROR_CODES and _WORKFLOW_OFFLINE in ds_msg:
        return DolphinWorkflowOffline(
            ds_code, ds_msg, endpoint=endpoint, summary="the DS workflow is offline: publish it online first"
        )
    cls: type[DolphinApiError] = DolphinApiError
    if ds_code in _NOT_DISPATCHED_CODES:
        cls = DolphinTaskNotDispatched
    elif ds_code in _NOT_FOUND_CODES:
        cls = DolphinNotFound
    elif ds_code in _CONFLICT_CODES:
        cls = DolphinConflict
    elif ds_code in _INVALID_CODES:
        cls = DolphinInvalidRequest
    elif ds_code in _FORBIDDEN_CODES:
        cls = DolphinForbidden
    return cls(ds_code, ds_msg, endpoint=endpoint)


class DolphinAuthError(DolphinError, Unauthorized):
    """The REST access token or the gateway auth token was refused."""

    code = "dolphin-unauthorized"
    title = "DolphinScheduler refused our credentials"


class DolphinHttpError(DolphinError, DomainError):
    """An unexpected 4xx other than 401 (for example a wrong route: 404 from the servlet container)."""

    code = "dolphin-http-error"
    title = "Unexpected DolphinScheduler HTTP status"

    def __init__(self, status_code: int, *, endpoint: str) -> None:
        super().__init__(
            f"DolphinScheduler {endpoint} answered HTTP {status_code}",
            http_status=status_code,
            endpoint=endpoint,
        )
        self.http_status = status_code
        self.endpoint = endpoint


class DolphinUnavailable(DolphinError, UpstreamUnavailable):
    """5xx, a refused or dropped connection, or an answer that is not the DS envelope."""

    code = "dolphin-unavailable"
    title = "DolphinScheduler unavailable"


class DolphinTimeout(DolphinError, UpstreamTimeout):
    code = "dolphin-timeout"
    title = "DolphinScheduler timed out"


class DolphinGatewayUnavailable(DolphinError, UpstreamUnavailable):
    """The py4j gateway could not be reached, dropped the connection, or did not answer in time."""

    code = "dolphin-gateway-unavailable"
    title = "DolphinScheduler Python gateway unavailable"


class DolphinGatewayError(DolphinError, DomainError):
    """The gateway's Java code raised (``Py4JJavaError``), or the call itself was invalid (unknown method)."""

    code = "dolphin-gateway-error"
    title = "DolphinScheduler Python gateway call failed"

    def __init__(self, method: str, java_message: str, *, java_class: str | None = None) -> None:
        super().__init__(
            f"DolphinScheduler gateway {method} failed: {java_message}",
            method=method,
            java_message=java_message,
            java_class=java_class,
        )
        self.method = method
        self.java_message = java_message
        self.java_class = java_class
