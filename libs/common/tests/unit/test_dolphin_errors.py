"""How DS answers map onto our errors: by code, and by DS's text where one code means several things."""

from __future__ import annotations

import pytest

from common.dolphin import (
    TRANSIENT_DS_CODES,
    DolphinApiError,
    DolphinConflict,
    DolphinInvalidRequest,
    DolphinNotFound,
    DolphinSubWorkflowOffline,
    DolphinTaskNotDispatched,
    DolphinTenantMissing,
    DolphinTransientApiError,
    DolphinWorkflowMissing,
    DolphinWorkflowOffline,
)
from common.dolphin.errors import (
    CONFLICT_STATUSES,
    FORBIDDEN_STATUSES,
    INVALID_STATUSES,
    NOT_DISPATCHED_STATUSES,
    NOT_FOUND_STATUSES,
    TRANSIENT_STATUSES,
    api_error_for,
)
from common.errors import Conflict, DomainError, NotFound, TransientError, ValidationFailed

START = "POST /projects/{p}/executors/start-workflow-instance"


def test_a_missing_workflow_is_a_permanent_not_found_not_a_busy_server() -> None:
    err = api_error_for(10000, "Internal Server Error: Cannot find the workflow: 1234567", endpoint=START)
    assert isinstance(err, DolphinWorkflowMissing)
    assert isinstance(err, NotFound)
    assert not isinstance(err, TransientError)
    assert err.ds_code == 10000
    assert str(err).startswith("the DS workflow no longer exists (workflow code 1234567)")
    assert err.extras["workflow_code"] == 1234567
    assert "Cannot find the workflow: 1234567" in str(err)  # DS's own code and message stay in the text


def test_an_offline_sub_workflow_is_a_permanent_conflict_naming_it() -> None:
    release = "POST /projects/{p}/workflow-definition/{code}/release"
    msg = "Internal Server Error: SubWorkflowDefinition load orders is not online"
    err = api_error_for(10000, msg, endpoint=release)
    assert type(err) is DolphinSubWorkflowOffline
    assert isinstance(err, Conflict)
    assert not isinstance(err, TransientError)
    assert err.extras["sub_workflow_name"] == "load orders"
    assert str(err).startswith("the DS sub-workflow 'load orders' is offline: take it online first")


def test_other_10000_answers_stay_transient() -> None:
    err = api_error_for(10000, "Internal Server Error: connection reset", endpoint=START)
    assert type(err) is DolphinTransientApiError
    assert isinstance(err, TransientError)
    assert {10000, 10025} == TRANSIENT_DS_CODES


@pytest.mark.parametrize(
    ("message", "cls"),
    [
        ("start workflow instance error:The workflowDefinition should be online", DolphinWorkflowOffline),
        ("batch start workflow instance error: {0}:The workflowDefinition should be online", DolphinWorkflowOffline),
        ("start workflow instance error:Tenant: [etl] not exists", DolphinTenantMissing),
        ("batch start workflow instance error: {0}:null", DolphinApiError),
    ],
)
def test_a_start_error_is_told_apart_by_its_text(message: str, cls: type[DolphinApiError]) -> None:
    err = api_error_for(50014, message, endpoint=START)
    assert type(err) is cls
    assert isinstance(err, DomainError)
    assert err.ds_msg == message


def test_offline_and_tenant_say_what_to_do() -> None:
    offline = api_error_for(
        50014, "start workflow instance error:The workflowDefinition should be online", endpoint=START
    )
    assert isinstance(offline, Conflict)
    assert str(offline).startswith("the DS workflow is offline: publish it online first")
    tenant = api_error_for(10076, "create schedule error:Tenant: [etl] not exists", endpoint="POST /schedules")
    assert isinstance(tenant, DolphinTenantMissing)
    assert isinstance(tenant, ValidationFailed)
    assert str(tenant).startswith("DolphinScheduler has no tenant 'etl'")


def test_classification_by_code() -> None:
    for codes, cls in (
        (NOT_FOUND_STATUSES, DolphinNotFound),
        (CONFLICT_STATUSES, DolphinConflict),
        (INVALID_STATUSES, DolphinInvalidRequest),
        (NOT_DISPATCHED_STATUSES, DolphinTaskNotDispatched),
    ):
        for code in codes.values():
            assert type(api_error_for(code, "some message", endpoint="GET /x")) is cls
    assert set(TRANSIENT_STATUSES.values()) == TRANSIENT_DS_CODES
    assert FORBIDDEN_STATUSES["USER_NO_OPERATION_PERM"] == 30001
    assert type(api_error_for(50014, "start workflow instance error:boom", endpoint=START)) is DolphinApiError
