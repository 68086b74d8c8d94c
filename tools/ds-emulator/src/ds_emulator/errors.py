"""DS status codes the emulator answers with (CONTRACT §3.2; messages use the 3.3+ "workflow" wording)."""

from __future__ import annotations

MESSAGES: dict[int, str] = {
    0: "success",
    10000: "Internal Server Error: {0}",
    10001: "request parameter {0} is not valid",
    10008: "task instance not found",
    10013: "user name or password error",
    10017: "tenant not exists",
    10018: "project {0} not found ",
    10019: "project {0} already exists",
    10022: "schedule {0} does not exist",
    10023: "online status does not allow update operations",
    10141: "The start time must not be the same as the end",
    10148: "The current user is disabled",
    10168: "workflow definition name {0} already exists",
    10191: "task instance {0} host is null",
    10204: "workflow {0} schedule {1} already exist",
    30001: "user has no operation privilege",
    50001: "workflow instance {0} does not exist",
    50003: "workflow definition {0} does not exist",
    50004: "workflow definition {0} not on line",
    50008: "workflow definition {0} does not allow edit",
    50017: "data {0} not valid",
    50019: "workflow node has cycle",
    50020: "workflow node {0} parameter invalid",
    50030: "task definition {0} does not exist",
    50035: "workflow dag is empty",
    50036: "check workflow task relation error",
    80003: "start time bigger than end time error",
    # endpoint @ApiException codes (unexpected errors, missing required parameters)
    10047: "query project details by code error",
    10048: "create project error",
    10049: "login user query project list paging error",
    10076: "create schedule error",
    10077: "update schedule error",
    10078: "publish schedule online error",
    10079: "offline schedule error",
    10080: "query schedule list paging error",
    10086: "query tenant list error",
    10098: "get user info error",
    10103: "view task instance log error",
    10105: "create workflow definition error",
    10107: "update workflow definition error",
    10108: "release workflow definition error",
    10109: "query detail of workflow definition error",
    10113: "query workflow instance list paging error",
    10114: "query task list by workflow instance id error",
    10116: "query workflow instance by id error",
    10122: "query workflow definition list paging error",
    10146: "query worker group fail ",
    10154: "query workflow definition versions error",
    10043: "user login failure",
    50014: "start workflow instance error",
    50043: "query detail of task definition error",
    70010: "create access token error",
}


class DsError(Exception):
    """A DS business error: answered with HTTP 200 and the envelope ``{code, msg}``."""

    def __init__(self, code: int, *args: object, msg: str | None = None) -> None:
        self.code = code
        self.msg = msg if msg is not None else MESSAGES.get(code, "error {0}").format(*args)
        super().__init__(self.msg)


def api_exception(code: int, detail: str) -> DsError:
    """An unexpected error inside an endpoint: the endpoint's code with the exception text appended."""
    return DsError(code, msg=f"{MESSAGES.get(code, 'error')}:{detail}")
