"""Builders for publisher unit tests, and a gateway-free pydolphinscheduler for the equivalence test."""

from __future__ import annotations

import importlib
import logging
import os
import random
import sys
import warnings
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import Any

import pytest

from common.workflow import (
    Edge,
    NodeAttrs,
    Param,
    Priority,
    PythonParams,
    ShellParams,
    SnapshotTask,
    SqlParams,
    StructureSnapshot,
    TimeoutStrategy,
)

DATASOURCES = {("warehouse", "POSTGRESQL"): 11, ("orders", "MYSQL"): 12}


def make_task(task_id: int, kind: str = "SHELL", name: str | None = None, **attrs: Any) -> SnapshotTask:
    """A task of ``kind`` with a script/sql derived from its id; ``attrs`` go to ``NodeAttrs``."""
    params: ShellParams | PythonParams | SqlParams
    if kind == "SHELL":
        params = ShellParams(script=f"echo task {task_id}")
    elif kind == "PYTHON":
        params = PythonParams(script=f"print({task_id})")
    else:
        params = SqlParams(datasource_name="warehouse", sql=f"insert into t values ({task_id})")
    return SnapshotTask(
        task_id=task_id,
        name=name or f"task-{task_id}",
        task_type=kind,
        params=params,
        node_attrs=NodeAttrs(**attrs),
    )


def make_snapshot(tasks: Iterable[SnapshotTask], edges: Iterable[tuple[int, int]] = (), **kw: Any) -> StructureSnapshot:
    return StructureSnapshot(
        workflow_id=kw.pop("workflow_id", 7),
        workflow_name=kw.pop("workflow_name", "daily-load"),
        tasks=tuple(tasks),
        edges=tuple(Edge(upstream_task_id=u, downstream_task_id=d) for u, d in edges),
        **kw,
    )


def random_dag(n_tasks: int, n_edges: int, seed: int = 1) -> StructureSnapshot:
    """A layered random DAG with a realistic mix of task types and attributes (edges only go forward)."""
    rnd = random.Random(seed)
    priorities = list(Priority)
    tasks = []
    for tid in range(1, n_tasks + 1):
        roll = rnd.random()
        timeout = rnd.choice([0, 0, 30, 120])
        attrs = NodeAttrs(
            worker_group=rnd.choice(["default", "default", "etl"]),
            retries=rnd.choice([0, 0, 1, 3]),
            retry_interval_minutes=rnd.choice([1, 5]),
            timeout_minutes=timeout,
            timeout_strategy=rnd.choice([None, TimeoutStrategy.FAILED]) if timeout else None,
            priority=rnd.choice(priorities),
            delay_minutes=rnd.choice([0, 0, 0, 2]),
            enabled=rnd.random() > 0.05,
            environment_code=rnd.choice([-1, -1, 3]),
            cpu_quota=rnd.choice([-1, -1, 50]),
            memory_max_mb=rnd.choice([-1, -1, 1024]),
        )
        local = (Param(name="dt", value="${system.biz.date}"),) if rnd.random() < 0.3 else ()
        params: ShellParams | PythonParams | SqlParams
        if roll < 0.5:
            params = ShellParams(
                script=f"set -e\necho 'step {tid}'\n./run.sh --part {tid}",
                local_params=local,
                resources=("scripts/run.sh",) if rnd.random() < 0.2 else (),
            )
        elif roll < 0.75:
            params = PythonParams(script=f"import sys\nprint('task {tid}', sys.argv)", local_params=local)
        else:
            ds_name, ds_type = rnd.choice(list(DATASOURCES))
            params = SqlParams(
                datasource_name=ds_name,
                datasource_type=ds_type,
                sql=f"insert into part_{tid} select * from staging where dt = '${{dt}}'",
                sql_type=rnd.choice(["query", "non_query"]),
                pre_statements=("set search_path to etl",) if rnd.random() < 0.3 else (),
                local_params=local,
            )
        tasks.append(
            SnapshotTask(task_id=tid, name=f"task_{tid}", task_type=params.kind, params=params, node_attrs=attrs)
        )
    edges: set[tuple[int, int]] = set()
    while len(edges) < n_edges:
        down = rnd.randint(2, n_tasks)
        up = rnd.randint(max(1, down - 40), down - 1)
        edges.add((up, down))
    return make_snapshot(tasks, sorted(edges), workflow_name=f"dag-{n_tasks}")


@pytest.fixture
def task() -> Callable[..., SnapshotTask]:
    return make_task


@pytest.fixture
def snapshot() -> Callable[..., StructureSnapshot]:
    return make_snapshot


@pytest.fixture
def dag() -> Callable[..., StructureSnapshot]:
    return random_dag


@pytest.fixture
def datasources() -> dict[tuple[str, str], int]:
    return dict(DATASOURCES)


def codes_for(snapshot: StructureSnapshot, base: int = 1_000_000_000_000) -> dict[int, int]:
    return {t.task_id: base + t.task_id for t in snapshot.tasks}


@pytest.fixture
def codes() -> Callable[..., dict[int, int]]:
    return codes_for


# --- pydolphinscheduler without a Java gateway ---------------------------------------------------------------


class FakeEntryPoint:
    """Stands in for the py4j entry point: answers what building a workflow asks, records the submit.

    Any other gateway method fails the test, so nothing can reach a real server.
    """

    def __init__(self, codes_by_name: dict[str, int], environments: dict[str, int]) -> None:
        self.codes_by_name = codes_by_name
        self.environments = environments
        self.submitted: list[tuple[Any, ...]] = []

    def getCodeAndVersion(self, project: str, workflow: str, task_name: str) -> dict[str, int]:
        return {"code": self.codes_by_name[task_name], "version": 1}

    def getEnvironmentInfo(self, name: str) -> int:
        return self.environments[name]

    def createOrUpdateWorkflow(self, *args: Any) -> int:
        self.submitted.append(args)
        return 4242

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected gateway call {name}")


@pytest.fixture(scope="session")
def pyds() -> SimpleNamespace:
    """The pydolphinscheduler modules, imported with the gateway pointed at a closed port and quiet."""
    if "pydolphinscheduler" not in sys.modules:
        os.environ.setdefault("PYDS_JAVA_GATEWAY_ADDRESS", "127.0.0.1")
        os.environ.setdefault("PYDS_JAVA_GATEWAY_PORT", "9")  # discard port: nothing listens, refused at once
    for noisy in ("py4j", "pydolphinscheduler"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    names = {
        "java_gateway": "pydolphinscheduler.java_gateway",
        "workflow": "pydolphinscheduler.core.workflow",
        "parameter": "pydolphinscheduler.core.parameter",
        "shell": "pydolphinscheduler.tasks.shell",
        "python": "pydolphinscheduler.tasks.python",
        "sql": "pydolphinscheduler.tasks.sql",
        "dependent": "pydolphinscheduler.tasks.dependent",
        "http": "pydolphinscheduler.tasks.http",
        "procedure": "pydolphinscheduler.tasks.procedure",
        "datax": "pydolphinscheduler.tasks.datax",
        "spark": "pydolphinscheduler.tasks.spark",
        "flink": "pydolphinscheduler.tasks.flink",
        "condition": "pydolphinscheduler.tasks.condition",
        "switch": "pydolphinscheduler.tasks.switch",
        "sub_workflow": "pydolphinscheduler.tasks.sub_workflow",
        "datasource": "pydolphinscheduler.models.datasource",
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "unmatched version ... (version unknown)": there is no gateway here
        return SimpleNamespace(**{k: importlib.import_module(v) for k, v in names.items()})


@pytest.fixture
def fake_gateway(
    pyds: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> Callable[[dict[str, int], dict[str, int], dict[tuple[str, str], int]], FakeEntryPoint]:
    """Install a fake entry point (codes by task name, environments, datasources) into pydolphinscheduler."""

    def install(
        codes_by_name: dict[str, int], environments: dict[str, int], datasource_ids: dict[tuple[str, str], int]
    ) -> FakeEntryPoint:
        entry = FakeEntryPoint(codes_by_name, environments)
        monkeypatch.setattr(pyds.java_gateway.gateway, "_gateway", SimpleNamespace(entry_point=entry))

        def task_usage(cls: Any, name: str, type_: str | None = None) -> Any:
            assert type_ is not None
            return pyds.datasource.TaskUsage(id=datasource_ids[(name, type_.upper())], type=type_.upper())

        monkeypatch.setattr(pyds.datasource.Datasource, "get_task_usage_4j", classmethod(task_usage))
        # users, tenants and projects are not this test's business
        monkeypatch.setattr(pyds.workflow.Workflow, "_ensure_side_model_exists", lambda self: None)
        return entry

    return install
