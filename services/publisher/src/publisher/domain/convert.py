"""Convert a platform ``StructureSnapshot`` into the JSON DolphinScheduler 3.3/3.4 takes (CONTRACT §2).

Pure and fast: no I/O, no pydantic work in the hot path. The two big documents (task definitions, relations)
are assembled as text, one f-string or %-template per task or edge over pre-escaped values, which is several
times faster than building a dict per task and encoding it; ``bench/bench_convert.py`` measures it.

Decisions (see also the docstrings below):

* Output is canonical: tasks in ascending ``task_id``; relations are the root edges (``preTaskCode=0``,
  ascending task_id) followed by the real edges in ascending ``(upstream, downstream)`` task_id order,
  duplicates dropped. The same input therefore always gives the same bytes.
* Task names must be unique in a DS workflow. Every task whose name is shared with another task is renamed
  ``"<name> [<task_id>]"``; all members of a clash are renamed (not just the later ones), so the result
  does not depend on task order. DS identifies tasks by code, so such a rename is a harmless edit.
* A task timeout (``timeout_minutes > 0``) without a ``timeout_strategy`` is sent as ``WARN`` (the DS UI
  default): DS's timeout handling switches on the strategy, so with null (our reading of DS) an OPEN
  timeout would neither warn nor fail.
* ``isCache`` is not sent (removed in DS 3.3), nor are the SDK's ``dependence``/``conditionResult``/
  ``waitStartTimeout`` task params (SHELL, PYTHON and SQL ignore them).
* A node's ``failure_strategy`` has no DS task field (DS sets it per run or per schedule): the workflow's
  ``failure_strategy`` (``common.workflow.workflow_failure_strategy``: ``END`` when any task says ``END``, else
  ``CONTINUE``) is what the publisher gives the DS schedule and a run that does not choose one. It is in
  ``content_hash``, so changing it republishes (and updates the schedule).
* Schedule start/end are sent as ``yyyy-MM-dd HH:mm:ss`` in UTC, because DS parses them in its JVM zone,
  which runs in UTC. A naive datetime is read as wall time in the schedule's own ``timezone``. A 6-field
  cron gets the optional year field ``*`` appended (DS and the SDK expect 7 fields). ``timezoneId`` is
  always sent.
* ``content_hash`` covers everything DS stores for the workflow except task versions (which DS bumps by
  itself) and ``locations`` (derived from the edges): with the same hash a publish would change nothing.
* A snapshot's ``external_dependencies`` (issue 20) become DEPENDENT tasks, one per upstream task, with the node id
  ``-upstream_task_id`` (its DS code is the publisher's stable code of that node, like a task's), placed before the
  tasks that wait for it. ``taskParams.dependence`` is what pydolphinscheduler's ``Dependent`` task sends (one AND
  list of one item: ``projectCode``, ``definitionCode``, ``depTaskCode``, ``cycle``, ``dateValue``) plus the
  properties of DS 3.4's ``DependentItem``/``Dependence`` the SDK leaves out: ``parameterPassing`` false,
  ``checkInterval`` 10 s (the DS UI's default), ``failurePolicy`` ``DEPENDENT_FAILURE_FAILURE``; and
  ``dependentType`` ``DEPENDENT_ON_TASK``, which only the DS UI reads. The
  upstream's project and workflow codes come from the approved version (a publish sends exactly what was
  approved); its task code from the caller (the publisher's code table). A link whose upstream is not deployed
  raises ``UpstreamNotDeployed`` naming every such link. A snapshot without links converts byte for byte as before.

  What each DEPENDENT field was checked against (docs/dolphin-standalone.md has the table): task-api, which holds
  ``DependentParameters``, is not on Maven Central at 3.4.x; ``dolphinscheduler-master`` 3.4.2 is. The conformance
  harness (tests/contract/ds_conformance) reads this ``taskParams`` through DS 3.4.2's ``JSONUtils`` into stand-ins
  of ``DependentParameters``/``Dependence``/``DependentTaskModel``/``DependentItem`` that must have every member the
  3.4.2 master's bytecode uses, with its type: the codes are ``long`` (the master reads ``depTaskCode`` 0 as the
  whole workflow, -1 as all its tasks, any other value as that task), ``cycle``/``dateValue`` ``String``,
  ``parameterPassing`` ``Boolean``, both ``relation``s ``DependentRelation``, ``failurePolicy`` the nested
  ``DependentFailurePolicyEnum`` (the master only tests for ``DEPENDENT_FAILURE_WAITING``, so the SDK's null fails
  like ``DEPENDENT_FAILURE_FAILURE``). Not checkable against released bytecode: the names ``AND``/``OR``,
  ``DEPENDENT_FAILURE_FAILURE`` and the ``dateValue``s of each cycle (DS source and pydolphinscheduler only), and
  ``checkInterval``, which no served 3.4.2 class reads. ``dependentType`` (no DS class has it) and ``resourceList``
  (``DependentParameters`` has none; the SDK sends it for every task) are ignored by DS's Java, kept in the stored
  text; the harness requires them to be the only such properties. ``test_pyds_equivalence`` compares the tasks with
  pydolphinscheduler 4.1.0's ``Dependent`` field by field.
* HTTP, PROCEDURE, DATAX, SPARK and FLINK tasks (issue 21) send DS's ``HttpParameters`` (``url``, ``httpMethod``,
  ``httpParams`` with ``httpParametersType``, ``httpBody``, ``httpCheckCondition``, ``condition``,
  ``connectTimeout``), ``ProcedureParameters`` (``type`` and ``datasource`` resolved like a SQL task's, ``method``),
  ``DataxParameters`` (``customConfig`` 1 with the job ``json``, or 0 with both datasources resolved like a SQL
  task's, ``sql``, ``targetTable``, statements and speeds; ``xms``/``xmx`` in both) and ``SparkParameters``
  (``programType``, ``mainClass``, ``mainJar`` by resource name or null for SQL, ``rawScript``, the ``spark-submit``
  options; FLINK's ``FlinkParameters`` likewise, with ``initScript``, ``flinkVersion`` and its ``flink run``
  options), each with ``localParams`` and a ``resourceList`` (empty but for SPARK's and FLINK's resources). What
  each field was checked against (DS source, DS 3.4.2's ``JSONUtils`` with stand-ins, the SDK's ``Http``/
  ``Procedure``/``DataX``/``CustomDataX``/``Spark``/``Flink``) is the HTTP/PROCEDURE/DATAX/SPARK/FLINK table of
  docs/dolphin-standalone.md.
* A CONDITIONS task (issue 21) sends DS's ``ConditionsParameters``: ``dependence`` (``relation`` and a
  ``dependTaskList`` of groups, each a ``relation`` and a ``dependItemList`` of ``{depTaskCode, status}``) and
  ``conditionResult`` (``successNode``/``failedNode``: lists of task codes), as pydolphinscheduler's ``Condition``
  sends them; every platform task id in them becomes that task's DS code. The checked tasks must be direct upstream
  tasks of the CONDITIONS task and the branch targets direct downstream tasks (``common.workflow.branch_problems``;
  ``InvalidDag`` otherwise), so the relations DS needs from the CONDITIONS task to each branch target are the
  workflow's own edges.
* SUB_WORKFLOW tasks (issue 21) send ``SubWorkflowParameters``' ``workflowDefinitionCode``: the
  DS code of the child (a platform workflow id in the params) from the publisher's engine table, passed in as
  ``sub_workflow_codes``; a child never deployed is ``SubWorkflowNotDeployed`` naming the task and the workflow.
  The type is ``SUB_WORKFLOW`` on DS 3.3 and 3.4 alike (DS 3.2's ``SUB_PROCESS``/``processDefinitionCode`` is what
  the SDK still sends).
* A SWITCH task (issue 21) sends DS's ``SwitchParameters``: ``switchResult`` with a ``dependTaskList`` of cases
  ``{condition, nextNode}`` (the condition as written, the branch target's task code) and ``nextNode``, the default
  branch's task code (``null`` without one: DS then fails the SWITCH task when no case holds), as pydolphinscheduler's
  ``Switch`` sends them (but for the SDK's ``""`` where there is no default). Every branch target must be a direct
  downstream task of the SWITCH task (``common.workflow.branch_problems``; ``InvalidDag`` otherwise), so the relations
  DS needs from the SWITCH task to each branch target are the workflow's own edges.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from enum import IntEnum
from operator import attrgetter
from types import MappingProxyType
from typing import Any, Final, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from common.workflow import (
    ConditionsParams,
    DataxParams,
    ExternalDependency,
    FlinkParams,
    HttpParams,
    Param,
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
    branch_problems,
    datasources_of,
    workflow_failure_strategy,
)
from publisher.domain.errors import (
    InvalidDag,
    InvalidSchedule,
    MissingDatasources,
    MissingTaskCodes,
    SubWorkflowNotDeployed,
    UpstreamNotDeployed,
)
from publisher.domain.layout import locations, topological_layers

#: Bump when the JSON produced for the same input changes: every hash changes, so everything is republished.
CONVERTER_VERSION: Final = "ds-3.3/1"

#: DS task version used when the caller does not know the current one (DS treats 0 as 1 and overwrites the
#: relation versions with the stored ones anyway, CONTRACT §2.1/§2.2).
DEFAULT_TASK_VERSION: Final = 1

#: How often a DEPENDENT task checks its upstream, in seconds (the DS UI default).
DEPENDENT_CHECK_INTERVAL_S: Final = 10

#: Strategy sent for an open timeout that has none (the DS UI default).
DEFAULT_TIMEOUT_STRATEGY: Final = "WARN"

_SCHEDULE_TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
_MAX_SCHEDULE_TIME: Final = "9999-12-31 23:59:59"
_NO_DATASOURCES: Mapping[tuple[str, str], int] = MappingProxyType({})
_NO_CODES: Mapping[int, int] = MappingProxyType({})
_SQL_TYPE: Final = {"query": "0", "non_query": "1"}
# ASCII-only output (non-ASCII text is \u-escaped): the bytes hashed and sent never depend on an encoding.
_JSON = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=False)
_dumps = _JSON.encode
_str = json.encoder.encode_basestring_ascii  # a JSON string literal, quotes included

# Text templates of the relations (the task definitions are f-strings in ``_task_text``).
_ROOT_RELATION: Final = (
    '{"name":"","preTaskCode":0,"preTaskVersion":0,"postTaskCode":%d,"postTaskVersion":%d,'
    '"conditionType":"NONE","conditionParams":{}}'
)
_RELATION: Final = (
    '{"name":"","preTaskCode":%d,"preTaskVersion":%d,"postTaskCode":%d,"postTaskVersion":%d,'
    '"conditionType":"NONE","conditionParams":{}}'
)
_DEFAULT_VERSION_TEXT: Final = str(DEFAULT_TASK_VERSION)
_DEFAULT_STRATEGY_TEXT: Final = f'"{DEFAULT_TIMEOUT_STRATEGY}"'
_by_task_id = attrgetter("task_id")


@dataclass(frozen=True, slots=True)
class DolphinWorkflowDefinition:
    """One workflow as DolphinScheduler takes it.

    ``task_definition_json``, ``task_relation_json``, ``global_params``, ``schedule_json`` and ``locations``
    are JSON text, ready to be passed to the gateway or REST as they are.
    """

    name: str
    description: str
    #: JSON array of task definitions (CONTRACT §2.1)
    task_definition_json: str
    #: JSON array of task relations (CONTRACT §2.2); every root has a ``preTaskCode=0`` edge
    task_relation_json: str
    #: JSON array of Property ``{prop, direct, type, value}``
    global_params: str
    #: CONTRACT §2.3 schedule JSON, or None when the workflow has no schedule
    schedule_json: str | None
    #: JSON array ``[{taskCode, x, y}]`` for the DS UI (REST only; the gateway takes no layout)
    locations: str
    #: PARALLEL / SERIAL_WAIT / SERIAL_DISCARD / SERIAL_PRIORITY
    execution_type: str
    #: workflow timeout in minutes, 0 = none
    timeout: int
    #: END / CONTINUE: for the DS schedule and a run that does not choose (``workflow_failure_strategy``)
    failure_strategy: str
    #: sha256 of the DS-relevant content, excluding task versions
    content_hash: str
    #: platform task_id -> DS task code, for every task
    task_codes: Mapping[int, int]
    #: platform task_id -> task name as sent to DS (differs from the platform name only after a name clash)
    task_names: Mapping[int, str]


class ReleaseState(IntEnum):
    """DS ``ReleaseState``; the gateway takes the int (CONTRACT §2.4)."""

    OFFLINE = 0
    ONLINE = 1


WarningType = Literal["NONE", "SUCCESS", "FAILURE", "ALL"]


class CreateOrUpdateWorkflowArgs(NamedTuple):
    """The 16 arguments of the Java gateway method ``createOrUpdateWorkflow``, in Java order (CONTRACT §1.3).

    Call it as ``entry_point.createOrUpdateWorkflow(*args)``.
    """

    user_name: str
    project_name: str
    name: str
    description: str
    global_params: str
    schedule: str | None
    online_schedule: bool
    warning_type: str
    warning_group_id: int
    timeout: int
    worker_group: str
    release_state: int
    task_relation_json: str
    task_definition_json: str
    other_params_json: str | None
    execution_type: str


def convert(
    snapshot: StructureSnapshot,
    codes: Mapping[int, int],
    *,
    datasource_ids: Mapping[tuple[str, str], int] = _NO_DATASOURCES,
    task_versions: Mapping[int, int] | None = None,
    upstream_task_codes: Mapping[int, int] = _NO_CODES,
    sub_workflow_codes: Mapping[int, int] = _NO_CODES,
) -> DolphinWorkflowDefinition:
    """Build the DS definition of ``snapshot``.

    ``codes`` maps every platform task_id to its stable DS task code (see ``assign_codes``).
    ``datasource_ids`` maps ``(datasource name, datasource type)`` to the DS datasource id; types are compared
    case-insensitively and sent upper-case (DS ``DbType`` names such as ``POSTGRESQL``, ``MYSQL``).
    ``task_versions`` maps a DS task **code** to the version DS currently holds for it (as read from DS);
    tasks not in it get version 1. ``upstream_task_codes`` maps the upstream task id of each external dependency
    to its DS task code; ``codes`` must also hold each DEPENDENT node's id (``ExternalDependency.node_id``).
    ``sub_workflow_codes`` maps the platform workflow id a SUB_WORKFLOW task runs to the DS workflow code DS holds it
    under (``SubWorkflowNotDeployed`` names the tasks whose child has none).

    Raises ``MissingTaskCodes``, ``MissingDatasources`` (listing every missing one), ``InvalidDag`` (unknown
    task in an edge, duplicate task id, cycle, no tasks), ``InvalidSchedule``, ``UpstreamNotDeployed`` or
    ``SubWorkflowNotDeployed``.
    """
    tasks = sorted(snapshot.tasks, key=_by_task_id)
    if not tasks:
        raise InvalidDag("a workflow needs at least one task: DS rejects an empty task graph")
    links = sorted(snapshot.external_dependencies, key=attrgetter("upstream_task_id"), reverse=True)
    if links:
        _check_upstreams(links, upstream_task_codes)
    # DEPENDENT nodes (negative ids) first, then the tasks: ascending node id
    task_ids = [d.node_id for d in links] + [t.task_id for t in tasks]
    code_of = _codes_for(task_ids, codes)
    names = _unique_names(tasks)
    edges = _edges(snapshot, code_of)
    if links:
        names.update(_dependent_names(links, set(names.values())))
        edges = sorted({*edges, *((d.node_id, t) for d in links for t in d.task_ids)})
        unknown = sorted({t for d in links for t in d.task_ids} - code_of.keys())
        if unknown:
            raise InvalidDag(f"DEPENDENT links wait in tasks that are not in the workflow: {unknown}", task_ids=unknown)
    layers = topological_layers(task_ids, edges)
    datasources = _resolve_datasources(tasks, datasource_ids)
    _check_sub_workflows(tasks, sub_workflow_codes)

    # Each task is emitted as text around its version: ``head + version + tail``. The text with the default
    # version everywhere is hashed (so DS's own version bumps do not change the hash) and is also the output
    # whenever the caller's versions are all the default.
    pieces = [_dependent_text(d, code_of[d.node_id], names[d.node_id], upstream_task_codes) for d in links]
    _check_branches(tasks, edges)
    pieces += [
        _task_text(t, code_of[t.task_id], names[t.task_id], datasources, code_of, sub_workflow_codes) for t in tasks
    ]

    definitions_json = "[" + ",".join([h + _DEFAULT_VERSION_TEXT + t for h, t in pieces]) + "]"
    relations_json = _relations_text(layers.roots, edges, code_of, None)
    global_params = _dumps(_properties(snapshot.global_params))
    schedule_json = None if snapshot.schedule is None else _dumps(_schedule(snapshot.schedule))
    failure_strategy = str(workflow_failure_strategy(snapshot.tasks))
    head = _dumps(
        [
            CONVERTER_VERSION,
            snapshot.workflow_name,
            snapshot.description,
            global_params,
            schedule_json,
            str(snapshot.execution_type),
            snapshot.timeout_minutes,
            failure_strategy,
        ]
    )
    digest = hashlib.sha256()
    for part in (head, definitions_json, relations_json):
        digest.update(part.encode())
        digest.update(b"\n")

    if task_versions and any(v != DEFAULT_TASK_VERSION for v in task_versions.values()):
        version_of = task_versions.get
        definitions_json = (
            "["
            + ",".join(
                [
                    h + str(version_of(code, DEFAULT_TASK_VERSION)) + tail
                    for code, (h, tail) in zip([code_of[i] for i in task_ids], pieces, strict=True)
                ]
            )
            + "]"
        )
        relations_json = _relations_text(layers.roots, edges, code_of, task_versions)

    return DolphinWorkflowDefinition(
        name=snapshot.workflow_name,
        description=snapshot.description,
        task_definition_json=definitions_json,
        task_relation_json=relations_json,
        global_params=global_params,
        schedule_json=schedule_json,
        locations=locations(task_ids, layers, code_of),
        execution_type=str(snapshot.execution_type),
        timeout=snapshot.timeout_minutes,
        failure_strategy=failure_strategy,
        content_hash=digest.hexdigest(),
        task_codes=MappingProxyType(code_of),
        task_names=MappingProxyType(names),
    )


def gateway_args(
    defn: DolphinWorkflowDefinition,
    *,
    user_name: str,
    project_name: str,
    release_state: ReleaseState | Literal["ONLINE", "OFFLINE"],
    online_schedule: bool,
    warning_type: WarningType = "NONE",
    warning_group_id: int = 0,
    worker_group: str = "default",
) -> CreateOrUpdateWorkflowArgs:
    """Arguments of the Java ``createOrUpdateWorkflow``, in Java order (CONTRACT §1.3).

    ``warning_type``, ``warning_group_id`` and ``worker_group`` only apply to the schedule.
    ``online_schedule`` is sent as False when the definition has no schedule (Java ignores it then).
    ``otherParamsJson`` is always null.
    """
    state = ReleaseState[release_state] if isinstance(release_state, str) else ReleaseState(release_state)
    if warning_type not in ("NONE", "SUCCESS", "FAILURE", "ALL"):
        raise ValueError(f"unknown warning type {warning_type!r}")
    return CreateOrUpdateWorkflowArgs(
        user_name=user_name,
        project_name=project_name,
        name=defn.name,
        description=defn.description,
        global_params=defn.global_params,
        schedule=defn.schedule_json,
        online_schedule=bool(online_schedule and defn.schedule_json is not None),
        warning_type=warning_type,
        warning_group_id=int(warning_group_id),
        timeout=int(defn.timeout),
        worker_group=worker_group,
        release_state=int(state),
        task_relation_json=defn.task_relation_json,
        task_definition_json=defn.task_definition_json,
        other_params_json=None,
        execution_type=defn.execution_type,
    )


# --- pieces ---------------------------------------------------------------------------------------


def _codes_for(task_ids: list[int], codes: Mapping[int, int]) -> dict[int, int]:
    if len(set(task_ids)) != len(task_ids):
        dup = sorted(tid for tid, n in Counter(task_ids).items() if n > 1)
        raise InvalidDag(f"task ids are not unique: {dup}", duplicate_task_ids=dup)
    missing = [tid for tid in task_ids if tid not in codes]
    if missing:
        raise MissingTaskCodes(f"no DS task code for tasks {missing}", task_ids=missing)
    code_of = {tid: codes[tid] for tid in task_ids}
    if len(set(code_of.values())) != len(code_of) or min(code_of.values()) <= 0:
        bad = sorted(c for c, n in Counter(code_of.values()).items() if n > 1 or c <= 0)
        raise MissingTaskCodes(f"DS task codes must be positive and distinct; bad codes: {bad}", codes=bad)
    return code_of


def _unique_names(tasks: list[SnapshotTask]) -> dict[int, str]:
    names = {t.task_id: t.name for t in tasks}
    if len(set(names.values())) == len(names):
        return names
    for _ in range(8):
        holders: dict[str, list[int]] = {}
        for tid, name in names.items():
            holders.setdefault(name, []).append(tid)
        clashes = [tids for tids in holders.values() if len(tids) > 1]
        if not clashes:
            return names
        for tids in clashes:
            for tid in tids:
                names[tid] = f"{names[tid]} [{tid}]"
    raise InvalidDag("task names cannot be made unique")  # only names crafted to clash round after round


def _check_upstreams(links: list[ExternalDependency], upstream_task_codes: Mapping[int, int]) -> None:
    missing = [
        d
        for d in links
        if d.upstream_project_code is None
        or d.upstream_workflow_code is None
        or d.upstream_task_id not in upstream_task_codes
    ]
    if missing:
        which = "; ".join(
            f"task {d.upstream_task_id} ({d.upstream_task_name or '?'}) of workflow {d.upstream_workflow_id} "
            f"({d.upstream_workflow_name or '?'})"
            for d in sorted(missing, key=attrgetter("upstream_workflow_id", "upstream_task_id"))
        )
        raise UpstreamNotDeployed(
            f"DEPENDENT links wait for tasks of workflows not deployed to DolphinScheduler: {which}; publish those "
            "first (this workflow then gets a new version with their codes, to approve)",
            upstream_workflow_ids=sorted({d.upstream_workflow_id for d in missing}),
            upstream_task_ids=sorted(d.upstream_task_id for d in missing),
        )


def _dependent_names(links: list[ExternalDependency], taken: set[str]) -> dict[int, str]:
    """``wait <workflow>.<task>`` (the upstream's names; its ids where a name is missing), with the upstream task
    id appended when that name is taken."""
    out: dict[int, str] = {}
    for d in links:
        name = f"wait {d.upstream_workflow_name or d.upstream_workflow_id}.{d.upstream_task_name or d.upstream_task_id}"
        if name in taken or name in out.values():
            name = f"{name} [{d.upstream_task_id}]"
        out[d.node_id] = name
    return out


def _dependent_text(
    d: ExternalDependency, code: int, name: str, upstream_task_codes: Mapping[int, int]
) -> tuple[str, str]:
    """A DEPENDENT task definition as JSON text around its version (see ``_task_text``; module docstring)."""
    item = (
        f'{{"dependentType":"DEPENDENT_ON_TASK","projectCode":{d.upstream_project_code},'
        f'"definitionCode":{d.upstream_workflow_code},"depTaskCode":{upstream_task_codes[d.upstream_task_id]},'
        f'"cycle":"{d.cycle._value_}","dateValue":{_str(d.date_value)},"parameterPassing":false}}'
    )
    task_params = (
        f'{{"dependence":{{"relation":"AND","dependTaskList":[{{"relation":"AND","dependItemList":[{item}]}}],'
        f'"checkInterval":{DEPENDENT_CHECK_INTERVAL_S},"failurePolicy":"DEPENDENT_FAILURE_FAILURE"}},'
        f'"localParams":[],"resourceList":[]}}'
    )
    description = f"waits for task {d.upstream_task_id} of platform workflow {d.upstream_workflow_id}"
    tail = (
        f',"name":{_str(name)},"description":{_str(description)},'
        f'"taskType":"DEPENDENT","taskParams":{task_params},'
        f'"flag":"YES","taskPriority":"MEDIUM","workerGroup":"default","environmentCode":-1,'
        f'"failRetryTimes":0,"failRetryInterval":1,"timeoutFlag":"CLOSE","timeoutNotifyStrategy":null,"timeout":0,'
        f'"delayTime":0,"taskGroupId":0,"taskGroupPriority":0,"cpuQuota":-1,"memoryMax":-1,"taskExecuteType":"BATCH"}}'
    )
    return f'{{"code":{code},"version":', tail


def _edges(snapshot: StructureSnapshot, code_of: dict[int, int]) -> list[tuple[int, int]]:
    pairs = sorted({(e.upstream_task_id, e.downstream_task_id) for e in snapshot.edges})
    if pairs:
        ups, downs = zip(*pairs, strict=True)
        unknown = sorted((set(ups) | set(downs)) - code_of.keys())
        if unknown:
            raise InvalidDag(f"edges reference tasks that are not in the workflow: {unknown}", task_ids=unknown)
    return pairs


def _check_sub_workflows(tasks: list[SnapshotTask], sub_workflow_codes: Mapping[int, int]) -> None:
    """Every SUB_WORKFLOW task's child has a DS workflow code: it was deployed (publish the child first)."""
    missing = [
        t for t in tasks if type(t.params) is SubWorkflowParams and t.params.workflow_id not in sub_workflow_codes
    ]
    if missing:
        which = "; ".join(f"task {t.task_id} ({t.name}) runs workflow {_child(t)}" for t in missing)
        raise SubWorkflowNotDeployed(
            f"SUB_WORKFLOW tasks run workflows not deployed to DolphinScheduler: {which}; publish those first",
            sub_workflow_ids=sorted({_child(t) for t in missing}),
            task_ids=[t.task_id for t in missing],
        )


def _child(task: SnapshotTask) -> int:
    assert type(task.params) is SubWorkflowParams
    return task.params.workflow_id


def _resolve_datasources(
    tasks: list[SnapshotTask], datasource_ids: Mapping[tuple[str, str], int]
) -> dict[tuple[str, str], tuple[str, int]]:
    """``(name, type as written)`` -> ``(DS type name, datasource id)`` for every datasource a task names (SQL,
    PROCEDURE, DATAX's source and target: ``common.workflow.datasources_of``)."""
    wanted: dict[tuple[str, str], list[int]] = {}
    for t in tasks:
        for key in datasources_of(t.params):
            tids = wanted.setdefault(key, [])
            if not tids or tids[-1] != t.task_id:
                tids.append(t.task_id)
    if not wanted:
        return {}
    known = {(name, type_.upper()): ds_id for (name, type_), ds_id in datasource_ids.items()}
    resolved: dict[tuple[str, str], tuple[str, int]] = {}
    missing: list[dict[str, Any]] = []
    for (name, type_), tids in wanted.items():
        ds_type = type_.upper()
        ds_id = known.get((name, ds_type))
        if ds_id is None:
            missing.append({"name": name, "type": ds_type, "task_ids": tids})
        else:
            resolved[(name, type_)] = (ds_type, ds_id)
    if missing:
        missing.sort(key=lambda m: (m["name"], m["type"]))
        listed = ", ".join(f"{m['name']} ({m['type']})" for m in missing)
        raise MissingDatasources(f"DolphinScheduler has no datasource {listed}", missing=missing)
    return resolved


def _properties(params: Iterable[Param]) -> list[dict[str, str]]:
    return [{"prop": p.name, "direct": p.direction, "type": p.type.value, "value": p.value} for p in params]


def _json_list(items: tuple[str, ...]) -> str:
    return "[" + ",".join([_str(i) for i in items]) + "]"


def _params_text(params: tuple[Param, ...]) -> str:
    return (
        "["
        + ",".join(
            [
                f'{{"prop":{_str(p.name)},"direct":"{p.direction}","type":"{p.type._value_}","value":{_str(p.value)}}}'
                for p in params
            ]
        )
        + "]"
    )


def _check_branches(tasks: list[SnapshotTask], edges: list[tuple[int, int]]) -> None:
    """A CONDITIONS task checks only its direct upstream tasks and branches only to its direct downstream tasks, as
    does a SWITCH task (the definition service refuses anything else on save; a snapshot from elsewhere is checked
    here too)."""
    problems = branch_problems({t.task_id: t.params for t in tasks}, edges)
    if problems:
        ids = sorted({i for p in problems for i in p["task_ids"]})
        raise InvalidDag("; ".join(p["message"] for p in problems), task_ids=ids)


def _codes_text(ids: tuple[int, ...] | list[int], code_of: dict[int, int]) -> str:
    return "[" + ",".join([str(code_of[i]) for i in ids]) + "]"


def _task_text(
    task: SnapshotTask,
    code: int,
    name: str,
    datasources: dict[tuple[str, str], tuple[str, int]],
    code_of: dict[int, int],
    sub_workflow_codes: Mapping[int, int],
) -> tuple[str, str]:
    """The task definition as JSON text, split around its version: ``(head, tail)``.

    Hand-written JSON for speed (an f-string is several times faster than encoding a dict per task): every
    string that comes from the snapshot goes through ``_str``; enum values and ints are safe as they are. The
    tests parse the output back and compare it field by field.
    """
    p = task.params
    local = p.local_params
    local_params = _params_text(local) if local else "[]"
    if type(p) is SqlParams:
        ds_type, ds_id = datasources[(p.datasource_name, p.datasource_type)]
        pre = p.pre_statements
        post = p.post_statements
        task_params = (
            f'{{"type":{_str(ds_type)},"datasource":{ds_id},"sql":{_str(p.sql)},'
            f'"sqlType":"{_SQL_TYPE[p.sql_type]}","preStatements":{_json_list(pre) if pre else "[]"},'
            f'"postStatements":{_json_list(post) if post else "[]"},"displayRows":{p.display_rows},'
            f'"localParams":{local_params},"resourceList":[]}}'
        )
    elif type(p) is ShellParams or type(p) is PythonParams:
        res = p.resources
        resources = "[" + ",".join([f'{{"resourceName":{_str(r)}}}' for r in res]) + "]" if res else "[]"
        task_params = f'{{"rawScript":{_str(p.script)},"localParams":{local_params},"resourceList":{resources}}}'
    elif type(p) is HttpParams:
        http_params = ",".join(
            [
                f'{{"prop":{_str(h.name)},"httpParametersType":"{h.location}","value":{_str(h.value)}}}'
                for h in p.http_params
            ]
        )
        task_params = (
            f'{{"url":{_str(p.url)},"httpMethod":"{p.method}","httpParams":[{http_params}],'
            f'"httpBody":{_str(p.body)},"httpCheckCondition":"{p.check_condition}","condition":{_str(p.condition)},'
            f'"connectTimeout":{p.connect_timeout_ms},"localParams":{local_params},"resourceList":[]}}'
        )
    elif type(p) is DataxParams:
        if p.custom_json:
            task_params = (
                f'{{"customConfig":1,"json":{_str(p.custom_json)},"xms":{p.xms},"xmx":{p.xmx},'
                f'"localParams":{local_params},"resourceList":[]}}'
            )
        else:
            src_type, src_id = datasources[(p.source_datasource_name, p.source_datasource_type)]
            dst_type, dst_id = datasources[(p.target_datasource_name, p.target_datasource_type)]
            pre, post = p.pre_statements, p.post_statements
            task_params = (
                f'{{"customConfig":0,"dsType":{_str(src_type)},"dataSource":{src_id},'
                f'"dtType":{_str(dst_type)},"dataTarget":{dst_id},"sql":{_str(p.sql)},'
                f'"targetTable":{_str(p.target_table)},"jobSpeedByte":{p.job_speed_byte},'
                f'"jobSpeedRecord":{p.job_speed_record},"preStatements":{_json_list(pre) if pre else "[]"},'
                f'"postStatements":{_json_list(post) if post else "[]"},"xms":{p.xms},"xmx":{p.xmx},'
                f'"localParams":{local_params},"resourceList":[]}}'
            )
    elif type(p) is SparkParams:
        res = p.resources
        resources = "[" + ",".join([f'{{"resourceName":{_str(r)}}}' for r in res]) + "]" if res else "[]"
        main_jar = f'{{"resourceName":{_str(p.main_jar)}}}' if p.main_jar else "null"
        task_params = (
            f'{{"programType":"{p.program_type}","mainClass":{_str(p.main_class)},"mainJar":{main_jar},'
            f'"rawScript":{_str(p.raw_script)},"deployMode":"{p.deploy_mode}","appName":{_str(p.app_name)},'
            f'"driverCores":{p.driver_cores},"driverMemory":"{p.driver_memory}","numExecutors":{p.num_executors},'
            f'"executorCores":{p.executor_cores},"executorMemory":"{p.executor_memory}",'
            f'"mainArgs":{_str(p.main_args)},"others":{_str(p.others)},"yarnQueue":{_str(p.yarn_queue)},'
            f'"localParams":{local_params},"resourceList":{resources}}}'
        )
    elif type(p) is SubWorkflowParams:
        task_params = (
            f'{{"workflowDefinitionCode":{sub_workflow_codes[p.workflow_id]},"localParams":{local_params},'
            '"resourceList":[]}'
        )
    elif type(p) is FlinkParams:
        res = p.resources
        resources = "[" + ",".join([f'{{"resourceName":{_str(r)}}}' for r in res]) + "]" if res else "[]"
        main_jar = f'{{"resourceName":{_str(p.main_jar)}}}' if p.main_jar else "null"
        task_params = (
            f'{{"programType":"{p.program_type}","mainClass":{_str(p.main_class)},"mainJar":{main_jar},'
            f'"rawScript":{_str(p.raw_script)},"initScript":{_str(p.init_script)},"deployMode":"{p.deploy_mode}",'
            f'"flinkVersion":"{p.flink_version}","appName":{_str(p.app_name)},'
            f'"jobManagerMemory":"{p.job_manager_memory}","taskManagerMemory":"{p.task_manager_memory}",'
            f'"slot":{p.slot},"taskManager":{p.task_manager},"parallelism":{p.parallelism},'
            f'"mainArgs":{_str(p.main_args)},"others":{_str(p.others)},"yarnQueue":{_str(p.yarn_queue)},'
            f'"localParams":{local_params},"resourceList":{resources}}}'
        )
    elif type(p) is ProcedureParams:
        ds_type, ds_id = datasources[(p.datasource_name, p.datasource_type)]
        task_params = (
            f'{{"type":{_str(ds_type)},"datasource":{ds_id},"method":{_str(p.method)},'
            f'"localParams":{local_params},"resourceList":[]}}'
        )
    elif type(p) is ConditionsParams:
        groups = ",".join(
            [
                f'{{"relation":"{g.relation}","dependItemList":['
                + ",".join([f'{{"depTaskCode":{code_of[c.task_id]},"status":"{c.status}"}}' for c in g.checks])
                + "]}"
                for g in p.groups
            ]
        )
        task_params = (
            f'{{"dependence":{{"relation":"{p.relation}","dependTaskList":[{groups}]}},'
            f'"conditionResult":{{"successNode":{_codes_text(p.success_task_ids, code_of)},'
            f'"failedNode":{_codes_text(p.failed_task_ids, code_of)}}},'
            f'"localParams":{local_params},"resourceList":[]}}'
        )
    elif type(p) is SwitchParams:
        cases = ",".join([f'{{"condition":{_str(c.condition)},"nextNode":{code_of[c.task_id]}}}' for c in p.cases])
        default = "null" if p.default_task_id is None else str(code_of[p.default_task_id])
        task_params = (
            f'{{"switchResult":{{"dependTaskList":[{cases}],"nextNode":{default}}},'
            f'"localParams":{local_params},"resourceList":[]}}'
        )
    else:  # pragma: no cover - the snapshot model admits no other params
        raise InvalidDag(f"task {task.task_id}: unsupported task params {type(p).__name__}")
    a = task.node_attrs
    timeout = a.timeout_minutes
    if timeout > 0:
        timeout_flag = "OPEN"
        s = a.timeout_strategy
        strategy = _DEFAULT_STRATEGY_TEXT if s is None else f'"{s._value_}"'
    else:
        timeout_flag = "CLOSE"
        strategy = "null"
    tail = (
        f',"name":{_str(name)},"description":{_str(task.description)},'
        f'"taskType":"{task.task_type._value_}","taskParams":{task_params},'
        f'"flag":"{"YES" if a.enabled else "NO"}","taskPriority":"{a.priority._value_}",'
        f'"workerGroup":{_str(a.worker_group)},"environmentCode":{a.environment_code},'
        f'"failRetryTimes":{a.retries},"failRetryInterval":{a.retry_interval_minutes},'
        f'"timeoutFlag":"{timeout_flag}","timeoutNotifyStrategy":{strategy},"timeout":{timeout},'
        f'"delayTime":{a.delay_minutes},"taskGroupId":0,"taskGroupPriority":0,'
        f'"cpuQuota":{a.cpu_quota},"memoryMax":{a.memory_max_mb},"taskExecuteType":"BATCH"}}'
    )
    return f'{{"code":{code},"version":', tail


def _relations_text(
    roots: list[int],
    edges: list[tuple[int, int]],
    code_of: dict[int, int],
    versions: Mapping[int, int] | None,
) -> str:
    """Relations as JSON text: a ``preTaskCode=0`` edge per root, then the edges."""
    d = DEFAULT_TASK_VERSION
    if versions is None:
        parts = [_ROOT_RELATION % (code_of[tid], d) for tid in roots]
        parts.extend([_RELATION % (code_of[up], d, code_of[down], d) for up, down in edges])
    else:
        v = versions.get
        parts = [_ROOT_RELATION % (c, v(c, d)) for c in [code_of[tid] for tid in roots]]
        pairs = [(code_of[up], code_of[down]) for up, down in edges]
        parts.extend([_RELATION % (pre, v(pre, d), post, v(post, d)) for pre, post in pairs])
    return "[" + ",".join(parts) + "]"


def _schedule(schedule: Schedule) -> dict[str, str]:
    try:
        zone = ZoneInfo(schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidSchedule(f"unknown time zone {schedule.timezone!r}", timezone=schedule.timezone) from exc
    start = _aware(schedule.start_time, zone)
    end = _aware(schedule.end_time, zone)
    if start >= end:
        raise InvalidSchedule(
            f"schedule start {start.isoformat()} must be before its end {end.isoformat()}",
        )
    crontab = schedule.crontab
    if crontab.count(" ") == 5:
        crontab += " *"
    return {
        "startTime": _utc_text(start),
        "endTime": _utc_text(end),
        "crontab": crontab,
        "timezoneId": schedule.timezone,
    }


def _aware(value: datetime, zone: tzinfo) -> datetime:
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


def _utc_text(value: datetime) -> str:
    try:
        return value.astimezone(UTC).strftime(_SCHEDULE_TIME_FORMAT)
    except OverflowError:  # beyond year 9999 once moved to UTC: DS's own "forever"
        return _MAX_SCHEDULE_TIME
