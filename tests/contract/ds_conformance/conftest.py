"""The DS jars' facts, read once per checked DS version (``DS_CONFORMANCE_VERSIONS``, default 3.4.2 and 3.4.3).

Run only these tests with ``./platform test -m ds_conformance`` (or ``.venv/bin/pytest -m ds_conformance``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ds_emulator.javabuild import ensure_built

from . import harness
from .cases import MISMATCHES, documents

#: our enum (``common.dolphin.models``) -> the DS enum class, for the enums whose module Maven Central serves
DS_ENUMS: dict[str, str] = {
    "WorkflowExecutionStatus": "org.apache.dolphinscheduler.common.enums.WorkflowExecutionStatus",
    "ReleaseState": "org.apache.dolphinscheduler.common.enums.ReleaseState",
    "FailureStrategy": "org.apache.dolphinscheduler.common.enums.FailureStrategy",
    "WarningType": "org.apache.dolphinscheduler.common.enums.WarningType",
    "Priority": "org.apache.dolphinscheduler.common.enums.Priority",
    "TaskDependType": "org.apache.dolphinscheduler.common.enums.TaskDependType",
    "RunMode": "org.apache.dolphinscheduler.common.enums.RunMode",
    "CommandType": "org.apache.dolphinscheduler.common.enums.CommandType",
    "Flag": "org.apache.dolphinscheduler.common.enums.Flag",
    "WorkflowExecutionType": "org.apache.dolphinscheduler.common.enums.WorkflowExecutionTypeEnum",
    "TaskExecuteType": "org.apache.dolphinscheduler.common.enums.TaskExecuteType",
    "TimeoutFlag": "org.apache.dolphinscheduler.common.enums.TimeoutFlag",
    "ConditionType": "org.apache.dolphinscheduler.common.enums.ConditionType",
    "ExecuteType": "org.apache.dolphinscheduler.api.enums.ExecuteType",
    "ComplementDependentMode": "org.apache.dolphinscheduler.common.enums.ComplementDependentMode",
    "ExecutionOrder": "org.apache.dolphinscheduler.common.enums.ExecutionOrder",
}

#: classes of ``dolphinscheduler-task-api`` (not served at 3.x on Central): the harness supplies stand-ins for the
#: ones the entity classes need, and reports what DS's served code uses of each
TASK_API = "org.apache.dolphinscheduler.plugin.task.api."
NOT_SERVED: dict[str, str] = {
    "TaskExecutionStatus": TASK_API + "enums.TaskExecutionStatus",
    "TaskTimeoutStrategy": TASK_API + "enums.TaskTimeoutStrategy",
    "Property": TASK_API + "model.Property",
    "Direct": TASK_API + "enums.Direct",
    "DataType": TASK_API + "enums.DataType",
}
#: the ones the harness stands in for (java/standins)
STANDINS = ("TaskTimeoutStrategy", "Property", "Direct", "DataType")
#: task-api's classes of a DEPENDENT task's ``taskParams`` (not served either): the harness stands in for them (the
#: JSON is read into the stand-ins), and the master jar (served at 3.4.2) says what DS's runtime uses of each
DEPENDENT_CLASSES: dict[str, str] = {
    "DependentParameters": TASK_API + "parameters.DependentParameters",
    "Dependence": TASK_API + "parameters.DependentParameters$Dependence",
    "DependentFailurePolicyEnum": TASK_API + "parameters.DependentParameters$DependentFailurePolicyEnum",
    "DependentTaskModel": TASK_API + "model.DependentTaskModel",
    "DependentItem": TASK_API + "model.DependentItem",
    "DependentRelation": TASK_API + "enums.DependentRelation",
}
#: task-api's classes of a CONDITIONS task's ``taskParams`` (not served, no stand-ins): the master jar says what DS's
#: runtime reads of them
CONDITIONS_CLASSES: dict[str, str] = {
    "ConditionsParameters": TASK_API + "parameters.ConditionsParameters",
    "ConditionDependency": TASK_API + "parameters.ConditionsParameters$ConditionDependency",
    "ConditionResult": TASK_API + "parameters.ConditionsParameters$ConditionResult",
}

#: task-api's classes of a SWITCH task's ``taskParams`` (not served): the harness stands in for them (the JSON is read
#: into the stand-ins), and the master jar says what DS's runtime reads of each
SWITCH_CLASSES: dict[str, str] = {
    "SwitchParameters": TASK_API + "parameters.SwitchParameters",
    "SwitchResult": TASK_API + "parameters.SwitchParameters$SwitchResult",
    "SwitchResultVo": TASK_API + "model.SwitchResultVo",
}


def emulator_gateway_class() -> Path:
    classes = Path(ensure_built().split(os.pathsep, 1)[0])
    return classes / "dsemulator" / "EmulatorGateway.class"


def request() -> dict[str, Any]:
    return {
        "controllerPackage": "org/apache/dolphinscheduler/api/controller/",
        "gateway": "org.apache.dolphinscheduler.api.python.PythonGateway",
        "status": "org.apache.dolphinscheduler.api.enums.Status",
        "enums": sorted(set(DS_ENUMS.values())),
        "references": sorted(NOT_SERVED.values()),
        "masterReferences": sorted(
            {*DEPENDENT_CLASSES.values(), *CONDITIONS_CLASSES.values(), *SWITCH_CLASSES.values()}
        ),
        "classFiles": {"emulatorGateway": str(emulator_gateway_class())},
        "json": documents() + MISMATCHES,
    }


@pytest.fixture(scope="session", params=harness.versions())
def ds_version(request: pytest.FixtureRequest) -> str:
    version: str = request.param
    return version


@pytest.fixture(scope="session")
def ds_jars(ds_version: str) -> harness.Jars:
    return harness.fetch(ds_version)


@pytest.fixture(scope="session")
def facts(ds_jars: harness.Jars) -> dict[str, Any]:
    """What the harness read from this DS version's jars (see ``java/src/dsconformance/Harness.java``)."""
    return harness.run(ds_jars, request())
