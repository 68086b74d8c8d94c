"""CONDITIONS task params (issue 21) as the emulator checks them on save: what DS 3.4 refuses with its status, and
what DS saves but could not run as meant, refused too (never more lenient than DS)."""

from __future__ import annotations

from typing import Any

import pytest

from ds_emulator.task_params import task_params_status


def params(items: list[dict[str, Any]] | None = None, **over: Any) -> dict[str, Any]:
    items = items if items is not None else [{"depTaskCode": 11, "status": "SUCCESS"}]
    return {
        "dependence": {"relation": "AND", "dependTaskList": [{"relation": "OR", "dependItemList": items}]},
        "conditionResult": {"successNode": [21], "failedNode": [22]},
        "localParams": [],
        "resourceList": [],
        **over,
    }


def test_the_converter_and_sdk_shape_is_accepted() -> None:
    assert task_params_status("CONDITIONS", params()) is None
    assert task_params_status("CONDITIONS", params([{"depTaskCode": "11", "status": "FAILURE"}])) is not None


@pytest.mark.parametrize(
    ("bad", "status"),
    [
        ([], "REQUEST_PARAMS_NOT_VALID_ERROR"),
        (params(conditionResult={"successNode": 21, "failedNode": [22]}), "REQUEST_PARAMS_NOT_VALID_ERROR"),
        (params(conditionResult={"successNode": [{"code": 21}], "failedNode": [22]}), "REQUEST_PARAMS_NOT_VALID_ERROR"),
        (params([{"depTaskCode": "eleven", "status": "SUCCESS"}]), "REQUEST_PARAMS_NOT_VALID_ERROR"),
        (params(dependence="all"), "REQUEST_PARAMS_NOT_VALID_ERROR"),
        # ConditionsParameters.checkParameters
        (params(dependence=None), "WORKFLOW_NODE_S_PARAMETER_INVALID"),
        (params(dependence={"relation": "AND", "dependTaskList": []}), "WORKFLOW_NODE_S_PARAMETER_INVALID"),
        (params(conditionResult=None), "WORKFLOW_NODE_S_PARAMETER_INVALID"),
        (params(conditionResult={"successNode": [21], "failedNode": []}), "WORKFLOW_NODE_S_PARAMETER_INVALID"),
        # saved by DS, refused by the emulator: DS could not run them as meant
        (params([]), "WORKFLOW_NODE_S_PARAMETER_INVALID"),
        (params([{"depTaskCode": 11, "status": "RUNNING_EXECUTION"}]), "WORKFLOW_NODE_S_PARAMETER_INVALID"),
        (params([{"depTaskCode": 0, "status": "SUCCESS"}]), "WORKFLOW_NODE_S_PARAMETER_INVALID"),
        (params(conditionResult={"successNode": [-1], "failedNode": [22]}), "WORKFLOW_NODE_S_PARAMETER_INVALID"),
    ],
)
def test_bad_params_are_refused(bad: Any, status: str) -> None:
    assert task_params_status("CONDITIONS", bad) == status
