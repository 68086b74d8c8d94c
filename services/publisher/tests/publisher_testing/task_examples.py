"""One valid task of each type and every node attribute away from its default, with the DS task fields they must set:
shared by the converter's unit test and the integration test against the DS emulator."""

from __future__ import annotations

from typing import Any

from common.workflow import (
    ConditionCheck,
    ConditionGroup,
    ConditionsParams,
    DataxParams,
    FlinkParams,
    HttpParams,
    ProcedureParams,
    PythonParams,
    ShellParams,
    SnapshotTask,
    SparkParams,
    SqlParams,
    SubWorkflowParams,
    SwitchCase,
    SwitchParams,
    TaskParams,
    TaskType,
)

#: the ids of the SHELL tasks around the example task (``around``): a CONDITIONS task checks one before it and
#: branches to the two after it; a SWITCH task has a case for one and the other as its default
UPSTREAM_ID, SUCCESS_ID, FAILED_ID = 1001, 1002, 1003
#: the platform workflow the SUB_WORKFLOW example runs (a test deploys it first, or maps it to a DS code)
CHILD_WORKFLOW_ID = 435

#: the datasources the examples name: ``(name, type)`` -> a DS datasource id
DATASOURCES = {("warehouse", "POSTGRESQL"): 11, ("orders", "MYSQL"): 12}

#: one valid task of each type (a type added to ``TaskType`` without one here fails ``test_every_type_is_covered``)
EXAMPLES: dict[TaskType, TaskParams] = {
    TaskType.SHELL: ShellParams(script="echo 1"),
    TaskType.SQL: SqlParams(datasource_name="warehouse", sql="select 1"),
    TaskType.PYTHON: PythonParams(script="print(1)"),
    TaskType.HTTP: HttpParams(url="https://api.example.invalid/refresh"),
    TaskType.PROCEDURE: ProcedureParams(datasource_name="orders", datasource_type="MYSQL", method="call refresh()"),
    TaskType.DATAX: DataxParams(
        source_datasource_name="orders",
        sql="select * from o",
        target_datasource_name="orders",
        target_table="o_copy",
    ),
    TaskType.SPARK: SparkParams(main_jar="jobs/orders.jar", main_class="com.example.Orders"),
    TaskType.FLINK: FlinkParams(main_jar="jobs/stream.jar", main_class="com.example.Stream"),
    TaskType.CONDITIONS: ConditionsParams(
        groups=(ConditionGroup(checks=(ConditionCheck(task_id=UPSTREAM_ID),)),),
        success_task_ids=(SUCCESS_ID,),
        failed_task_ids=(FAILED_ID,),
    ),
    TaskType.SUB_WORKFLOW: SubWorkflowParams(workflow_id=CHILD_WORKFLOW_ID),
    TaskType.SWITCH: SwitchParams(
        cases=(SwitchCase(condition="${region} == 'eu'", task_id=SUCCESS_ID),), default_task_id=FAILED_ID
    ),
}


def around(task: SnapshotTask) -> tuple[list[SnapshotTask], list[tuple[int, int]]]:
    """``task`` after a SHELL task and before two (tasks, edges), as the CONDITIONS and SWITCH examples need."""
    shells = [
        SnapshotTask(task_id=i, name=f"t{i}", task_type="SHELL", params=ShellParams(script="echo"))
        for i in (UPSTREAM_ID, SUCCESS_ID, FAILED_ID)
    ]
    edges = [(UPSTREAM_ID, task.task_id), (task.task_id, SUCCESS_ID), (task.task_id, FAILED_ID)]
    return [*shells, task], edges


#: every node attribute but the failure strategy set away from its default, and the DS task field it must set
NON_DEFAULT: dict[str, Any] = {
    "worker_group": "gpu",
    "retries": 7,
    "retry_interval_minutes": 9,
    "timeout_minutes": 12,
    "timeout_strategy": "FAILED",
    "priority": "LOWEST",
    "delay_minutes": 4,
    "enabled": False,
    "environment_code": 42,
    "cpu_quota": 200,
    "memory_max_mb": 512,
}
EXPECTED_FIELDS: dict[str, Any] = {
    "workerGroup": "gpu",
    "failRetryTimes": 7,
    "failRetryInterval": 9,
    "timeout": 12,
    "timeoutFlag": "OPEN",
    "timeoutNotifyStrategy": "FAILED",
    "taskPriority": "LOWEST",
    "delayTime": 4,
    "flag": "NO",
    "environmentCode": 42,
    "cpuQuota": 200,
    "memoryMax": 512,
}
