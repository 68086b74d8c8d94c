"""The REST routes (method, path, handler, ``@ApiException`` status, success status) and the endpoint that
runs a handler: a missing or bad parameter, or any exception other than a ``ServiceException``, answers the
endpoint's ``@ApiException`` status with the exception text appended; 401 with an empty body without a valid token.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from ds_emulator.errors import DsError, JavaException, api_exception
from ds_emulator.rest_handlers import (
    h_batch_start,
    h_create_token,
    h_gen_codes,
    h_instance,
    h_instance_tasks,
    h_instances,
    h_log,
    h_project_create,
    h_project_get,
    h_projects_all,
    h_projects_page,
    h_schedule_create,
    h_schedule_offline,
    h_schedule_online,
    h_schedule_update,
    h_schedule_update_by_code,
    h_schedules,
    h_start,
    h_tenant_create,
    h_tenants,
    h_tokens_of_user,
    h_user_info,
    h_wf_by_name,
    h_wf_create,
    h_wf_get,
    h_wf_list,
    h_wf_release,
    h_wf_update,
    h_wf_versions,
    h_worker_groups,
)
from ds_emulator.rest_params import Handler, Params, _BadParam, envelope
from ds_emulator.state import Emulator

OK, CREATED = 200, 201

logger = logging.getLogger(__name__)


#: (method, path, handler, the DS method's ``@ApiException`` status, its ``@ResponseStatus``); the conformance test
#: holds each route to DS 3.4.2's controllers (path, status, HTTP status)
REST_ROUTES: list[tuple[str, str, Handler, str, int]] = [
    ("GET", "/users/get-user-info", h_user_info, "GET_USER_INFO_ERROR", OK),
    ("POST", "/access-tokens", h_create_token, "CREATE_ACCESS_TOKEN_ERROR", CREATED),
    ("GET", "/access-tokens/user/{user_id}", h_tokens_of_user, "QUERY_ACCESSTOKEN_BY_USER_ERROR", OK),
    ("GET", "/projects", h_projects_page, "LOGIN_USER_QUERY_PROJECT_LIST_PAGING_ERROR", OK),
    ("POST", "/projects", h_project_create, "CREATE_PROJECT_ERROR", CREATED),
    ("GET", "/projects/list", h_projects_all, "LOGIN_USER_QUERY_PROJECT_LIST_PAGING_ERROR", OK),
    ("GET", "/projects/{p}", h_project_get, "QUERY_PROJECT_DETAILS_BY_CODE_ERROR", OK),
    ("GET", "/worker-groups/all", h_worker_groups, "QUERY_WORKER_GROUP_FAIL", OK),
    ("GET", "/tenants/list", h_tenants, "QUERY_TENANT_LIST_ERROR", OK),
    ("POST", "/tenants", h_tenant_create, "CREATE_TENANT_ERROR", CREATED),
    (
        "GET",
        "/projects/{p}/task-definition/gen-task-codes",
        h_gen_codes,
        "LOGIN_USER_QUERY_PROJECT_LIST_PAGING_ERROR",
        OK,
    ),
    ("POST", "/projects/{p}/workflow-definition", h_wf_create, "CREATE_WORKFLOW_DEFINITION_ERROR", CREATED),
    ("GET", "/projects/{p}/workflow-definition", h_wf_list, "QUERY_WORKFLOW_DEFINITION_LIST_PAGING_ERROR", OK),
    (
        "GET",
        "/projects/{p}/workflow-definition/query-by-name",
        h_wf_by_name,
        "QUERY_DETAIL_OF_WORKFLOW_DEFINITION_ERROR",
        OK,
    ),
    ("GET", "/projects/{p}/workflow-definition/{code}", h_wf_get, "QUERY_DETAIL_OF_WORKFLOW_DEFINITION_ERROR", OK),
    ("PUT", "/projects/{p}/workflow-definition/{code}", h_wf_update, "UPDATE_WORKFLOW_DEFINITION_ERROR", OK),
    ("POST", "/projects/{p}/workflow-definition/{code}/release", h_wf_release, "RELEASE_WORKFLOW_DEFINITION_ERROR", OK),
    (
        "GET",
        "/projects/{p}/workflow-definition/{code}/versions",
        h_wf_versions,
        "QUERY_WORKFLOW_DEFINITION_VERSIONS_ERROR",
        OK,
    ),
    ("POST", "/projects/{p}/executors/start-workflow-instance", h_start, "START_WORKFLOW_INSTANCE_ERROR", OK),
    (
        "POST",
        "/projects/{p}/executors/batch-start-workflow-instance",
        h_batch_start,
        "BATCH_START_WORKFLOW_INSTANCE_ERROR",
        OK,
    ),
    ("GET", "/projects/{p}/workflow-instances", h_instances, "QUERY_WORKFLOW_INSTANCE_LIST_PAGING_ERROR", OK),
    ("GET", "/projects/{p}/workflow-instances/{id}", h_instance, "QUERY_WORKFLOW_INSTANCE_BY_ID_ERROR", OK),
    (
        "GET",
        "/projects/{p}/workflow-instances/{id}/tasks",
        h_instance_tasks,
        "QUERY_TASK_LIST_BY_WORKFLOW_INSTANCE_ID_ERROR",
        OK,
    ),
    ("POST", "/projects/{p}/schedules", h_schedule_create, "CREATE_SCHEDULE_ERROR", CREATED),
    ("GET", "/projects/{p}/schedules", h_schedules, "QUERY_SCHEDULE_LIST_PAGING_ERROR", OK),
    ("PUT", "/projects/{p}/schedules/update/{code}", h_schedule_update_by_code, "UPDATE_SCHEDULE_ERROR", OK),
    ("PUT", "/projects/{p}/schedules/{id}", h_schedule_update, "UPDATE_SCHEDULE_ERROR", OK),
    ("POST", "/projects/{p}/schedules/{id}/online", h_schedule_online, "PUBLISH_SCHEDULE_ONLINE_ERROR", OK),
    ("POST", "/projects/{p}/schedules/{id}/offline", h_schedule_offline, "OFFLINE_SCHEDULE_ERROR", OK),
    ("GET", "/log/detail", h_log, "QUERY_TASK_INSTANCE_LOG_ERROR", OK),
]


def _rest_endpoint(
    emu: Emulator, handler: Handler, api_status: str, http_status: int
) -> Callable[[Request], Awaitable[Response]]:
    """One DS endpoint: every answer (errors included) with the endpoint's HTTP status, as DS's
    ``ApiExceptionHandler`` resolves it from the method's ``@ResponseStatus``."""

    async def endpoint(request: Request) -> Response:
        user = emu.authenticate(request.headers.get("token"), _session_of(request))
        if user is None:
            return Response(status_code=401)
        try:
            params = await Params.read(request)
            return envelope(handler(emu, user, params), status=http_status)
        except DsError as exc:
            return envelope(None, exc.code, exc.msg, http_status)
        except (_BadParam, JavaException) as exc:
            err = api_exception(api_status, str(exc))
            return envelope(None, err.code, err.msg, http_status)
        except Exception as exc:
            logger.exception("emulator handler %s failed", handler.__name__)
            err = api_exception(api_status, f"{type(exc).__name__}: {exc}")
            return envelope(None, err.code, err.msg, http_status)

    return endpoint


def _session_of(request: Request) -> str | None:
    return request.headers.get("sessionId") or request.cookies.get("sessionId")
