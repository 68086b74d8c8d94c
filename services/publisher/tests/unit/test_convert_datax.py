"""DATAX tasks (issue 21): ``convert`` field by field in both forms (DS builds the job from two datasources, or a
custom DataX JSON), and equivalence with pydolphinscheduler 4.1.0's ``DataX`` and ``CustomDataX``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from common.workflow import DataxParams, NodeAttrs, SnapshotTask, datasources_of
from publisher.domain import MissingDatasources, convert

from .test_pyds_equivalence import PROJECT, USER, normalise_task

CODE = 1_000_000_000_000
DATASOURCES = {("orders", "MYSQL"): 12, ("dw", "POSTGRESQL"): 11}
ATTRS = NodeAttrs(worker_group="etl", retries=1, cpu_quota=50, memory_max_mb=1024)
JOB = json.dumps({"job": {"content": [{"reader": {"name": "mysqlreader"}, "writer": {"name": "streamwriter"}}]}})


def built(task_id: int = 1, **params: Any) -> SnapshotTask:
    p = DataxParams(
        source_datasource_name="orders",
        source_datasource_type="mysql",
        sql="select * from orders where dt = '${dt}'",
        target_datasource_name="dw",
        target_datasource_type="POSTGRESQL",
        target_table="ods.orders",
        **params,
    )
    return SnapshotTask(task_id=task_id, name=f"sync-{task_id}", task_type="DATAX", params=p, node_attrs=ATTRS)


def custom(task_id: int = 2, **params: Any) -> SnapshotTask:
    p = DataxParams(custom_json=JOB, **params)
    return SnapshotTask(task_id=task_id, name=f"job-{task_id}", task_type="DATAX", params=p, node_attrs=ATTRS)


def test_a_built_job_maps_every_field(snapshot: Any) -> None:
    t = built(pre_statements=("truncate ods.orders",), post_statements=("analyze ods.orders",), job_speed_byte=1024,
              job_speed_record=500, xms=2, xmx=4)  # fmt: skip
    (d,) = json.loads(convert(snapshot([t]), {1: CODE}, datasource_ids=DATASOURCES).task_definition_json)
    assert d["taskType"] == "DATAX"
    assert d["taskParams"] == {
        "customConfig": 0,
        "dsType": "MYSQL",
        "dataSource": 12,
        "dtType": "POSTGRESQL",
        "dataTarget": 11,
        "sql": "select * from orders where dt = '${dt}'",
        "targetTable": "ods.orders",
        "jobSpeedByte": 1024,
        "jobSpeedRecord": 500,
        "preStatements": ["truncate ods.orders"],
        "postStatements": ["analyze ods.orders"],
        "xms": 2,
        "xmx": 4,
        "localParams": [],
        "resourceList": [],
    }
    assert (d["cpuQuota"], d["memoryMax"], d["workerGroup"]) == (50, 1024, "etl")


def test_a_custom_job_sends_only_its_json(snapshot: Any) -> None:
    (d,) = json.loads(convert(snapshot([custom()]), {2: CODE}).task_definition_json)
    assert d["taskParams"] == {"customConfig": 1, "json": JOB, "xms": 1, "xmx": 1, "localParams": [],
                               "resourceList": []}  # fmt: skip


def test_both_datasources_must_exist_and_are_listed_once(snapshot: Any) -> None:
    assert datasources_of(built().params) == (("orders", "mysql"), ("dw", "POSTGRESQL"))
    assert datasources_of(custom().params) == ()
    with pytest.raises(MissingDatasources) as caught:
        convert(snapshot([built(1), built(3)]), {1: CODE, 3: CODE + 3}, datasource_ids={("orders", "MYSQL"): 12})
    assert caught.value.extras["missing"] == [{"name": "dw", "type": "POSTGRESQL", "task_ids": [1, 3]}]


@pytest.mark.parametrize(
    ("params", "needs"),
    [
        ({}, "source_datasource_name, sql, target_datasource_name, target_table"),
        ({"source_datasource_name": "a", "sql": "select 1", "target_datasource_name": "b"}, "target_table"),
        ({"custom_json": "{}", "xms": 4, "xmx": 2}, "xms must not be more than xmx"),
    ],
)
def test_an_incomplete_job_is_refused(params: dict[str, Any], needs: str) -> None:
    with pytest.raises(ValidationError, match=needs):
        DataxParams.model_validate(params)


#: ``taskParams`` keys every SDK task sends and DS's ``DataxParameters`` has no property for
SDK_ONLY_PARAMS = {"dependence", "conditionResult", "waitStartTimeout"}


def sdk_tasks(pyds: Any, fake_gateway: Any, tasks: list[SnapshotTask], codes: dict[int, int]) -> dict[int, Any]:
    fake_gateway({t.name: codes[t.task_id] for t in tasks}, {}, DATASOURCES)
    wf = pyds.workflow.Workflow(name="syncs", user=USER, project=PROJECT, worker_group="default")
    with wf:
        for t in tasks:
            p, a = t.params, t.node_attrs
            assert isinstance(p, DataxParams)
            common = {"worker_group": a.worker_group, "fail_retry_times": a.retries, "cpu_quota": a.cpu_quota,
                      "memory_max": a.memory_max_mb, "xms": p.xms, "xmx": p.xmx}  # fmt: skip
            if p.custom_json:
                pyds.datax.CustomDataX(name=t.name, json=p.custom_json, **common)
            else:
                pyds.datax.DataX(
                    name=t.name, datasource_name=p.source_datasource_name, datasource_type=p.source_datasource_type,
                    datatarget_name=p.target_datasource_name, datatarget_type=p.target_datasource_type, sql=p.sql,
                    target_table=p.target_table, job_speed_byte=p.job_speed_byte,
                    job_speed_record=p.job_speed_record, pre_statements=list(p.pre_statements),
                    post_statements=list(p.post_statements), **common,
                )  # fmt: skip
    return {t["code"]: t for t in json.loads(json.dumps(wf.get_define()["taskDefinitionJson"]))}


def test_datax_tasks_mean_what_the_sdk_sends(pyds: Any, fake_gateway: Any, snapshot: Any) -> None:
    tasks = [built(1, pre_statements=("truncate t",), job_speed_byte=2048, xms=2, xmx=3), custom(2)]
    codes = {1: CODE + 1, 2: CODE + 2}
    mine = {t["code"]: t for t in json.loads(convert(snapshot(tasks), codes, datasource_ids=DATASOURCES)
                                             .task_definition_json)}  # fmt: skip
    theirs = sdk_tasks(pyds, fake_gateway, tasks, codes)
    assert set(mine) == set(theirs)
    for code, sdk in theirs.items():
        sdk = {**sdk, "taskParams": {k: v for k, v in sdk["taskParams"].items() if k not in SDK_ONLY_PARAMS}}
        assert normalise_task(mine[code], sdk=False) == normalise_task(sdk, sdk=True), code
    assert mine[CODE + 1]["taskParams"]["dataTarget"] == 11
    assert mine[CODE + 2]["taskParams"]["customConfig"] == 1
