"""Equivalence with pydolphinscheduler 4.1.0 (the official SDK): the same DAG built with its ``Workflow`` and
``Shell``/``Python``/``Sql`` tasks must *mean* the same as our ``convert`` output; so must the DEPENDENT tasks of a
snapshot's ``external_dependencies`` and the SDK's ``Dependent`` task (``And``/``DependentItem``), field by field.

The SDK never reaches a Java gateway here: ``fake_gateway`` (conftest) answers the three things building a
workflow asks for (task code by name, environment code by name, datasource by name and type; the DEPENDENT tests
add ``getDependentInfo``, the upstream's codes by project, workflow and task name) and records the
``createOrUpdateWorkflow`` call that ``Workflow.submit()`` makes, so the Java-order arguments can be compared too.

Both sides are normalised before comparing: field order is ignored and so are the differences below, each one
deliberate or a known SDK limitation.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from common.workflow import (
    DependentCycle,
    Edge,
    ExecutionType,
    ExternalDependency,
    NodeAttrs,
    Param,
    ParamType,
    Schedule,
    ShellParams,
    SnapshotTask,
    SqlParams,
    StructureSnapshot,
    TimeoutStrategy,
)
from publisher.domain import convert, gateway_args

#: task fields not compared, and why
IGNORED_TASK_FIELDS = {
    "version": "version numbers are not compared (the SDK's come from the gateway, ours from DS reads)",
    "isCache": "SDK only: a DS 3.2 field, removed in DS 3.3 (DSIP-87); DS 3.3+ ignores it",
}
#: ``taskParams`` keys only the SDK sends; SHELL, PYTHON and SQL ignore them
IGNORED_TASK_PARAMS = {"dependence", "conditionResult", "waitStartTimeout"}
#: fields the SDK's ``Sql`` and ``Dependent`` tasks lack by design (no WorkerResourceMixin); after any
#: ``Shell``/``Python`` was built the SDK even emits them as null for these, because the mixin mutates the shared
#: class-level attribute set. We send DS's "no limit", -1 (a DEPENDENT task runs in the master, which ignores both)
SQL_FIELDS_SDK_LACKS = {"cpuQuota", "memoryMax"}
TASK_TYPES_WITHOUT_WORKER_RESOURCES = ("SQL", "DEPENDENT")
#: relation fields not compared: versions (see above). ``conditionType`` is compared by meaning: the SDK sends
#: the int 0, we send the name "NONE" (DS accepts both, CONTRACT §2.2).
IGNORED_RELATION_FIELDS = {"preTaskVersion", "postTaskVersion"}
CONDITION_TYPE_NAMES = {0: "NONE", 1: "JUDGE", 2: "DELAY"}

DATASOURCES = {("warehouse", "POSTGRESQL"): 11, ("orders", "MYSQL"): 12}
USER, PROJECT = "svc-publisher", "analytics"


def normalise_task(task: dict[str, Any], *, sdk: bool) -> dict[str, Any]:
    t = {k: v for k, v in task.items() if k not in IGNORED_TASK_FIELDS}
    params = {k: v for k, v in t["taskParams"].items() if k not in IGNORED_TASK_PARAMS}
    # the SDK orders localParams IN before OUT and builds resourceList from a set: order carries no meaning
    params["localParams"] = sorted(
        ({**p, "value": str(p["value"])} for p in params["localParams"]), key=lambda p: (p["prop"], p["direct"])
    )
    params["resourceList"] = sorted(params["resourceList"], key=lambda r: r["resourceName"])
    t["taskParams"] = params
    if t["taskType"] in TASK_TYPES_WITHOUT_WORKER_RESOURCES:
        for k in SQL_FIELDS_SDK_LACKS:
            t.pop(k, None)
    if sdk:
        # the SDK says "no environment" with null, DS and we with -1
        if t["environmentCode"] is None:
            t["environmentCode"] = -1
        t["description"] = t["description"] or ""
        # deliberate difference: an open timeout without a strategy is sent as WARN by us, null by the SDK
        # (DS does nothing on timeout with a null strategy)
        if t["timeoutFlag"] == "OPEN" and t["timeoutNotifyStrategy"] is None:
            t["timeoutNotifyStrategy"] = "WARN"
    return t


def normalise_tasks(tasks: list[dict[str, Any]], *, sdk: bool) -> dict[int, dict[str, Any]]:
    out = {t["code"]: normalise_task(t, sdk=sdk) for t in tasks}
    assert len(out) == len(tasks)
    return out


def normalise_relations(relations: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    out = []
    for r in relations:
        rest = {k: v for k, v in r.items() if k not in IGNORED_RELATION_FIELDS}
        cond = rest.pop("conditionType")
        rest["conditionType"] = CONDITION_TYPE_NAMES.get(cond, cond)
        params = rest.pop("conditionParams")
        rest["conditionParams"] = json.loads(params) if isinstance(params, str) else params
        out.append(tuple(sorted(rest.items(), key=lambda kv: kv[0])))
    return sorted(out, key=repr)


def assert_branching_task_as_sdk(
    definition_json: str, relation_json: str, sdk_define: dict[str, Any], code: int, own_params: tuple[str, ...]
) -> None:
    """A CONDITIONS or SWITCH task (``code``) and the relations as the converter sends them (its task definition and
    relation JSON) and as the SDK does (``Workflow.get_define()``): the same tasks, the type's ``own_params`` equal,
    the task field by field but for the SDK's ``waitStartTimeout`` (which these types ignore) and the worker resources
    the SDK lacks, and the same relations (the SDK draws the branch edges itself)."""
    define = {k: json.loads(json.dumps(sdk_define[k])) for k in ("taskDefinitionJson", "taskRelationJson")}
    theirs = {t["code"]: t for t in define["taskDefinitionJson"]}
    mine = {t["code"]: t for t in json.loads(definition_json)}
    assert set(mine) == set(theirs)
    sdk_params = {k: v for k, v in theirs[code]["taskParams"].items() if k != "waitStartTimeout"}
    for name in own_params:
        assert sdk_params[name] == mine[code]["taskParams"][name], name
    drop = ("cpuQuota", "memoryMax")
    mine_task = {k: v for k, v in mine[code].items() if k not in drop}
    sdk_task = {k: v for k, v in theirs[code].items() if k not in drop}
    assert normalise_task(mine_task, sdk=False) == normalise_task({**sdk_task, "taskParams": sdk_params}, sdk=True)
    assert normalise_relations(json.loads(relation_json)) == normalise_relations(define["taskRelationJson"])


# --- the DAG, and an independent translation of it to the SDK -------------------------------------------


def equivalence_snapshot(random_dag: Any) -> StructureSnapshot:
    """The conftest random DAG (all types, attrs mixed) plus hand-made tasks for what it lacks."""
    base = random_dag(60, 90, seed=11)
    extras = [
        SnapshotTask(
            task_id=101,
            name="extract orders",
            task_type="SHELL",
            description="pulls the day's orders",
            params=ShellParams(
                script="curl -sf https://example.invalid/orders > orders.csv\nwc -l orders.csv",
                local_params=(
                    Param(name="day", value="${system.biz.date}"),
                    Param(name="rows", direction="OUT", type=ParamType.INTEGER),
                    Param(name="limit", value="1000", type=ParamType.LONG),
                ),
                resources=("lib/a.jar", "conf/b.yaml"),
            ),
            node_attrs=NodeAttrs(
                retries=2,
                retry_interval_minutes=3,
                timeout_minutes=15,
                timeout_strategy=TimeoutStrategy.WARNFAILED,
                priority="HIGHEST",
                delay_minutes=1,
                environment_code=3,
                cpu_quota=80,
                memory_max_mb=256,
                worker_group="etl",
            ),
        ),
        SnapshotTask(
            task_id=102,
            name="load orders",
            task_type="SQL",
            description="upsert",
            params=SqlParams(
                datasource_name="orders",
                datasource_type="MYSQL",
                sql="insert into orders select * from staging_orders",
                sql_type="non_query",
                pre_statements=("set autocommit=0",),
                post_statements=("commit", "analyze table orders"),
                display_rows=50,
                local_params=(Param(name="n", direction="OUT", type=ParamType.INTEGER),),
            ),
            node_attrs=NodeAttrs(enabled=False, timeout_minutes=60),  # open timeout, no strategy
        ),
    ]
    edges = [*base.edges]
    return base.model_copy(
        update={
            "workflow_name": "orders-daily",
            "description": "orders pipeline",
            "tasks": (*base.tasks, *extras),
            "edges": tuple(edges)
            + tuple(type(edges[0])(upstream_task_id=u, downstream_task_id=d) for u, d in [(101, 102), (102, 60)]),
            "execution_type": ExecutionType.SERIAL_WAIT,
            "timeout_minutes": 240,
            "global_params": (Param(name="region", value="eu"), Param(name="day", value="${system.biz.date}")),
            "schedule": Schedule(
                crontab="0 30 2 * * ? *",
                timezone="Asia/Shanghai",
                start_time=datetime(2025, 3, 1, 10, 30, tzinfo=UTC),
                end_time=datetime(2027, 1, 1, tzinfo=UTC),
            ),
        }
    )


def build_with_sdk(pyds: Any, snap: StructureSnapshot) -> Any:
    """Build ``snap`` with pydolphinscheduler's own API, the way a user of the SDK would."""
    workflow_mod, parameter = pyds.workflow, pyds.parameter
    assert snap.schedule is not None
    wf = workflow_mod.Workflow(
        name=snap.workflow_name,
        description=snap.description,
        schedule=snap.schedule.crontab,
        # the SDK formats start/end as given: hand it the UTC wall time, as DS needs (CONTRACT §6.9)
        start_time=snap.schedule.start_time.astimezone(UTC).replace(tzinfo=None),
        end_time=snap.schedule.end_time.astimezone(UTC).replace(tzinfo=None),
        timezone=snap.schedule.timezone,
        user=USER,
        project=PROJECT,
        worker_group="default",
        warning_type="NONE",
        execution_type=snap.execution_type.value,
        timeout=snap.timeout_minutes,
        release_state="online",
        param={p.name: p.value for p in snap.global_params},
    )
    built: dict[int, Any] = {}
    with wf:
        for t in snap.tasks:
            a, p = t.node_attrs, t.params
            typed = {q.name: getattr(parameter.ParameterType, q.type.value)(q.value) for q in p.local_params}
            inputs = {q.name: typed[q.name] for q in p.local_params if q.direction == "IN"}
            outputs = {q.name: typed[q.name] for q in p.local_params if q.direction == "OUT"}
            common: dict[str, Any] = {
                "description": t.description,
                "flag": "YES" if a.enabled else "NO",
                "task_priority": a.priority.value,
                "worker_group": a.worker_group,
                "environment_name": None if a.environment_code == -1 else f"env-{a.environment_code}",
                "delay_time": a.delay_minutes,
                "fail_retry_times": a.retries,
                "fail_retry_interval": a.retry_interval_minutes,
                "timeout_notify_strategy": a.timeout_strategy.value if a.timeout_strategy else None,
                "timeout": a.timeout_minutes,
                "input_params": inputs,
                "output_params": outputs,
            }
            if isinstance(p, SqlParams):
                built[t.task_id] = pyds.sql.Sql(
                    name=t.name,
                    datasource_name=p.datasource_name,
                    datasource_type=p.datasource_type,
                    sql=p.sql,
                    sql_type="0" if p.sql_type == "query" else "1",
                    pre_statements=list(p.pre_statements),
                    post_statements=list(p.post_statements),
                    display_rows=p.display_rows,
                    **common,
                )
            else:
                if t.task_type == "SHELL":
                    cls, script_kw = pyds.shell.Shell, "command"
                else:
                    cls, script_kw = pyds.python.Python, "definition"
                built[t.task_id] = cls(
                    name=t.name,
                    **{script_kw: p.script},
                    # the dict form skips the SDK's resource lookup through the gateway
                    resource_list=[{"resourceName": r} for r in p.resources],
                    cpu_quota=a.cpu_quota,
                    memory_max=a.memory_max_mb,
                    **common,
                )
        for e in snap.edges:
            built[e.upstream_task_id] >> built[e.downstream_task_id]
    return wf


# --- the test -------------------------------------------------------------------------------------------


@pytest.fixture
def both(pyds: Any, fake_gateway: Any, dag: Any) -> tuple[Any, Any, Any, StructureSnapshot]:
    snap = equivalence_snapshot(dag)
    codes = {t.task_id: 2_000_000_000_000 + t.task_id for t in snap.tasks}
    environments = {"env-3": 3}
    entry = fake_gateway({t.name: codes[t.task_id] for t in snap.tasks}, environments, DATASOURCES)
    ours = convert(snap, codes, datasource_ids=DATASOURCES)
    wf = build_with_sdk(pyds, snap)
    return ours, wf, entry, snap


def test_task_definitions_mean_the_same(both: Any) -> None:
    ours, wf, _, snap = both
    sdk_tasks = wf.get_define()["taskDefinitionJson"]
    mine = normalise_tasks(json.loads(ours.task_definition_json), sdk=False)
    theirs = normalise_tasks(json.loads(json.dumps(sdk_tasks)), sdk=True)
    assert len(mine) == len(snap.tasks) == 62
    assert set(mine) == set(theirs)
    for code in sorted(mine):
        assert mine[code] == theirs[code], code
    # the comparison covered what matters: names, types, scripts, attributes
    sample = mine[2_000_000_000_101]
    assert sample["name"] == "extract orders"
    assert sample["taskParams"]["rawScript"].startswith("curl")
    assert (sample["failRetryTimes"], sample["timeoutNotifyStrategy"]) == (2, "WARNFAILED")
    assert (sample["environmentCode"], sample["cpuQuota"], sample["memoryMax"]) == (3, 80, 256)
    assert {t["taskType"] for t in mine.values()} == {"SHELL", "PYTHON", "SQL"}


def test_relations_mean_the_same(both: Any) -> None:
    ours, wf, _, _ = both
    mine = normalise_relations(json.loads(ours.task_relation_json))
    theirs = normalise_relations(json.loads(json.dumps(wf.get_define()["taskRelationJson"])))
    assert mine == theirs
    assert sum(1 for r in mine if dict(r)["preTaskCode"] == 0) >= 1


def test_workflow_attributes_and_schedule_mean_the_same(both: Any) -> None:
    ours, wf, _, _ = both
    define = wf.get_define()
    assert (define["name"], define["description"], define["timeout"], define["executionType"]) == (
        ours.name,
        ours.description,
        ours.timeout,
        ours.execution_type,
    )
    assert json.loads(ours.global_params) == wf.param_json
    assert (
        json.loads(ours.schedule_json)
        == wf.schedule_json
        == {
            "startTime": "2025-03-01 10:30:00",
            "endTime": "2027-01-01 00:00:00",
            "crontab": "0 30 2 * * ? *",
            "timezoneId": "Asia/Shanghai",
        }
    )


def test_gateway_arguments_match_what_the_sdk_submits(both: Any) -> None:
    ours, wf, entry, _ = both
    assert wf.submit() == 4242
    (sdk_args,) = entry.submitted
    mine = gateway_args(ours, user_name=USER, project_name=PROJECT, release_state="ONLINE", online_schedule=True)
    assert len(sdk_args) == len(mine) == 16
    json_positions = {4: "global_params", 5: "schedule", 12: "task_relation_json", 13: "task_definition_json"}
    for i, (m, s) in enumerate(zip(mine, sdk_args, strict=True)):
        if i == 12:
            assert normalise_relations(json.loads(m)) == normalise_relations(json.loads(s))
        elif i == 13:
            assert normalise_tasks(json.loads(m), sdk=False) == normalise_tasks(json.loads(s), sdk=True)
        elif i in json_positions:
            assert json.loads(m) == json.loads(s), json_positions[i]
        else:
            assert m == s, mine._fields[i]


# --- DEPENDENT tasks (issue 20) ------------------------------------------------------------------------------

UPSTREAM_PROJECT, UPSTREAM_WORKFLOW = "ods", "ods-load"
UPSTREAM_CODES = {"project": 5_000_000_000_001, "workflow": 5_000_000_000_002, 40: 5_000_000_000_040,
                  41: 5_000_000_000_041}  # fmt: skip
#: what DS 3.4 reads of a DEPENDENT task that pydolphinscheduler 4.1.0 does not send, with the value we send and why
#: it means what the SDK's omission means (DS's classes: the conformance harness's stand-ins, checked against the
#: 3.4.2 master's bytecode; tests/contract/ds_conformance)
DS_FIELDS_THE_SDK_LACKS: dict[str, tuple[Any, str]] = {
    "parameterPassing": (False, "DependentItem.parameterPassing, a Boolean defaulting to false; the master reads it"),
    "checkInterval": (
        10,
        "Dependence.checkInterval, seconds (the DS UI's default); null when the SDK omits it; no "
        "served 3.4.2 class reads it",
    ),
    "failurePolicy": (
        "DEPENDENT_FAILURE_FAILURE",
        "Dependence.failurePolicy; the master only tests for "
        "DEPENDENT_FAILURE_WAITING, so the SDK's null fails like DEPENDENT_FAILURE_FAILURE",
    ),
}
#: what we send that no DS class has (DS keeps taskParams as text and ignores it when reading)
UI_ONLY_FIELDS: dict[str, tuple[Any, str]] = {
    "dependentType": (
        "DEPENDENT_ON_TASK",
        "the DS UI's item type; DS tells a task (its code) from the whole "
        "workflow (0) or all its tasks (-1) by depTaskCode",
    ),
}
#: ``taskParams`` keys only the SDK sends; DependentParameters has no such property
SDK_ONLY_DEPENDENT_PARAMS = {"conditionResult", "waitStartTimeout"}


def linked_snapshot() -> StructureSnapshot:
    """Three tasks waiting, through two links, for tasks of another workflow: daily (before two tasks) and hourly."""
    tasks = tuple(
        SnapshotTask(task_id=i, name=f"step-{i}", task_type="SHELL", params=ShellParams(script=f"echo {i}"))
        for i in (1, 2, 3)
    )
    links = (
        ExternalDependency(upstream_workflow_id=9, upstream_task_id=40, task_ids=(1, 2),
                           upstream_project_code=UPSTREAM_CODES["project"],
                           upstream_workflow_code=UPSTREAM_CODES["workflow"],
                           upstream_workflow_name=UPSTREAM_WORKFLOW, upstream_task_name="load orders"),
        ExternalDependency(upstream_workflow_id=9, upstream_task_id=41, task_ids=(3,), cycle=DependentCycle.HOUR,
                           date_value="last3Hours", upstream_project_code=UPSTREAM_CODES["project"],
                           upstream_workflow_code=UPSTREAM_CODES["workflow"],
                           upstream_workflow_name=UPSTREAM_WORKFLOW, upstream_task_name="load customers"),
    )  # fmt: skip
    return StructureSnapshot(
        workflow_id=7, workflow_name="orders-report", tasks=tasks, external_dependencies=links,
        edges=(Edge(upstream_task_id=1, downstream_task_id=3), Edge(upstream_task_id=2, downstream_task_id=3)),
    )  # fmt: skip


def build_linked_with_sdk(pyds: Any, snap: StructureSnapshot, names: dict[int, str]) -> Any:
    """``snap`` with the SDK: its ``Dependent`` task per link, ``And(And(DependentItem))`` as the SDK's docs show."""
    dependent = pyds.dependent
    wf = pyds.workflow.Workflow(name=snap.workflow_name, user=USER, project=PROJECT, worker_group="default",
                                release_state="online")  # fmt: skip
    with wf:
        built = {}
        for t in snap.tasks:
            assert isinstance(t.params, ShellParams)
            built[t.task_id] = pyds.shell.Shell(name=t.name, command=t.params.script)
        for d in snap.external_dependencies:
            item = dependent.DependentItem(
                project_name=UPSTREAM_PROJECT, workflow_name=d.upstream_workflow_name,
                dependent_task_name=d.upstream_task_name, dependent_date=d.date_value,
            )  # fmt: skip
            built[d.node_id] = dependent.Dependent(
                name=names[d.node_id],
                dependence=dependent.And(dependent.And(item)),
                description=f"waits for task {d.upstream_task_id} of platform workflow {d.upstream_workflow_id}",
            )
            for t in d.task_ids:
                built[d.node_id] >> built[t]
        for e in snap.edges:
            built[e.upstream_task_id] >> built[e.downstream_task_id]
    return wf


@pytest.fixture
def linked(pyds: Any, fake_gateway: Any) -> tuple[Any, Any, Any]:
    snap = linked_snapshot()
    codes = {1: 2_000_000_000_001, 2: 2_000_000_000_002, 3: 2_000_000_000_003, -40: 2_000_000_000_140,
             -41: 2_000_000_000_141}  # fmt: skip
    ours = convert(snap, codes, upstream_task_codes={40: UPSTREAM_CODES[40], 41: UPSTREAM_CODES[41]})
    names = {t["code"]: t["name"] for t in json.loads(ours.task_definition_json)}
    entry = fake_gateway({names[c]: c for c in codes.values()}, {}, {})
    by_name = {"load orders": UPSTREAM_CODES[40], "load customers": UPSTREAM_CODES[41]}

    def get_dependent_info(project: str, workflow: str, task: str | None) -> dict[str, int]:
        assert (project, workflow) == (UPSTREAM_PROJECT, UPSTREAM_WORKFLOW)
        assert task is not None
        # the SDK reads processDefinitionCode (DS 3.2's key); DS 3.3+ answers workflowDefinitionCode too
        return {"projectCode": UPSTREAM_CODES["project"], "processDefinitionCode": UPSTREAM_CODES["workflow"],
                "workflowDefinitionCode": UPSTREAM_CODES["workflow"], "taskDefinitionCode": by_name[task]}  # fmt: skip

    entry.getDependentInfo = get_dependent_info
    wf = build_linked_with_sdk(pyds, snap, {node: names[codes[node]] for node in (-40, -41)})
    return ours, wf, entry


def _split_dependent(task: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A DEPENDENT task without its ``dependence``, and the ``dependence``."""
    params = dict(task["taskParams"])
    dependence = params.pop("dependence")
    return {**task, "taskParams": params}, dependence


def test_dependent_tasks_mean_what_the_sdks_dependent_task_sends(linked: Any) -> None:
    """Every field of each DEPENDENT task against the SDK's ``Dependent``: the task's own fields and taskParams (as for
    the other types), then ``dependence`` field by field; each field DS reads that the SDK does not send, and each
    field we send for the DS UI, is asserted with its reason (DS_FIELDS_THE_SDK_LACKS, UI_ONLY_FIELDS)."""
    ours, wf, _ = linked
    mine = {t["code"]: t for t in json.loads(ours.task_definition_json)}
    theirs = {t["code"]: t for t in json.loads(json.dumps(wf.get_define()["taskDefinitionJson"]))}
    assert set(mine) == set(theirs)
    dependents = sorted(c for c, t in mine.items() if t["taskType"] == "DEPENDENT")
    assert dependents == [2_000_000_000_140, 2_000_000_000_141]
    for code in dependents:
        m_task, m_dep = _split_dependent(mine[code])
        t_task, t_dep = _split_dependent(theirs[code])
        assert set(t_task["taskParams"]) - set(m_task["taskParams"]) == SDK_ONLY_DEPENDENT_PARAMS
        for key in SDK_ONLY_DEPENDENT_PARAMS:
            del t_task["taskParams"][key]
        assert normalise_task(m_task, sdk=False) == normalise_task(t_task, sdk=True), code
        # dependence: the same relations, groups and items, field by field
        assert m_dep["relation"] == t_dep["relation"] == "AND"
        assert len(m_dep["dependTaskList"]) == len(t_dep["dependTaskList"]) == 1
        (m_group,), (t_group,) = m_dep["dependTaskList"], t_dep["dependTaskList"]
        assert m_group["relation"] == t_group["relation"] == "AND"
        (m_item,), (t_item,) = m_group["dependItemList"], t_group["dependItemList"]
        for field in ("projectCode", "definitionCode", "depTaskCode", "cycle", "dateValue"):
            assert m_item[field] == t_item[field], (code, field)
        assert set(t_item) == {"projectCode", "definitionCode", "depTaskCode", "cycle", "dateValue"}
        # what DS reads beyond the SDK, and what only the DS UI reads
        assert set(m_item) - set(t_item) == {"parameterPassing", "dependentType"}
        assert set(m_dep) - set(t_dep) == {"checkInterval", "failurePolicy"}
        sent = {**m_dep, **m_item}
        for field, (value, _why) in {**DS_FIELDS_THE_SDK_LACKS, **UI_ONLY_FIELDS}.items():
            assert sent[field] == value, field
    # the codes are the upstream's: the SDK resolved them through the gateway by name, we by the approved version
    items = {c: mine[c]["taskParams"]["dependence"]["dependTaskList"][0]["dependItemList"][0] for c in dependents}
    assert [(i["depTaskCode"], i["cycle"], i["dateValue"]) for i in items.values()] == [
        (UPSTREAM_CODES[40], "day", "today"),
        (UPSTREAM_CODES[41], "hour", "last3Hours"),
    ]


def test_dependent_tasks_come_before_the_tasks_that_wait_as_in_the_sdk(linked: Any) -> None:
    ours, wf, _ = linked
    mine = normalise_relations(json.loads(ours.task_relation_json))
    theirs = normalise_relations(json.loads(json.dumps(wf.get_define()["taskRelationJson"])))
    assert mine == theirs
    pairs = {(dict(r)["preTaskCode"], dict(r)["postTaskCode"]) for r in mine}
    assert {(2_000_000_000_140, 2_000_000_000_001), (2_000_000_000_140, 2_000_000_000_002),
            (2_000_000_000_141, 2_000_000_000_003)} <= pairs  # fmt: skip


def test_the_gateway_arguments_carry_the_same_dependent_tasks(linked: Any) -> None:
    ours, wf, entry = linked
    assert wf.submit() == 4242
    (sdk_args,) = entry.submitted
    mine = gateway_args(ours, user_name=USER, project_name=PROJECT, release_state="ONLINE", online_schedule=False)
    for sent in (mine[13], sdk_args[13]):
        tasks = json.loads(sent)
        assert sum(t["taskType"] == "DEPENDENT" for t in tasks) == 2
    # dependence is compared field by field above; normalise_task leaves it out, like the SDK-only keys
    assert normalise_tasks(json.loads(mine[13]), sdk=False) == {
        c: {**t, "taskParams": {k: v for k, v in t["taskParams"].items() if k not in SDK_ONLY_DEPENDENT_PARAMS}}
        for c, t in normalise_tasks(json.loads(sdk_args[13]), sdk=True).items()
    }
    assert normalise_relations(json.loads(mine[12])) == normalise_relations(json.loads(sdk_args[12]))
