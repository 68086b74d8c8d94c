"""``convert``: snapshot -> DolphinScheduler JSON (CONTRACT §2)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.errors import DomainError
from common.workflow import (
    ExecutionType,
    NodeAttrs,
    Param,
    ParamType,
    Priority,
    PythonParams,
    Schedule,
    ShellParams,
    SnapshotTask,
    SqlParams,
    StructureSnapshot,
    TimeoutStrategy,
)
from publisher.domain import (
    InvalidDag,
    InvalidSchedule,
    MissingDatasources,
    MissingTaskCodes,
    assign_codes,
    convert,
)

CODE = 1_000_000_000_000


def defs_of(defn: Any) -> list[dict[str, Any]]:
    return json.loads(defn.task_definition_json)


def rels_of(defn: Any) -> list[dict[str, Any]]:
    return json.loads(defn.task_relation_json)


def edge_set(defn: Any) -> set[tuple[int, int]]:
    return {(r["preTaskCode"], r["postTaskCode"]) for r in rels_of(defn)}


# --- every field of every task type --------------------------------------------------------------------------


ALL_ATTRS = NodeAttrs(
    worker_group="etl",
    retries=3,
    retry_interval_minutes=5,
    timeout_minutes=45,
    timeout_strategy=TimeoutStrategy.WARNFAILED,
    priority=Priority.HIGH,
    delay_minutes=2,
    enabled=False,
    environment_code=8,
    cpu_quota=150,
    memory_max_mb=2048,
)

ATTR_FIELDS = {
    "flag": "NO",
    "taskPriority": "HIGH",
    "workerGroup": "etl",
    "environmentCode": 8,
    "failRetryTimes": 3,
    "failRetryInterval": 5,
    "timeoutFlag": "OPEN",
    "timeoutNotifyStrategy": "WARNFAILED",
    "timeout": 45,
    "delayTime": 2,
    "taskGroupId": 0,
    "taskGroupPriority": 0,
    "cpuQuota": 150,
    "memoryMax": 2048,
    "taskExecuteType": "BATCH",
}

LOCAL = (
    Param(name="dt", value="${system.biz.date}"),
    Param(name="rows", value="", direction="OUT", type=ParamType.INTEGER),
)
LOCAL_JSON = [
    {"prop": "dt", "direct": "IN", "type": "VARCHAR", "value": "${system.biz.date}"},
    {"prop": "rows", "direct": "OUT", "type": "INTEGER", "value": ""},
]


def test_shell_task_maps_every_field(snapshot: Any) -> None:
    t = SnapshotTask(
        task_id=1,
        name="extract",
        task_type="SHELL",
        description="pull files",
        params=ShellParams(script="echo 'a\"b'\nexit 0", local_params=LOCAL, resources=("a/run.sh", "b.jar")),
        node_attrs=ALL_ATTRS,
    )
    (d,) = defs_of(convert(snapshot([t]), {1: CODE}))
    assert d == {
        "code": CODE,
        "version": 1,
        "name": "extract",
        "description": "pull files",
        "taskType": "SHELL",
        "taskParams": {
            "rawScript": "echo 'a\"b'\nexit 0",
            "localParams": LOCAL_JSON,
            "resourceList": [{"resourceName": "a/run.sh"}, {"resourceName": "b.jar"}],
        },
        **ATTR_FIELDS,
    }


def test_python_task_maps_every_field(snapshot: Any) -> None:
    t = SnapshotTask(
        task_id=2,
        name="score",
        task_type="PYTHON",
        params=PythonParams(script="import os\nprint(os.environ['X'])", local_params=LOCAL, resources=("m.pkl",)),
        node_attrs=ALL_ATTRS,
    )
    (d,) = defs_of(convert(snapshot([t]), {2: CODE}))
    assert d == {
        "code": CODE,
        "version": 1,
        "name": "score",
        "description": "",
        "taskType": "PYTHON",
        "taskParams": {
            "rawScript": "import os\nprint(os.environ['X'])",
            "localParams": LOCAL_JSON,
            "resourceList": [{"resourceName": "m.pkl"}],
        },
        **ATTR_FIELDS,
    }


@pytest.mark.parametrize(("sql_type", "ds_sql_type"), [("query", "0"), ("non_query", "1")])
def test_sql_task_maps_every_field(snapshot: Any, sql_type: str, ds_sql_type: str) -> None:
    t = SnapshotTask(
        task_id=3,
        name="load",
        task_type="SQL",
        params=SqlParams(
            datasource_name="orders",
            datasource_type="mysql",
            sql="select * from t where dt = '${dt}'",
            sql_type=sql_type,  # type: ignore[arg-type]
            pre_statements=("set a=1", "set b=2"),
            post_statements=("analyze t",),
            display_rows=25,
            local_params=LOCAL,
        ),
        node_attrs=ALL_ATTRS,
    )
    (d,) = defs_of(convert(snapshot([t]), {3: CODE}, datasource_ids={("orders", "MYSQL"): 12}))
    assert d == {
        "code": CODE,
        "version": 1,
        "name": "load",
        "description": "",
        "taskType": "SQL",
        "taskParams": {
            "type": "MYSQL",
            "datasource": 12,
            "sql": "select * from t where dt = '${dt}'",
            "sqlType": ds_sql_type,
            "preStatements": ["set a=1", "set b=2"],
            "postStatements": ["analyze t"],
            "displayRows": 25,
            "localParams": LOCAL_JSON,
            "resourceList": [],
        },
        **ATTR_FIELDS,
    }


def test_defaults_match_ds_defaults(snapshot: Any, task: Any) -> None:
    (d,) = defs_of(convert(snapshot([task(1)]), {1: CODE}))
    assert {k: d[k] for k in ATTR_FIELDS} == {
        "flag": "YES",
        "taskPriority": "MEDIUM",
        "workerGroup": "default",
        "environmentCode": -1,
        "failRetryTimes": 0,
        "failRetryInterval": 1,
        "timeoutFlag": "CLOSE",
        "timeoutNotifyStrategy": None,
        "timeout": 0,
        "delayTime": 0,
        "taskGroupId": 0,
        "taskGroupPriority": 0,
        "cpuQuota": -1,
        "memoryMax": -1,
        "taskExecuteType": "BATCH",
    }
    assert d["taskParams"] == {"rawScript": "echo task 1", "localParams": [], "resourceList": []}


@pytest.mark.parametrize(
    ("attrs", "field", "expected"),
    [
        ({"retries": 7}, "failRetryTimes", 7),
        ({"retry_interval_minutes": 9}, "failRetryInterval", 9),
        ({"timeout_minutes": 12}, "timeout", 12),
        ({"timeout_minutes": 12}, "timeoutFlag", "OPEN"),
        ({"timeout_minutes": 12, "timeout_strategy": "FAILED"}, "timeoutNotifyStrategy", "FAILED"),
        ({"timeout_minutes": 12, "timeout_strategy": "WARN"}, "timeoutNotifyStrategy", "WARN"),
        ({"timeout_minutes": 12}, "timeoutNotifyStrategy", "WARN"),  # open timeout needs a strategy
        ({"priority": "LOWEST"}, "taskPriority", "LOWEST"),
        ({"priority": "HIGHEST"}, "taskPriority", "HIGHEST"),
        ({"delay_minutes": 4}, "delayTime", 4),
        ({"enabled": False}, "flag", "NO"),
        ({"enabled": True}, "flag", "YES"),
        ({"worker_group": "gpu"}, "workerGroup", "gpu"),
        ({"environment_code": 42}, "environmentCode", 42),
        ({"cpu_quota": 200}, "cpuQuota", 200),
        ({"memory_max_mb": 512}, "memoryMax", 512),
    ],
)
@pytest.mark.parametrize("kind", ["SHELL", "PYTHON", "SQL"])
def test_each_node_attribute(
    snapshot: Any, task: Any, kind: str, attrs: dict[str, Any], field: str, expected: Any
) -> None:
    t = task(1, kind, **attrs)
    (d,) = defs_of(convert(snapshot([t]), {1: CODE}, datasource_ids={("warehouse", "POSTGRESQL"): 1}))
    assert d[field] == expected
    assert d["taskType"] == kind


def test_failure_strategy_is_not_a_task_field(snapshot: Any, task: Any) -> None:
    a = convert(snapshot([task(1, failure_strategy="END")]), {1: CODE})
    b = convert(snapshot([task(1, failure_strategy="CONTINUE")]), {1: CODE})
    assert a.task_definition_json == b.task_definition_json


def test_workflow_fields(snapshot: Any, task: Any) -> None:
    snap = snapshot(
        [task(1)],
        workflow_name="wf",
        description="nightly",
        execution_type=ExecutionType.SERIAL_WAIT,
        timeout_minutes=90,
        global_params=(Param(name="env", value="prod"), Param(name="n", value="3", type=ParamType.LONG)),
    )
    defn = convert(snap, {1: CODE})
    assert (defn.name, defn.description, defn.execution_type, defn.timeout) == ("wf", "nightly", "SERIAL_WAIT", 90)
    assert json.loads(defn.global_params) == [
        {"prop": "env", "direct": "IN", "type": "VARCHAR", "value": "prod"},
        {"prop": "n", "direct": "IN", "type": "LONG", "value": "3"},
    ]
    assert defn.schedule_json is None
    assert convert(snapshot([task(1)]), {1: CODE}).global_params == "[]"


# --- relations ---------------------------------------------------------------------------------------------


def test_roots_get_a_zero_edge_and_relations_have_every_field(snapshot: Any, task: Any) -> None:
    # 1 -> 2 -> 4, 1 -> 3 -> 4, 5 isolated, 6 -> 4 (second root)
    snap = snapshot([task(i) for i in range(1, 7)], [(1, 2), (1, 3), (2, 4), (3, 4), (6, 4)])
    defn = convert(snap, {i: CODE + i for i in range(1, 7)})
    rels = rels_of(defn)
    assert edge_set(defn) == {
        (0, CODE + 1),
        (0, CODE + 5),
        (0, CODE + 6),
        (CODE + 1, CODE + 2),
        (CODE + 1, CODE + 3),
        (CODE + 2, CODE + 4),
        (CODE + 3, CODE + 4),
        (CODE + 6, CODE + 4),
    }
    assert len(rels) == 8
    assert rels[0] == {
        "name": "",
        "preTaskCode": 0,
        "preTaskVersion": 0,
        "postTaskCode": CODE + 1,
        "postTaskVersion": 1,
        "conditionType": "NONE",
        "conditionParams": {},
    }
    assert rels[3] == {
        "name": "",
        "preTaskCode": CODE + 1,
        "preTaskVersion": 1,
        "postTaskCode": CODE + 2,
        "postTaskVersion": 1,
        "conditionType": "NONE",
        "conditionParams": {},
    }
    # every task is in the DAG: DS drops a task that is never a postTaskCode
    assert {r["postTaskCode"] for r in rels} == {CODE + i for i in range(1, 7)}


def test_duplicate_edges_are_sent_once(snapshot: Any, task: Any) -> None:
    snap = snapshot([task(1), task(2)], [(1, 2), (1, 2)])
    assert len(rels_of(convert(snap, {1: 11, 2: 12}))) == 2


def test_task_versions_fill_definitions_and_relations(snapshot: Any, task: Any) -> None:
    snap = snapshot([task(1), task(2), task(3)], [(1, 2), (2, 3)])
    codes = {1: 11, 2: 12, 3: 13}
    defn = convert(snap, codes, task_versions={11: 4, 12: 2})  # task 13 is new: default version
    assert {d["code"]: d["version"] for d in defs_of(defn)} == {11: 4, 12: 2, 13: 1}
    assert [(r["preTaskVersion"], r["postTaskVersion"]) for r in rels_of(defn)] == [(0, 4), (4, 2), (2, 1)]
    plain = convert(snap, codes)
    assert plain.content_hash == defn.content_hash  # DS's version bumps do not make a definition "changed"
    assert json.loads(plain.task_definition_json)[0]["version"] == 1


# --- a 2,000-task DAG ------------------------------------------------------------------------------------


def test_two_thousand_task_dag(dag: Any, codes: Any, datasources: Any) -> None:
    snap = dag(2000, 3000)
    code_of = codes(snap)
    defn = convert(snap, code_of, datasource_ids=datasources)
    defs = defs_of(defn)
    assert len(defs) == 2000
    assert {d["code"] for d in defs} == set(code_of.values())
    assert len({d["name"] for d in defs}) == 2000
    has_upstream = {e.downstream_task_id for e in snap.edges}
    roots = {code_of[t.task_id] for t in snap.tasks if t.task_id not in has_upstream}
    expected = {(code_of[e.upstream_task_id], code_of[e.downstream_task_id]) for e in snap.edges}
    expected |= {(0, c) for c in roots}
    rels = rels_of(defn)
    assert len(rels) == len(expected) == 3000 + len(roots)
    assert edge_set(defn) == expected
    # layout: one location per task, every edge goes to the right
    locs = {loc["taskCode"]: (loc["x"], loc["y"]) for loc in json.loads(defn.locations)}
    assert set(locs) == set(code_of.values())
    assert len(set(locs.values())) == 2000
    for e in snap.edges:
        assert locs[code_of[e.upstream_task_id]][0] < locs[code_of[e.downstream_task_id]][0]
    assert all(locs[c][0] == locs[next(iter(roots))][0] for c in roots)


# --- determinism and stable codes -----------------------------------------------------------------------


def test_same_input_same_bytes_whatever_the_order(dag: Any, codes: Any, datasources: Any, snapshot: Any) -> None:
    snap = dag(200, 300, seed=5)
    first = convert(snap, codes(snap), datasource_ids=datasources)
    again = convert(snap, codes(snap), datasource_ids=datasources)
    assert first == again
    rnd = random.Random(3)
    tasks, edges = list(snap.tasks), list(snap.edges)
    rnd.shuffle(tasks)
    rnd.shuffle(edges)
    shuffled = snap.model_copy(update={"tasks": tuple(tasks), "edges": tuple(edges)})
    other = convert(shuffled, codes(snap), datasource_ids=datasources)
    assert other == first
    assert other.content_hash == first.content_hash


def test_codes_survive_versions_and_new_tasks_get_fresh_codes(snapshot: Any, task: Any) -> None:
    v1 = snapshot([task(1), task(2), task(3, "PYTHON")], [(1, 2), (2, 3)])
    codes_v1, new_v1 = assign_codes([t.task_id for t in v1.tasks], {}, [901, 902, 903])
    assert codes_v1 == new_v1 == {1: 901, 2: 902, 3: 903}
    out_v1 = convert(v1, codes_v1)

    # v2: task 2 deleted, task 1 edited, task 4 added
    edited = task(1).model_copy(update={"params": ShellParams(script="echo edited")})
    v2 = snapshot([edited, task(3, "PYTHON"), task(4)], [(1, 3), (3, 4)])
    existing = dict(codes_v1)  # the publisher keeps codes of deleted tasks too
    codes_v2, new_v2 = assign_codes([t.task_id for t in v2.tasks], existing, [904])
    assert new_v2 == {4: 904}
    assert codes_v2 == {1: 901, 3: 903, 4: 904}
    out_v2 = convert(v2, codes_v2)
    by_code_v1 = {d["code"]: d for d in defs_of(out_v1)}
    by_code_v2 = {d["code"]: d for d in defs_of(out_v2)}
    assert set(by_code_v2) == {901, 903, 904}
    assert by_code_v2[903] == by_code_v1[903]  # untouched task: identical definition
    assert by_code_v2[901]["taskParams"]["rawScript"] == "echo edited"
    assert out_v1.content_hash != out_v2.content_hash


def test_content_hash_tracks_ds_relevant_changes(snapshot: Any, task: Any) -> None:
    base = snapshot([task(1), task(2)], [(1, 2)])
    codes = {1: 11, 2: 12}
    h = convert(base, codes).content_hash
    assert convert(base.model_copy(update={"workflow_id": 99}), codes).content_hash == h  # not sent to DS
    changed = [
        base.model_copy(update={"description": "x"}),
        base.model_copy(update={"timeout_minutes": 5}),
        base.model_copy(update={"execution_type": ExecutionType.SERIAL_DISCARD}),
        base.model_copy(update={"global_params": (Param(name="a"),)}),
        base.model_copy(update={"edges": ()}),
        base.model_copy(update={"tasks": (task(1, retries=1), task(2))}),
        base.model_copy(
            update={
                "schedule": Schedule(
                    crontab="0 0 1 * * ? *", start_time=datetime(2025, 1, 1), end_time=datetime(2026, 1, 1)
                )
            }
        ),
    ]
    hashes = {convert(s, codes).content_hash for s in changed}
    assert h not in hashes
    assert len(hashes) == len(changed)
    assert convert(base, {1: 11, 2: 13}).content_hash != h


# --- names -----------------------------------------------------------------------------------------------


def test_name_collisions_get_the_task_id_appended(snapshot: Any, task: Any) -> None:
    snap = snapshot([task(9, name="load"), task(5, name="load"), task(7, name="report")])
    defn = convert(snap, {5: 15, 7: 17, 9: 19})
    assert {d["code"]: d["name"] for d in defs_of(defn)} == {15: "load [5]", 17: "report", 19: "load [9]"}
    assert dict(defn.task_names) == {5: "load [5]", 7: "report", 9: "load [9]"}


def test_a_suffixed_name_that_clashes_again_is_still_made_unique(snapshot: Any, task: Any) -> None:
    snap = snapshot([task(5, name="load"), task(6, name="load"), task(7, name="load [5]")])
    names = [d["name"] for d in defs_of(convert(snap, {5: 15, 6: 16, 7: 17}))]
    assert len(set(names)) == 3
    assert "load [6]" in names


# --- schedule --------------------------------------------------------------------------------------------


def sched(defn: Any) -> dict[str, str]:
    return json.loads(defn.schedule_json)


def test_schedule_naive_times_are_wall_time_in_the_schedule_zone(snapshot: Any, task: Any) -> None:
    s = Schedule(
        crontab="0 0 2 * * ? *",
        timezone="Asia/Shanghai",
        start_time=datetime(2025, 1, 1, 8, 0, 0),
        end_time=datetime(2030, 6, 30, 23, 59, 59),
    )
    assert sched(convert(snapshot([task(1)], schedule=s), {1: 11})) == {
        "startTime": "2025-01-01 00:00:00",
        "endTime": "2030-06-30 15:59:59",
        "crontab": "0 0 2 * * ? *",
        "timezoneId": "Asia/Shanghai",
    }


def test_schedule_aware_times_are_converted_to_utc_with_dst(snapshot: Any, task: Any) -> None:
    s = Schedule(
        crontab="0 30 6 * * ?",  # 6 fields: the year is appended
        timezone="America/New_York",
        start_time=datetime(2025, 7, 1, 0, 0),  # EDT, UTC-4
        end_time=datetime(2025, 12, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
    )
    assert sched(convert(snapshot([task(1)], schedule=s), {1: 11})) == {
        "startTime": "2025-07-01 04:00:00",
        "endTime": "2025-12-01 10:00:00",
        "crontab": "0 30 6 * * ? *",
        "timezoneId": "America/New_York",
    }


def test_schedule_utc_and_far_end(snapshot: Any, task: Any) -> None:
    s = Schedule(
        crontab="0 0 * * * ? *",
        timezone="America/Los_Angeles",
        start_time=datetime(2025, 3, 1, tzinfo=UTC),
        end_time=datetime(9999, 12, 31, 23, 59, 59),  # past year 9999 once in UTC
    )
    assert sched(convert(snapshot([task(1)], schedule=s), {1: 11})) == {
        "startTime": "2025-03-01 00:00:00",
        "endTime": "9999-12-31 23:59:59",
        "crontab": "0 0 * * * ? *",
        "timezoneId": "America/Los_Angeles",
    }


@pytest.mark.parametrize(
    ("tz", "start", "end", "message"),
    [
        ("Mars/Olympus", datetime(2025, 1, 1), datetime(2026, 1, 1), "unknown time zone"),
        ("UTC", datetime(2026, 1, 1), datetime(2025, 1, 1), "must be before"),
        ("UTC", datetime(2026, 1, 1), datetime(2026, 1, 1), "must be before"),
    ],
)
def test_bad_schedules(snapshot: Any, task: Any, tz: str, start: datetime, end: datetime, message: str) -> None:
    s = Schedule(crontab="0 0 * * * ? *", timezone=tz, start_time=start, end_time=end)
    with pytest.raises(InvalidSchedule, match=message):
        convert(snapshot([task(1)], schedule=s), {1: 11})


# --- errors ----------------------------------------------------------------------------------------------


def test_missing_datasources_are_all_listed(snapshot: Any) -> None:
    def sql(tid: int, ds: str, ds_type: str) -> SnapshotTask:
        p = SqlParams(datasource_name=ds, datasource_type=ds_type, sql="select 1")
        return SnapshotTask(task_id=tid, name=f"q{tid}", task_type="SQL", params=p)

    snap = snapshot(
        [sql(1, "warehouse", "POSTGRESQL"), sql(2, "crm", "MYSQL"), sql(3, "crm", "MYSQL"), sql(4, "lake", "HIVE")]
    )
    with pytest.raises(MissingDatasources) as caught:
        convert(snap, {i: 10 + i for i in range(1, 5)}, datasource_ids={("warehouse", "postgresql"): 1})
    err = caught.value
    assert isinstance(err, DomainError)
    assert str(err) == "DolphinScheduler has no datasource crm (MYSQL), lake (HIVE)"
    assert err.extras["missing"] == [
        {"name": "crm", "type": "MYSQL", "task_ids": [2, 3]},
        {"name": "lake", "type": "HIVE", "task_ids": [4]},
    ]


def test_datasource_type_is_matched_case_insensitively(snapshot: Any) -> None:
    p = SqlParams(datasource_name="w", datasource_type="postgresql", sql="select 1")
    t = SnapshotTask(task_id=1, name="q", task_type="SQL", params=p)
    (d,) = defs_of(convert(snapshot([t]), {1: 11}, datasource_ids={("w", "POSTGRESQL"): 5}))
    assert (d["taskParams"]["type"], d["taskParams"]["datasource"]) == ("POSTGRESQL", 5)


def test_cycle_is_rejected(snapshot: Any, task: Any) -> None:
    snap = snapshot([task(1), task(2), task(3), task(4)], [(1, 2), (2, 3), (3, 2), (3, 4)])
    with pytest.raises(InvalidDag, match="cycle") as caught:
        convert(snap, {i: 10 + i for i in range(1, 5)})
    assert caught.value.extras["task_ids_in_or_below_cycle"] == [2, 3, 4]


def test_self_loop_is_a_cycle(snapshot: Any, task: Any) -> None:
    with pytest.raises(InvalidDag, match="cycle"):
        convert(snapshot([task(1)], [(1, 1)]), {1: 11})


def test_edge_to_unknown_task(snapshot: Any, task: Any) -> None:
    with pytest.raises(InvalidDag, match=r"\[3\]"):
        convert(snapshot([task(1), task(2)], [(1, 2), (2, 3)]), {1: 11, 2: 12})


def test_no_tasks(snapshot: Any) -> None:
    with pytest.raises(InvalidDag, match="at least one task"):
        convert(snapshot([]), {})


def test_duplicate_task_ids(snapshot: Any, task: Any) -> None:
    with pytest.raises(InvalidDag, match="not unique"):
        convert(snapshot([task(1), task(1)]), {1: 11})


@pytest.mark.parametrize(
    ("codes", "message"),
    [({1: 11}, r"tasks \[2\]"), ({1: 11, 2: 11}, r"bad codes: \[11\]"), ({1: 0, 2: 12}, r"bad codes: \[0\]")],
)
def test_bad_codes(snapshot: Any, task: Any, codes: dict[int, int], message: str) -> None:
    with pytest.raises(MissingTaskCodes, match=message):
        convert(snapshot([task(1), task(2)]), codes)


# --- text escaping (the JSON is hand-assembled) --------------------------------------------------------------

_text = st.text(min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(name=_text, script=_text, description=st.text(max_size=20), worker=_text, value=st.text(max_size=20))
def test_any_text_round_trips(name: str, script: str, description: str, worker: str, value: str) -> None:
    t = SnapshotTask(
        task_id=1,
        name=name,
        task_type="SHELL",
        description=description,
        params=ShellParams(script=script, local_params=(Param(name="p", value=value),), resources=(script,)),
        node_attrs=NodeAttrs(worker_group=worker[:64]),
    )
    snap = StructureSnapshot(workflow_id=1, workflow_name=name, description=description, tasks=(t,))
    defn = convert(snap, {1: 11})
    (d,) = defs_of(defn)
    assert defn.task_definition_json.isascii()
    assert (d["name"], d["description"], d["workerGroup"]) == (name, description, worker[:64])
    assert d["taskParams"]["rawScript"] == script
    assert d["taskParams"]["resourceList"] == [{"resourceName": script}]
    assert d["taskParams"]["localParams"][0]["value"] == value


def test_sql_text_round_trips(snapshot: Any) -> None:
    tricky = "select \"\\x\", '\u00e9\u4e2d', E'\\n' from t -- \t\r\n\x00"
    p = SqlParams(datasource_name="w", sql=tricky, pre_statements=(tricky,), post_statements=('"',))
    t = SnapshotTask(task_id=1, name="q", task_type="SQL", params=p)
    (d,) = defs_of(convert(snapshot([t]), {1: 11}, datasource_ids={("w", "POSTGRESQL"): 5}))
    assert d["taskParams"]["sql"] == tricky
    assert d["taskParams"]["preStatements"] == [tricky]
    assert d["taskParams"]["postStatements"] == ['"']
