"""DS status codes and messages the emulator answers with, by their DolphinScheduler ``Status`` names.

Codes and English messages are DS 3.4.2's (``org.apache.dolphinscheduler.api.enums.Status``); the conformance test
(tests/contract/ds_conformance) compares this table with the released jar, so a difference fails a test. DS formats
a message with ``java.text.MessageFormat`` (:func:`java_format`); an exception inside an endpoint answers the
endpoint's ``@ApiException`` status with the *unformatted* template, ``":"`` and the exception's text
(:func:`api_exception`); a ``ServiceException`` built from a bare text answers 10000 "Internal Server Error: <text>"
(:func:`service_exception`).
"""

from __future__ import annotations

import re

#: Status name -> (code, English message template)
STATUS: dict[str, tuple[int, str]] = {
    "SUCCESS": (0, "success"),
    "INTERNAL_SERVER_ERROR_ARGS": (10000, "Internal Server Error: {0}"),
    "REQUEST_PARAMS_NOT_VALID_ERROR": (10001, "request parameter {0} is not valid"),
    "TASK_INSTANCE_NOT_FOUND": (10008, "task instance not found"),
    "OS_TENANT_CODE_EXIST": (10009, "os tenant code {0} already exists"),
    "USER_NAME_PASSWD_ERROR": (10013, "user name or password error"),
    "TENANT_NOT_EXIST": (10017, "tenant [{0}] not exists"),
    "PROJECT_NOT_FOUND": (10018, "project {0} not found "),
    "PROJECT_ALREADY_EXISTS": (10019, "project {0} already exists"),
    "SCHEDULE_CRON_NOT_EXISTS": (10022, "scheduler crontab {0} does not exist"),
    "SCHEDULE_CRON_ONLINE_FORBID_UPDATE": (10023, "online status does not allow update operations"),
    "SCHEDULE_START_TIME_END_TIME_SAME": (10141, "The start time must not be the same as the end"),
    "USER_DISABLED": (10148, "The current user is disabled"),
    "WORKFLOW_DEFINITION_NAME_EXIST": (10168, "workflow definition name {0} already exists"),
    "TASK_INSTANCE_HOST_IS_NULL": (10191, "task instance host is null"),
    "SCHEDULE_NOT_EXISTS": (10203, "schedule {0} does not exist"),
    "SCHEDULE_ALREADY_EXISTS": (10204, "workflow {0} schedule {1} already exist, please update or delete it"),
    "USER_NO_OPERATION_PERM": (30001, "user has no operation privilege"),
    "WORKFLOW_INSTANCE_NOT_EXIST": (50001, "workflow instance {0} does not exist"),
    "WORKFLOW_DEFINITION_NOT_EXIST": (50003, "workflow definition {0} does not exist"),
    "WORKFLOW_DEFINITION_NOT_RELEASE": (50004, "workflow definition {0} workflow version {1} not online"),
    "WORKFLOW_DEFINITION_NOT_ALLOWED_EDIT": (50008, "workflow definition {0} does not allow edit"),
    "START_WORKFLOW_INSTANCE_ERROR": (50014, "start workflow instance error"),
    "BATCH_START_WORKFLOW_INSTANCE_ERROR": (50014, "batch start workflow instance error: {0}"),
    "DATA_IS_NOT_VALID": (50017, "data {0} not valid"),
    "WORKFLOW_NODE_HAS_CYCLE": (50019, "workflow node has cycle"),
    "WORKFLOW_NODE_S_PARAMETER_INVALID": (50020, "workflow node {0} parameter invalid"),
    "TASK_DEFINE_NOT_EXIST": (50030, "task definition [{0}] does not exist"),
    "WORKFLOW_DAG_IS_EMPTY": (50035, "workflow dag is empty"),
    "CHECK_WORKFLOW_TASK_RELATION_ERROR": (50036, "check workflow task relation error"),
    "START_TIME_BIGGER_THAN_END_TIME_ERROR": (80003, "start time bigger than end time error"),
    "GET_USER_INFO_ERROR": (10098, "get user info error"),
    "CREATE_ACCESS_TOKEN_ERROR": (70010, "create access token error"),
    "QUERY_ACCESSTOKEN_BY_USER_ERROR": (70016, "query access token by user error"),
    "LOGIN_USER_QUERY_PROJECT_LIST_PAGING_ERROR": (10049, "login user query project list paging error"),
    "CREATE_PROJECT_ERROR": (10048, "create project error"),
    "QUERY_PROJECT_DETAILS_BY_CODE_ERROR": (10047, "query project details by code error"),
    "QUERY_WORKER_GROUP_FAIL": (10146, "query worker group fail "),
    "QUERY_TENANT_LIST_ERROR": (10086, "query tenant list error"),
    "CREATE_TENANT_ERROR": (10084, "create tenant error"),
    "CREATE_WORKFLOW_DEFINITION_ERROR": (10105, "create workflow definition error"),
    "QUERY_WORKFLOW_DEFINITION_LIST_PAGING_ERROR": (10122, "query workflow definition list paging error"),
    "QUERY_DETAIL_OF_WORKFLOW_DEFINITION_ERROR": (10109, "query detail of workflow definition error"),
    "UPDATE_WORKFLOW_DEFINITION_ERROR": (10107, "update workflow definition error"),
    "RELEASE_WORKFLOW_DEFINITION_ERROR": (10108, "release workflow definition error"),
    "QUERY_WORKFLOW_DEFINITION_VERSIONS_ERROR": (10154, "query workflow definition versions error"),
    "QUERY_WORKFLOW_INSTANCE_LIST_PAGING_ERROR": (10113, "query workflow instance list paging error"),
    "QUERY_WORKFLOW_INSTANCE_BY_ID_ERROR": (10116, "query workflow instance by id error"),
    "QUERY_TASK_LIST_BY_WORKFLOW_INSTANCE_ID_ERROR": (10114, "query task list by workflow instance id error"),
    "CREATE_SCHEDULE_ERROR": (10076, "create schedule error"),
    "QUERY_SCHEDULE_LIST_PAGING_ERROR": (10080, "query schedule list paging error"),
    "UPDATE_SCHEDULE_ERROR": (10077, "update schedule error"),
    "PUBLISH_SCHEDULE_ONLINE_ERROR": (10078, "publish schedule online error"),
    "OFFLINE_SCHEDULE_ERROR": (10079, "offline schedule error"),
    "QUERY_TASK_INSTANCE_LOG_ERROR": (10103, "view task instance log error: {0}"),
    "USER_LOGIN_FAILURE": (10043, "user login failure"),
}

_PLACEHOLDER = re.compile(r"\{(\d+)\}")


def java_str(value: object) -> str:
    """``String.valueOf(value)``: ``null`` for None, ``true``/``false`` for booleans."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def java_format(template: str, *args: object) -> str:
    """``MessageFormat.format(template, args)`` for DS's templates: an integer argument is rendered the way Java
    formats a ``Long``/``Integer`` (with grouping, ``1,234``), anything else as ``String.valueOf`` does
    (:func:`java_str`); a placeholder without an argument stays as it is. (DS's templates hold no quotes, so
    MessageFormat's quoting rules do not apply.)"""

    def render(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if index >= len(args):
            return match.group(0)
        value = args[index]
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        return java_str(value)

    return _PLACEHOLDER.sub(render, template)


class DsError(Exception):
    """A DS business error: answered with the envelope ``{code, msg}`` (HTTP 200, or the endpoint's status)."""

    def __init__(self, status: str, *args: object, msg: str | None = None) -> None:
        code, template = STATUS[status]
        self.status = status
        self.code = code
        self.msg = msg if msg is not None else java_format(template, *args)
        super().__init__(self.msg)


class JavaException(Exception):
    """A Java exception other than ``ServiceException`` (``IllegalArgumentException``, ``IllegalStateException``,
    a ``NullPointerException``...): a REST endpoint answers its ``@ApiException`` status with this text appended
    (:func:`api_exception`); through the gateway the py4j client sees this text as the Java message."""


def api_exception(status: str, detail: str) -> DsError:
    """An exception inside an endpoint: the endpoint's ``@ApiException`` status, its template as it is, ``:``, the
    exception's text (DS's ``ApiExceptionHandler``)."""
    return DsError(status, msg=f"{STATUS[status][1]}:{detail}")


def service_exception(text: str) -> DsError:
    """``new ServiceException(text)``: 10000 "Internal Server Error: <text>"."""
    return DsError("INTERNAL_SERVER_ERROR_ARGS", text)
