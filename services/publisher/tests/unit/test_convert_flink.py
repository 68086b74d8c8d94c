"""FLINK tasks (issue 21): ``convert`` field by field (a program from a DS resource, or Flink SQL), and equivalence
with pydolphinscheduler 4.1.0's ``Flink``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from common.workflow import FlinkParams, NodeAttrs, SnapshotTask
from publisher.domain import convert

from .test_pyds_equivalence import PROJECT, USER, normalise_task

CODE = 1_000_000_000_000
ATTRS = NodeAttrs(worker_group="flink", retries=2)


def program(task_id: int = 1, **params: Any) -> SnapshotTask:
    p = FlinkParams(main_jar="jobs/stream.jar", main_class="com.example.Stream", **params)
    return SnapshotTask(task_id=task_id, name=f"flink-{task_id}", task_type="FLINK", params=p, node_attrs=ATTRS)


def test_a_program_maps_every_field(snapshot: Any) -> None:
    t = program(program_type="JAVA", deploy_mode="application", flink_version=">=1.10", app_name="s", slot=2,
                task_manager=3, parallelism=4, job_manager_memory="2G", task_manager_memory="4G", main_args="--x 1",
                others="-D a=b", yarn_queue="rt", resources=("conf/f.yaml",))  # fmt: skip
    (d,) = json.loads(convert(snapshot([t]), {1: CODE}).task_definition_json)
    assert d["taskType"] == "FLINK"
    assert d["taskParams"] == {
        "programType": "JAVA",
        "mainClass": "com.example.Stream",
        "mainJar": {"resourceName": "jobs/stream.jar"},
        "rawScript": "",
        "initScript": "",
        "deployMode": "application",
        "flinkVersion": ">=1.10",
        "appName": "s",
        "jobManagerMemory": "2G",
        "taskManagerMemory": "4G",
        "slot": 2,
        "taskManager": 3,
        "parallelism": 4,
        "mainArgs": "--x 1",
        "others": "-D a=b",
        "yarnQueue": "rt",
        "localParams": [],
        "resourceList": [{"resourceName": "conf/f.yaml"}],
    }


def test_flink_sql_sends_its_scripts_and_no_jar(snapshot: Any) -> None:
    p = FlinkParams(program_type="SQL", raw_script="insert into k select * from s", init_script="set a=b;")
    t = SnapshotTask(task_id=2, name="sql", task_type="FLINK", params=p)
    (d,) = json.loads(convert(snapshot([t]), {2: CODE}).task_definition_json)
    tp = d["taskParams"]
    assert (tp["programType"], tp["mainJar"], tp["rawScript"], tp["initScript"]) == (
        "SQL",
        None,
        "insert into k select * from s",
        "set a=b;",
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"program_type": "SQL"}, "raw_script is required"),
        ({"program_type": "PYTHON"}, "main_jar is required"),
        ({"main_jar": "a.jar"}, "main_class is required for a SCALA program"),
        ({"program_type": "PYTHON", "main_jar": "a.py", "deploy_mode": "yarn"}, "deploy_mode"),
        ({"program_type": "PYTHON", "main_jar": "a.py", "flink_version": "1.17"}, "flink_version"),
        ({"program_type": "PYTHON", "main_jar": "a.py", "slot": 0}, "slot"),
    ],
)
def test_an_incomplete_program_is_refused(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FlinkParams.model_validate(params)


SDK_ONLY_PARAMS = {"dependence", "conditionResult", "waitStartTimeout"}


def test_flink_tasks_mean_what_the_sdk_sends(pyds: Any, fake_gateway: Any, snapshot: Any) -> None:
    """Field by field, but for what the SDK sends otherwise (as for SPARK, test_convert_spark.SDK_DIFFERENCES):
    ``mainJar`` (the SDK: DS 3.2's resource id), and ``rawScript``, ``initScript``, ``yarnQueue``, which the SDK's
    ``Flink`` has no argument for (null; ours empty text, which FlinkArgsUtils treats alike)."""
    tasks = [program(1), program(2, program_type="JAVA", deploy_mode="local", flink_version=">=1.10", app_name="a",
                                 main_args="x", others="-D a=b", slot=3, parallelism=2)]  # fmt: skip
    codes = {1: CODE + 1, 2: CODE + 2}
    entry = fake_gateway({t.name: codes[t.task_id] for t in tasks}, {}, {})
    entry.getResourcesFileInfo = lambda program_type, name: {"id": 78, "name": name}
    wf = pyds.workflow.Workflow(name="flinks", user=USER, project=PROJECT, worker_group="default")
    with wf:
        for t in tasks:
            p, a = t.params, t.node_attrs
            assert isinstance(p, FlinkParams)
            pyds.flink.Flink(
                name=t.name, main_class=p.main_class, main_package=p.main_jar, program_type=p.program_type,
                deploy_mode=p.deploy_mode, flink_version=p.flink_version, app_name=p.app_name or None,
                job_manager_memory=p.job_manager_memory, task_manager_memory=p.task_manager_memory, slot=p.slot,
                task_manager=p.task_manager, parallelism=p.parallelism, main_args=p.main_args or None,
                others=p.others or None, worker_group=a.worker_group, fail_retry_times=a.retries,
            )  # fmt: skip
    theirs = {t["code"]: t for t in json.loads(json.dumps(wf.get_define()["taskDefinitionJson"]))}
    mine = {t["code"]: t for t in json.loads(convert(snapshot(tasks), codes).task_definition_json)}
    assert set(mine) == set(theirs)
    for code, sdk in theirs.items():
        sdk_params = {k: v for k, v in sdk["taskParams"].items() if k not in SDK_ONLY_PARAMS}
        my_params = dict(mine[code]["taskParams"])
        assert sdk_params.pop("mainJar") == {"id": 78}
        assert my_params.pop("mainJar") == {"resourceName": "jobs/stream.jar"}
        assert (my_params.pop("rawScript"), my_params.pop("initScript"), my_params.pop("yarnQueue")) == ("", "", "")
        for k in ("appName", "mainArgs", "others"):
            sdk_params[k] = sdk_params[k] or ""
        mine_task = {k: v for k, v in mine[code].items() if k not in ("cpuQuota", "memoryMax")}
        sdk_task = {k: v for k, v in sdk.items() if k not in ("cpuQuota", "memoryMax")}
        assert normalise_task({**mine_task, "taskParams": my_params}, sdk=False) == normalise_task(
            {**sdk_task, "taskParams": sdk_params}, sdk=True
        ), code
