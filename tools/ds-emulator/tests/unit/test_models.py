"""Unit tests of the client-side models (no emulator needed)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import SecretStr

from common.dolphin import (
    AccessToken,
    Page,
    TaskExecutionStatus,
    WorkflowExecutionStatus,
    WorkflowInstance,
    format_ds_datetime,
    parse_ds_datetime,
)
from common.dolphin.rest import DolphinRestClient


def test_dates_are_utc() -> None:
    parsed = parse_ds_datetime("2025-01-02 03:04:05")
    assert parsed == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert format_ds_datetime(parsed) == "2025-01-02 03:04:05"


def test_status_helpers() -> None:
    finished = {s for s in WorkflowExecutionStatus if s.is_finished}
    assert {s.value for s in finished} == {"SUCCESS", "FAILURE", "STOP", "PAUSE"}
    assert WorkflowExecutionStatus.FAILURE.is_failure
    assert WorkflowExecutionStatus.FAILURE.ds_code == 6
    assert not WorkflowExecutionStatus.FAILOVER.is_finished
    assert TaskExecutionStatus.NEED_FAULT_TOLERANCE.is_failure
    assert TaskExecutionStatus.KILL.is_finished


def test_instance_and_page_parse() -> None:
    page = Page[WorkflowInstance].model_validate(
        {
            "totalList": [{"id": 7, "state": "RUNNING_EXECUTION", "startTime": "2025-01-01 00:00:00",
                           "endTime": None, "commandType": "START_PROCESS", "duration": "1m 3s", "extra": 1}],
            "total": 21, "totalPage": 1, "pageSize": 10, "currentPage": 3, "pageNo": 20,
        }
    )  # fmt: skip
    assert page.page_count == 3
    assert page.total_list[0].start_time == datetime(2025, 1, 1, tzinfo=UTC)


def test_secrets_stay_hidden() -> None:
    token = AccessToken.model_validate({"id": 1, "userId": 1, "token": "abcdef0123"})
    assert "abcdef0123" not in repr(token)
    assert "abcdef0123" not in str(token)
    assert isinstance(token.token, SecretStr)
    assert "abcdef0123" not in repr(DolphinRestClient.create("http://x/dolphinscheduler", SecretStr("abcdef0123")))
