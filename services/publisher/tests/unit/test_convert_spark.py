"""SPARK tasks (issue 21): ``convert`` field by field (a program from a DS resource, or Spark SQL), and equivalence
with pydolphinscheduler 4.1.0's ``Spark``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from common.workflow import NodeAttrs, SnapshotTask, SparkParams
from publisher.domain import convert

from .test_pyds_equivalence import PROJECT, USER, normalise_task

CODE = 1_000_000_000_000
ATTRS = NodeAttrs(worker_group="spark", retries=1, cpu_quota=100, memory_max_mb=4096)


def program(task_id: int = 1, **params: Any) -> SnapshotTask:
    p = SparkParams(main_jar="jobs/orders.jar", main_class="com.example.Orders", **params)
    return SnapshotTask(task_id=task_id, name=f"spark-{task_id}", task_type="SPARK", params=p, node_attrs=ATTRS)


def test_a_program_maps_every_field(snapshot: Any) -> None:
    t = program(program_type="JAVA", deploy_mode="client", app_name="orders ${dt}", driver_cores=2,
                driver_memory="1G", num_executors=4, executor_cores=3, executor_memory="4g", main_args="--day ${dt}",
                others="--conf spark.x=1", yarn_queue="etl", resources=("conf/app.conf",))  # fmt: skip
    (d,) = json.loads(convert(snapshot([t]), {1: CODE}).task_definition_json)
    assert d["taskType"] == "SPARK"
    assert d["taskParams"] == {
        "programType": "JAVA",
        "mainClass": "com.example.Orders",
        "mainJar": {"resourceName": "jobs/orders.jar"},
        "rawScript": "",
        "deployMode": "client",
        "appName": "orders ${dt}",
        "driverCores": 2,
        "driverMemory": "1G",
        "numExecutors": 4,
        "executorCores": 3,
        "executorMemory": "4g",
        "mainArgs": "--day ${dt}",
        "others": "--conf spark.x=1",
        "yarnQueue": "etl",
        "localParams": [],
        "resourceList": [{"resourceName": "conf/app.conf"}],
    }
    assert (d["cpuQuota"], d["memoryMax"], d["workerGroup"]) == (100, 4096, "spark")


def test_spark_sql_sends_its_script_and_no_jar(snapshot: Any) -> None:
    p = SparkParams(program_type="SQL", raw_script="insert into t select * from s")
    t = SnapshotTask(task_id=2, name="sql", task_type="SPARK", params=p)
    (d,) = json.loads(convert(snapshot([t]), {2: CODE}).task_definition_json)
    assert (d["taskParams"]["programType"], d["taskParams"]["mainJar"], d["taskParams"]["rawScript"]) == (
        "SQL",
        None,
        "insert into t select * from s",
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"program_type": "SQL"}, "raw_script is required"),
        ({"program_type": "PYTHON"}, "main_jar is required"),
        ({"main_jar": "a.jar"}, "main_class is required for a SCALA program"),
        ({"program_type": "PYTHON", "main_jar": "a.py", "driver_memory": "lots"}, "driver_memory"),
        ({"program_type": "PYTHON", "main_jar": "a.py", "deploy_mode": "yarn"}, "deploy_mode"),
        ({"program_type": "PYTHON", "main_jar": "a.py", "num_executors": 0}, "num_executors"),
    ],
)
def test_an_incomplete_program_is_refused(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SparkParams.model_validate(params)


#: what pydolphinscheduler 4.1.0's ``Spark`` sends otherwise than we do, each with why ours is what DS 3.3+ reads
SDK_DIFFERENCES = {
    "mainJar": "the SDK sends {id} of DS 3.2's resource centre (resolved through the gateway's getResourcesFileInfo, "
    "which DS 3.3+ answers with one argument, not the SDK's two: CONTRACT §6.3); DS 3.3+'s SparkTask reads "
    "mainJar.resourceName",
    "rawScript, yarnQueue": "SparkParameters has both; the SDK's Spark has no argument for them (null): our empty "
    "text means the same for a program (SparkTask tests isNotEmpty)",
}
SDK_ONLY_PARAMS = {"dependence", "conditionResult", "waitStartTimeout"}


def test_spark_tasks_mean_what_the_sdk_sends(pyds: Any, fake_gateway: Any, snapshot: Any) -> None:
    """Field by field, but for ``SDK_DIFFERENCES`` (asserted one by one below)."""
    tasks = [program(1), program(2, program_type="JAVA", deploy_mode="client", app_name="a", main_args="x",
                                 others="--conf a=b", executor_memory="3G")]  # fmt: skip
    codes = {1: CODE + 1, 2: CODE + 2}
    entry = fake_gateway({t.name: codes[t.task_id] for t in tasks}, {}, {})
    resources: list[tuple[str, str]] = []

    def get_resources_file_info(program_type: str, name: str) -> dict[str, Any]:
        resources.append((program_type, name))
        return {"id": 77, "name": name}

    entry.getResourcesFileInfo = get_resources_file_info
    wf = pyds.workflow.Workflow(name="sparks", user=USER, project=PROJECT, worker_group="default")
    with wf:
        for t in tasks:
            p, a = t.params, t.node_attrs
            assert isinstance(p, SparkParams)
            pyds.spark.Spark(
                name=t.name, main_class=p.main_class, main_package=p.main_jar, program_type=p.program_type,
                deploy_mode=p.deploy_mode, app_name=p.app_name or None, driver_cores=p.driver_cores,
                driver_memory=p.driver_memory, num_executors=p.num_executors, executor_memory=p.executor_memory,
                executor_cores=p.executor_cores, main_args=p.main_args or None, others=p.others or None,
                worker_group=a.worker_group, fail_retry_times=a.retries,
            )  # fmt: skip
    theirs = {t["code"]: t for t in json.loads(json.dumps(wf.get_define()["taskDefinitionJson"]))}
    mine = {t["code"]: t for t in json.loads(convert(snapshot(tasks), codes).task_definition_json)}
    assert set(mine) == set(theirs)
    assert sorted(resources) == [("JAVA", "jobs/orders.jar"), ("SCALA", "jobs/orders.jar")]
    for code, sdk in theirs.items():
        sdk_params = {k: v for k, v in sdk["taskParams"].items() if k not in SDK_ONLY_PARAMS}
        my_params = dict(mine[code]["taskParams"])
        assert sdk_params.pop("mainJar") == {"id": 77}
        assert my_params.pop("mainJar") == {"resourceName": "jobs/orders.jar"}
        assert (my_params.pop("rawScript"), my_params.pop("yarnQueue")) == ("", "")
        for k in ("appName", "mainArgs", "others"):  # the SDK's "none" is null, ours empty text
            sdk_params[k] = sdk_params[k] or ""
        # the SDK's Spark has no WorkerResourceMixin: no cpuQuota/memoryMax; ours are DS's "no limit" or set
        mine_task = {k: v for k, v in mine[code].items() if k not in ("cpuQuota", "memoryMax")}
        sdk_task = {k: v for k, v in sdk.items() if k not in ("cpuQuota", "memoryMax")}
        assert normalise_task({**mine_task, "taskParams": my_params}, sdk=False) == normalise_task(
            {**sdk_task, "taskParams": sdk_params}, sdk=True
        ), code
