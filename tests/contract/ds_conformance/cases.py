"""The DS JSON documents the conformance test hands to DS's ``JSONUtils``: the converter's output for a workflow with
every task type and node attribute we support (DEPENDENT tasks included), and the REST client's schedule JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from common.dolphin import ScheduleSpec
from common.workflow import (
    DataxParams,
    DependentCycle,
    Edge,
    ExternalDependency,
    FlinkParams,
    HttpParam,
    HttpParams,
    Param,
    ParamType,
    Priority,
    ProcedureParams,
    PythonParams,
    Schedule,
    ShellParams,
    SnapshotTask,
    SparkParams,
    SqlParams,
    StructureSnapshot,
    SubWorkflowParams,
    SwitchParams,
    TimeoutStrategy,
)
from common.workflow import NodeAttrs as Attrs
from publisher.domain import convert

TASK_DEFINITION = "org.apache.dolphinscheduler.dao.entity.TaskDefinitionLog"
TASK_RELATION = "org.apache.dolphinscheduler.dao.entity.WorkflowTaskRelationLog"
PROPERTY = "org.apache.dolphinscheduler.plugin.task.api.model.Property"
SCHEDULE_PARAM = "org.apache.dolphinscheduler.api.dto.ScheduleParam"
#: task-api (not served): read into the harness's stand-in, whose members the 3.4.2 master's bytecode checks
DEPENDENT_PARAMETERS = "org.apache.dolphinscheduler.plugin.task.api.parameters.DependentParameters"
#: task-http and task-procedure (not served, and no served class uses them): stand-ins copied from DS's source
HTTP_PARAMETERS = "org.apache.dolphinscheduler.plugin.task.http.HttpParameters"
PROCEDURE_PARAMETERS = "org.apache.dolphinscheduler.plugin.task.procedure.ProcedureParameters"
DATAX_PARAMETERS = "org.apache.dolphinscheduler.plugin.task.datax.DataxParameters"
SPARK_PARAMETERS = "org.apache.dolphinscheduler.plugin.task.spark.SparkParameters"
FLINK_PARAMETERS = "org.apache.dolphinscheduler.plugin.task.flink.FlinkParameters"
#: task-api (not served): its member is confirmed by DS 3.4.2's service jar (``getWorkflowDefinitionCode()J``)
SUB_WORKFLOW_PARAMETERS = "org.apache.dolphinscheduler.plugin.task.api.parameters.SubWorkflowParameters"
#: task-api (not served): its members are confirmed by DS 3.4.2's master jar (``SwitchLogicTask``)
SWITCH_PARAMETERS = "org.apache.dolphinscheduler.plugin.task.api.parameters.SwitchParameters"
#: the DS code of the child workflow (platform workflow 77) of ``full_snapshot``'s SUB_WORKFLOW task
CHILD_WORKFLOW_CODE = 7_100_000_000_077
#: the stand-in each task type's ``taskParams`` are read into
PLUGIN_PARAMETERS = {
    "HTTP": HTTP_PARAMETERS,
    "PROCEDURE": PROCEDURE_PARAMETERS,
    "DATAX": DATAX_PARAMETERS,
    "SPARK": SPARK_PARAMETERS,
    "FLINK": FLINK_PARAMETERS,
    "SUB_WORKFLOW": SUB_WORKFLOW_PARAMETERS,
    "SWITCH": SWITCH_PARAMETERS,
}
#: what we send in every HTTP and PROCEDURE ``taskParams`` that their DS classes lack (JSONUtils ignores it)
PLUGIN_PARAMS_IGNORED_BY_DS: dict[str, str] = {
    "resourceList": "every task's taskParams carries it in what pydolphinscheduler sends (Task._task_default_attr); "
    "empty here; HttpParameters, ProcedureParameters, SubWorkflowParameters and SwitchParameters have no resource "
    "list (DataxParameters has one)",
}

#: properties of a DEPENDENT task's ``taskParams`` that we send and DS's ``DependentParameters`` does not have (its
#: ``JSONUtils`` ignores unknown properties): each is kept on purpose, for the reason given. DS stores ``taskParams`` as
#: text, so both are stored and shown back; no served DS 3.4.2 class reads them (the master calls no
#: ``getDependentType``; ``resourceList`` is a property of the script tasks' parameters only).
DEPENDENT_IGNORED_BY_DS: dict[str, str] = {
    "dependentType": "read by the DS UI only (DEPENDENT_ON_TASK: it shows the item as waiting for one task); the "
    "master tells a task from a whole workflow by depTaskCode (0 the workflow, -1 all its tasks, else that task)",
    "resourceList": "every task's taskParams carries it in what pydolphinscheduler sends (Task._task_default_attr); "
    "empty here",
}


def _params(prefix: str) -> tuple[Param, ...]:
    return tuple(
        Param(name=f"{prefix}_{t.value.lower()}_{d.lower()}", value=f"v-{t.value}", direction=d, type=t)
        for t in ParamType
        for d in ("IN", "OUT")
    )


def full_snapshot() -> StructureSnapshot:
    """Every task type, every node attribute with a non-default value, every priority and timeout strategy (and an
    open timeout without one), every parameter type and direction, a schedule with a 6-field cron in a non-UTC zone."""
    tasks = [
        SnapshotTask(
            task_id=1, name="shell", task_type="SHELL", description="runs a script",
            params=ShellParams(script="echo ${dt}\nexit 0", local_params=_params("local"), resources=("a/b.sh",)),
            node_attrs=Attrs(worker_group="etl", retries=3, retry_interval_minutes=5, timeout_minutes=30,
                             timeout_strategy=TimeoutStrategy.FAILED, priority=Priority.HIGHEST, delay_minutes=2,
                             environment_code=1234567890123, cpu_quota=50, memory_max_mb=512),
        ),
        SnapshotTask(
            task_id=2, name="python", task_type="PYTHON",
            params=PythonParams(script="print('hé')", resources=("lib/x.py", "lib/y.py")),
            node_attrs=Attrs(priority=Priority.HIGH, enabled=False, timeout_minutes=5,
                             timeout_strategy=TimeoutStrategy.WARNFAILED),
        ),
        SnapshotTask(
            task_id=3, name="query", task_type="SQL",
            params=SqlParams(datasource_name="warehouse", datasource_type="postgresql", sql="select 1",
                             sql_type="query", pre_statements=("set a=1",), post_statements=("set b=2",),
                             display_rows=25, local_params=_params("q")),
            node_attrs=Attrs(priority=Priority.LOW, timeout_minutes=10, timeout_strategy=TimeoutStrategy.WARN),
        ),
        SnapshotTask(
            task_id=4, name="write", task_type="SQL",
            params=SqlParams(datasource_name="warehouse", datasource_type="POSTGRESQL", sql="insert into t values (1)"),
            node_attrs=Attrs(priority=Priority.LOWEST, timeout_minutes=1),  # open timeout, no strategy: WARN
        ),
        SnapshotTask(task_id=5, name="defaults", task_type="SHELL", params=ShellParams(script="true")),
        SnapshotTask(
            task_id=6, name="call api", task_type="HTTP",
            params=HttpParams(url="https://api.example.invalid/x?d=${dt}", method="POST", body='{"a":"\u00e9"}',
                              http_params=(HttpParam(name="X-A", value="1", location="HEADERS"),
                                           HttpParam(name="q", value="${dt}")),
                              check_condition="BODY_NOT_CONTAINS", condition="error", connect_timeout_ms=1500,
                              local_params=_params("h")),
            node_attrs=Attrs(retries=1, timeout_minutes=2, timeout_strategy=TimeoutStrategy.FAILED),
        ),
        SnapshotTask(
            task_id=7, name="proc", task_type="PROCEDURE",
            params=ProcedureParams(datasource_name="warehouse", datasource_type="postgresql",
                                   method="call refresh(${dt})", local_params=_params("p")),
        ),
        SnapshotTask(
            task_id=8, name="sync", task_type="DATAX",
            params=DataxParams(source_datasource_name="warehouse", source_datasource_type="POSTGRESQL",
                               sql="select * from t", target_datasource_name="warehouse",
                               target_datasource_type="POSTGRESQL", target_table="t_copy",
                               pre_statements=("truncate t_copy",), post_statements=("analyze t_copy",),
                               job_speed_byte=1024, job_speed_record=10, xms=2, xmx=3, local_params=_params("x")),
        ),
        SnapshotTask(
            task_id=9, name="custom sync", task_type="DATAX",
            params=DataxParams(custom_json='{"job":{"content":[]}}'),
        ),
        SnapshotTask(
            task_id=10, name="spark", task_type="SPARK",
            params=SparkParams(program_type="JAVA", main_jar="jobs/a.jar", main_class="com.example.A",
                               deploy_mode="client", app_name="a ${dt}", driver_cores=2, driver_memory="1G",
                               num_executors=3, executor_cores=4, executor_memory="8G", main_args="--day ${dt}",
                               others="--conf a=b", yarn_queue="etl", resources=("conf/a.conf",),
                               local_params=_params("s")),
        ),
        SnapshotTask(
            task_id=11, name="spark sql", task_type="SPARK",
            params=SparkParams(program_type="SQL", raw_script="select 1", deploy_mode="local"),
        ),
        SnapshotTask(
            task_id=12, name="flink", task_type="FLINK",
            params=FlinkParams(program_type="SCALA", main_jar="jobs/f.jar", main_class="com.example.F",
                               deploy_mode="application", flink_version=">=1.10", app_name="f", slot=2,
                               task_manager=3, parallelism=4, job_manager_memory="2G", task_manager_memory="3G",
                               main_args="--x", others="-D a=b", yarn_queue="rt", resources=("conf/f.yaml",)),
        ),
        SnapshotTask(
            task_id=13, name="flink sql", task_type="FLINK",
            params=FlinkParams(program_type="SQL", raw_script="insert into k select 1", init_script="set a=b;"),
        ),
        SnapshotTask(
            task_id=14, name="child", task_type="SUB_WORKFLOW",
            params=SubWorkflowParams(workflow_id=77, local_params=_params("c")),
        ),
        SnapshotTask(
            task_id=15, name="route", task_type="SWITCH",
            params=SwitchParams.model_validate({"cases": [{"condition": "${dt} == '2025-01-01' && ${n} > 1",
                                                           "task_id": 12}],
                                                "default_task_id": 10, "local_params": _params("w")}),
        ),
    ]  # fmt: skip
    return StructureSnapshot(
        workflow_id=1,
        workflow_name="conformance",
        description="every task type and node attribute",
        tasks=tuple(tasks),
        edges=(
            Edge(upstream_task_id=1, downstream_task_id=3),
            Edge(upstream_task_id=2, downstream_task_id=3),
            Edge(upstream_task_id=3, downstream_task_id=4),
            Edge(upstream_task_id=4, downstream_task_id=6),
            Edge(upstream_task_id=6, downstream_task_id=7),
            Edge(upstream_task_id=7, downstream_task_id=8),
            Edge(upstream_task_id=7, downstream_task_id=9),
            Edge(upstream_task_id=1, downstream_task_id=10),
            Edge(upstream_task_id=10, downstream_task_id=11),
            Edge(upstream_task_id=1, downstream_task_id=12),
            Edge(upstream_task_id=12, downstream_task_id=13),
            Edge(upstream_task_id=1, downstream_task_id=14),
            Edge(upstream_task_id=1, downstream_task_id=15),
            Edge(upstream_task_id=15, downstream_task_id=10),
            Edge(upstream_task_id=15, downstream_task_id=12),
        ),
        schedule=Schedule(
            crontab="0 30 2 * * ?",
            timezone="Asia/Shanghai",
            start_time=datetime(2025, 1, 1, 8, 0),
            end_time=datetime(2030, 12, 31, 8, 0),
        ),
        global_params=_params("g"),
        execution_type="SERIAL_WAIT",
        timeout_minutes=90,
    )


#: the upstream's DS codes and the DEPENDENT nodes' own codes in ``dependent_snapshot``
UPSTREAM_CODES = {"project": 8_000_000_000_001, "workflow": 8_000_000_000_002, 900: 8_000_000_000_900,
                  901: 8_000_000_000_901}  # fmt: skip


def dependent_snapshot() -> StructureSnapshot:
    """Two links to tasks of another workflow: an hourly and a monthly wait, one before two tasks."""
    links = tuple(
        ExternalDependency(
            upstream_workflow_id=9, upstream_task_id=upstream, task_ids=waiting, cycle=cycle, date_value=value,
            upstream_project_code=UPSTREAM_CODES["project"], upstream_workflow_code=UPSTREAM_CODES["workflow"],
            upstream_workflow_name="ods-load", upstream_task_name=f"load-{upstream}",
        )
        for upstream, waiting, cycle, value in [
            (900, (1, 2), DependentCycle.HOUR, "last3Hours"),
            (901, (2,), DependentCycle.MONTH, "lastMonthEnd"),
        ]
    )  # fmt: skip
    tasks = (
        SnapshotTask(task_id=1, name="a", task_type="SHELL", params=ShellParams(script="true")),
        SnapshotTask(task_id=2, name="b", task_type="SHELL", params=ShellParams(script="true")),
    )
    return StructureSnapshot(workflow_id=2, workflow_name="waits", tasks=tasks, external_dependencies=links)


def dependent_task_params() -> list[str]:
    """The ``taskParams`` of each DEPENDENT task the converter writes for ``dependent_snapshot``, as JSON text."""
    snapshot = dependent_snapshot()
    codes = {1: 7_100_000_000_001, 2: 7_100_000_000_002, -900: 7_100_000_000_900, -901: 7_100_000_000_901}
    defn = convert(snapshot, codes, upstream_task_codes={900: UPSTREAM_CODES[900], 901: UPSTREAM_CODES[901]})
    tasks = [t for t in json.loads(defn.task_definition_json) if t["taskType"] == "DEPENDENT"]
    assert len(tasks) == 2
    return [json.dumps(t["taskParams"]) for t in tasks]


def documents() -> list[dict[str, Any]]:
    """Each document: ``id``, the DS ``entity`` class that reads it, whether it is a ``list``, the ``json`` text, and
    ``ignored``: properties DS does not have that we send on purpose (name -> why)."""
    snapshot = full_snapshot()
    codes = {t.task_id: 7_000_000_000_000 + t.task_id for t in snapshot.tasks}
    defn = convert(
        snapshot,
        codes,
        datasource_ids={("warehouse", "POSTGRESQL"): 42},
        task_versions={7_000_000_000_001: 3},
        sub_workflow_codes={77: CHILD_WORKFLOW_CODE},
    )
    assert defn.schedule_json is not None
    rest_schedule = ScheduleSpec(
        start_time=datetime(2025, 1, 1, tzinfo=UTC),
        end_time=datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC),
        crontab="0 0 2 * * ? *",
        timezone_id="Europe/Berlin",
    ).to_ds_json()
    return [
        {"id": "taskDefinitionJson", "entity": TASK_DEFINITION, "list": True, "json": defn.task_definition_json},
        {"id": "taskRelationJson", "entity": TASK_RELATION, "list": True, "json": defn.task_relation_json},
        {"id": "globalParams", "entity": PROPERTY, "list": True, "json": defn.global_params},
        {"id": "schedule (gateway)", "entity": SCHEDULE_PARAM, "list": False, "json": defn.schedule_json},
        {"id": "schedule (REST)", "entity": SCHEDULE_PARAM, "list": False, "json": rest_schedule},
        *(
            {
                "id": f"{t['taskType']} taskParams {t['name']}",
                "entity": PLUGIN_PARAMETERS[t["taskType"]],
                "list": False,
                "json": json.dumps(t["taskParams"]),
                "ignored": PLUGIN_PARAMS_IGNORED_BY_DS,
            }
            for t in json.loads(defn.task_definition_json)
            if t["taskType"] in PLUGIN_PARAMETERS
        ),
        *(
            {
                "id": f"DEPENDENT taskParams {i}",
                "entity": DEPENDENT_PARAMETERS,
                "list": False,
                "json": text,
                "ignored": DEPENDENT_IGNORED_BY_DS,
            }
            for i, text in enumerate(dependent_task_params(), 1)
        ),
    ]


#: documents with a deliberate mismatch: the harness's own tests show that the comparison catches each
MISMATCHES: list[dict[str, Any]] = [
    {
        "id": "mismatch: unknown field",
        "entity": TASK_DEFINITION,
        "list": True,
        "json": '[{"code":1,"version":1,"name":"a","taskType":"SHELL","taskParams":{},"isCache":"NO"}]',
    },
    {
        "id": "mismatch: unknown enum name",
        "entity": TASK_DEFINITION,
        "list": True,
        "json": '[{"code":1,"version":1,"name":"a","taskType":"SHELL","taskParams":{},"taskPriority":"URGENT"}]',
    },
    {
        "id": "mismatch: wrong relation field",
        "entity": TASK_RELATION,
        "list": True,
        "json": '[{"preTaskCode":0,"postTaskCode":1,"processDefinitionCode":5}]',
    },
    {
        # DS 3.2's item key for the workflow, a relation and a failure policy DS has no constant for
        "id": "mismatch: DEPENDENT taskParams",
        "entity": DEPENDENT_PARAMETERS,
        "list": False,
        "json": '{"dependence":{"relation":"XOR","dependTaskList":[{"relation":"AND","dependItemList":['
        '{"projectCode":1,"processDefinitionCode":2,"depTaskCode":3,"cycle":"day","dateValue":"today"}]}],'
        '"checkInterval":10,"failurePolicy":"DEPENDENT_FAILURE_RETRY"},"localParams":[]}',
    },
]
