"""HTTP, PROCEDURE, DATAX, SPARK, FLINK, CONDITIONS, SUB_WORKFLOW and SWITCH task parameters as DS 3.4 checks them
on save.

DS 3.4 saves a task definition only when ``TaskPluginManager.checkTaskParameters(taskType, taskParams)`` holds:
the task type's channel reads ``taskParams`` with ``JSONUtils.parseObject`` into its parameters class and calls
``checkParameters()``. ``parseObject`` answers null where Jackson fails (``parseTaskParameters`` then throws
``IllegalArgumentException``, which ``generateTaskDefinitionList`` answers with ``REQUEST_PARAMS_NOT_VALID_ERROR``
without an argument); a false ``checkParameters`` is ``WORKFLOW_NODE_S_PARAMETER_INVALID`` with the task's name.
DS's ``JSONUtils`` ignores unknown properties, reads ``[]`` as a null object and unknown enum names as null.

The parameter classes are in task plugins that Maven Central does not serve at 3.4.x, so their members and
``checkParameters`` are read from DS's source (apache/dolphinscheduler ``dev`` at 7e0095dc, after the HTTP plugin's
refactoring #16413): ``HttpParameters`` (``url``, ``httpMethod`` GET/POST/PUT/DELETE, ``httpParams`` of
``HttpProperty`` {``prop``, ``httpParametersType`` PARAMETER/HEADERS, ``value``}, ``httpBody``,
``httpCheckCondition``, ``condition``, ``connectTimeout`` an ``int``; valid when the URL is not empty, the method
is known and ``connectTimeout > 0``) and ``ProcedureParameters`` (``type``, ``datasource`` an ``int``, ``method``,
``outProperty`` a map; valid when ``datasource != 0`` and ``type`` and ``method`` are not empty) and
``DataxParameters`` (``customConfig``, ``dataSource``, ``dataTarget``, ``jobSpeedByte``, ``jobSpeedRecord``, ``xms``,
``xmx`` ``int``s, ``json``, ``dsType``, ``dtType``, ``sql``, ``targetTable`` texts, ``preStatements``/
``postStatements`` lists; valid with ``customConfig`` 0 when both datasource ids are not 0 and ``sql`` and
``targetTable`` are not empty, with any other ``customConfig`` when ``json`` is not empty) and ``SparkParameters``
(``programType`` JAVA/SCALA/PYTHON/SQL, ``mainJar`` a ``ResourceInfo``, ``driverCores``/``numExecutors``/
``executorCores`` ``int``s, the rest texts, ``resourceList`` a list; valid when ``programType`` is known and
``mainJar`` or ``rawScript`` is not null: an empty ``rawScript`` passes); ``FlinkParameters`` is checked the same
way (its ``deployMode`` a ``FlinkDeployMode`` of JSON names, ``slot``/``parallelism``/``taskManager`` ``int``s).

``ConditionsParameters`` (task-api, 3.4 source): ``dependence`` a ``ConditionDependency`` (``relation`` a
``DependentRelation``, ``dependTaskList`` of ``DependentTaskModel`` {``relation``, ``dependItemList`` of
``DependentItem`` with ``depTaskCode`` a ``long`` and ``status`` a ``TaskExecutionStatus``}) and ``conditionResult``
a ``ConditionResult`` (``conditionSuccess`` a ``boolean``, ``successNode``/``failedNode`` lists of ``Long``); valid
when ``dependTaskList``, ``successNode`` and ``failedNode`` are not empty. Like DEPENDENT's, the emulator also
refuses what DS saves and cannot run as meant: an unknown relation or status (DS reads it as null), an empty group,
a task code that is not a positive integer.
``SubWorkflowParameters`` (task-api; its ``long workflowDefinitionCode`` is confirmed by DS 3.4.2's service jar, which
calls ``getWorkflowDefinitionCode()J``) is valid when ``workflowDefinitionCode > 0``; a save does not look the code up
(DS checks the children when the parent goes online: ``Definitions.release``).
``SwitchParameters`` (task-api, 3.4 source; the ``Long`` codes and the ``String`` condition confirmed by DS 3.4.2's
master jar, which calls ``SwitchResultVo.getNextNode()Ljava/lang/Long;``, ``getCondition()Ljava/lang/String;`` and
``SwitchResult.getNextNode()Ljava/lang/Long;``): ``switchResult`` a ``SwitchResult`` (``dependTaskList`` of
``SwitchResultVo`` {``condition``, ``nextNode``}, ``nextNode`` the default branch) and ``nextBranch``, which the master
sets at run time; valid when ``switchResult`` is there, it has cases or a default, and every case has a ``nextNode``.
Jackson reads ``""`` into a ``Long`` as null (the SDK's ``nextNode`` without a default). The emulator also refuses
what DS saves and cannot run as meant: a case without a condition (or a blank one: never true), a branch code that is
not a positive integer, and cases in a ``null`` list beside a default (DS's ``checkParameters`` would throw on it).
"""

from __future__ import annotations

from typing import Any

from ds_emulator.dependent import DEPENDENT_INVALID, DEPENDENT_RELATIONS, DEPENDENT_UNREADABLE, _unreadable

#: the statuses of a refused save (the same as for DEPENDENT tasks)
PARAMS_UNREADABLE = DEPENDENT_UNREADABLE
PARAMS_INVALID = DEPENDENT_INVALID

HTTP_METHODS = ("GET", "POST", "PUT", "DELETE")
HTTP_CHECK_CONDITIONS = ("STATUS_CODE_DEFAULT", "STATUS_CODE_CUSTOM", "BODY_CONTAINS", "BODY_NOT_CONTAINS")
HTTP_PARAMETER_TYPES = ("PARAMETER", "HEADERS")

#: the task types whose parameters the emulator checks as DS does (SHELL/PYTHON: ``rawScript``; DEPENDENT: its module)
CHECKED_TYPES = ("HTTP", "PROCEDURE", "DATAX", "SPARK", "FLINK", "CONDITIONS", "SUB_WORKFLOW", "SWITCH")
#: Java's ``Long.MAX_VALUE``: Jackson fails on a larger ``long``
_LONG_MAX = 2**63 - 1
SPARK_PROGRAM_TYPES = ("JAVA", "SCALA", "PYTHON", "SQL")
_SPARK_NUMBERS = ("driverCores", "numExecutors", "executorCores")
_SPARK_TEXTS = ("mainClass", "master", "deployMode", "mainArgs", "driverMemory", "executorMemory", "appName",
                "yarnQueue", "others", "rawScript", "namespace", "sqlExecutionType", "programType")  # fmt: skip


def _text_unreadable(value: Any) -> bool:
    """Jackson reads any scalar into a ``String`` field, no object or array."""
    return isinstance(value, dict | list)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _int(value: Any) -> int:
    """A readable ``int`` field (``_unreadable(value, "number")`` is false): null is 0."""
    if value is None:
        return 0
    if isinstance(value, str):
        return int(value.strip())
    return int(value)


def _enum(value: Any, names: tuple[str, ...]) -> str | None:
    """Jackson's enum read with ``READ_UNKNOWN_ENUM_VALUES_AS_NULL``: a name, or an index."""
    if isinstance(value, str):
        return value if value in names else None
    if isinstance(value, int) and not isinstance(value, bool):
        return names[value] if 0 <= value < len(names) else None
    return None


def _http_unreadable(params: dict[str, Any]) -> bool:
    if any(_text_unreadable(params.get(k)) for k in ("url", "httpBody", "condition", "httpMethod")):
        return True
    if _text_unreadable(params.get("httpCheckCondition")) or _unreadable(params.get("connectTimeout"), "number"):
        return True
    if _unreadable(params.get("httpParams"), "list") or _unreadable(params.get("localParams"), "list"):
        return True
    for prop in params.get("httpParams") or ():
        if _unreadable(prop, "object"):
            return True
        if isinstance(prop, dict) and any(_text_unreadable(prop.get(k)) for k in prop):
            return True
    return False


def _procedure_unreadable(params: dict[str, Any]) -> bool:
    if _text_unreadable(params.get("type")) or _text_unreadable(params.get("method")):
        return True
    if _unreadable(params.get("datasource"), "number") or _unreadable(params.get("localParams"), "list"):
        return True
    return _unreadable(params.get("outProperty"), "object")


_DATAX_NUMBERS = ("customConfig", "dataSource", "dataTarget", "jobSpeedByte", "jobSpeedRecord", "xms", "xmx")
_DATAX_TEXTS = ("json", "dsType", "dtType", "sql", "targetTable")
_DATAX_LISTS = ("preStatements", "postStatements", "localParams", "resourceList")


def _datax_unreadable(params: dict[str, Any]) -> bool:
    return (
        any(_unreadable(params.get(k), "number") for k in _DATAX_NUMBERS)
        or any(_text_unreadable(params.get(k)) for k in _DATAX_TEXTS)
        or any(_unreadable(params.get(k), "list") for k in _DATAX_LISTS)
    )


_FLINK_NUMBERS = ("slot", "parallelism", "taskManager")
_FLINK_TEXTS = ("mainClass", "deployMode", "mainArgs", "appName", "jobManagerMemory", "taskManagerMemory", "yarnQueue",
                "others", "flinkVersion", "programType", "initScript", "rawScript")  # fmt: skip


def _spark_unreadable(params: dict[str, Any], numbers: tuple[str, ...] = _SPARK_NUMBERS,
                      texts: tuple[str, ...] = _SPARK_TEXTS) -> bool:  # fmt: skip
    """Whether SPARK (or, with FLINK's members, FLINK) params cannot be read."""
    return (
        any(_unreadable(params.get(k), "number") for k in numbers)
        or any(_text_unreadable(params.get(k)) for k in texts)
        or _unreadable(params.get("mainJar"), "object")
        or any(_unreadable(params.get(k), "list") for k in ("resourceList", "localParams"))
    )


#: the states a CONDITIONS item tests (the DS UI and the SDK offer these two of ``TaskExecutionStatus``)
CONDITION_STATUSES = ("SUCCESS", "FAILURE")


def _codes_unreadable(value: Any) -> bool:
    return _unreadable(value, "list") or any(_unreadable(c, "number") for c in value or ())


def _conditions_unreadable(params: dict[str, Any]) -> bool:
    dependence, result = params.get("dependence"), params.get("conditionResult")
    if _unreadable(dependence, "object") or _unreadable(result, "object"):
        return True
    if _unreadable(params.get("localParams"), "list"):
        return True
    if isinstance(result, dict) and (
        _codes_unreadable(result.get("successNode"))
        or _codes_unreadable(result.get("failedNode"))
        or isinstance(result.get("conditionSuccess"), dict | list)
    ):
        return True
    if not isinstance(dependence, dict):
        return False
    groups = dependence.get("dependTaskList")
    if _text_unreadable(dependence.get("relation")) or _unreadable(groups, "list"):
        return True
    for group in groups or ():
        if _unreadable(group, "object"):
            return True
        if not isinstance(group, dict):
            continue
        items = group.get("dependItemList")
        if _text_unreadable(group.get("relation")) or _unreadable(items, "list"):
            return True
        for item in items or ():
            if _unreadable(item, "object") or (
                isinstance(item, dict)
                and (_unreadable(item.get("depTaskCode"), "number") or _text_unreadable(item.get("status")))
            ):
                return True
    return False


def _positive_code(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _conditions_ok(params: dict[str, Any]) -> bool:
    dependence, result = params.get("dependence"), params.get("conditionResult")
    if not isinstance(dependence, dict) or not dependence.get("dependTaskList"):
        return False
    if not isinstance(result, dict) or not result.get("successNode") or not result.get("failedNode"):
        return False
    if not all(_positive_code(c) for c in (*result["successNode"], *result["failedNode"])):
        return False
    if dependence.get("relation") not in DEPENDENT_RELATIONS:
        return False
    for group in dependence["dependTaskList"]:
        if not isinstance(group, dict) or group.get("relation") not in DEPENDENT_RELATIONS:
            return False
        items = group.get("dependItemList")
        if not items:
            return False
        for item in items:
            if not isinstance(item, dict) or not _positive_code(item.get("depTaskCode")):
                return False
            if item.get("status") not in CONDITION_STATUSES:
                return False
    return True


def _long_unreadable(value: Any) -> bool:
    """A ``Long`` field: what ``_unreadable(value, "number")`` says, but ``""`` is read (as null) and so is any
    integer Java's ``long`` holds."""
    if value == "":
        return False
    return _unreadable(value, "number") or abs(_int(value)) > _LONG_MAX


def _switch_unreadable(params: dict[str, Any]) -> bool:
    result = params.get("switchResult")
    if _unreadable(result, "object") or _unreadable(params.get("localParams"), "list"):
        return True
    if _long_unreadable(params.get("nextBranch")) or _unreadable(params.get("resultConditionLocation"), "number"):
        return True
    if not isinstance(result, dict):
        return False
    cases = result.get("dependTaskList")
    if _long_unreadable(result.get("nextNode")) or _unreadable(cases, "list"):
        return True
    for case in cases or ():
        if _unreadable(case, "object"):
            return True
        if isinstance(case, dict) and (
            _text_unreadable(case.get("condition")) or _long_unreadable(case.get("nextNode"))
        ):
            return True
    return False


def _branch_code(value: Any) -> int | None:
    """A readable ``Long`` branch code as DS holds it (None: null)."""
    return None if value is None or value == "" else _int(value)


def _switch_ok(params: dict[str, Any]) -> bool:
    result = params.get("switchResult")
    if not isinstance(result, dict):
        return False
    cases, default = result.get("dependTaskList"), _branch_code(result.get("nextNode"))
    if not cases and default is None:
        return False
    if cases is None:
        return False  # DS's checkParameters loops over the null list
    if default is not None and default <= 0:
        return False
    for case in cases:
        if not isinstance(case, dict):
            return False
        code = _branch_code(case.get("nextNode"))
        if code is None or code <= 0 or not _text(case.get("condition")).strip():
            return False
    return True


def task_params_status(task_type: str, params: Any) -> str | None:
    """The DS status a save answers for HTTP, PROCEDURE, DATAX, SPARK, FLINK, CONDITIONS, SUB_WORKFLOW or SWITCH
    ``taskParams`` (None: accepted; see the module)."""
    if not isinstance(params, dict):
        return PARAMS_UNREADABLE
    if task_type == "SWITCH":
        if _switch_unreadable(params):
            return PARAMS_UNREADABLE
        return None if _switch_ok(params) else PARAMS_INVALID
    if task_type == "SUB_WORKFLOW":
        code = params.get("workflowDefinitionCode")
        if _unreadable(code, "number") or _unreadable(params.get("localParams"), "list") or abs(_int(code)) > _LONG_MAX:
            return PARAMS_UNREADABLE
        return None if _int(code) > 0 else PARAMS_INVALID
    if task_type == "HTTP":
        if _http_unreadable(params):
            return PARAMS_UNREADABLE
        ok = (
            _text(params.get("url")) != ""
            and _enum(params.get("httpMethod"), HTTP_METHODS) is not None
            and _int(params.get("connectTimeout")) > 0
        )
    elif task_type in ("SPARK", "FLINK"):
        unreadable = (
            _spark_unreadable(params)
            if task_type == "SPARK"
            else _spark_unreadable(params, _FLINK_NUMBERS, _FLINK_TEXTS)
        )
        if unreadable:
            return PARAMS_UNREADABLE
        main_jar = params.get("mainJar")
        ok = _enum(params.get("programType"), SPARK_PROGRAM_TYPES) is not None and (
            (main_jar is not None and main_jar != []) or params.get("rawScript") is not None
        )
    elif task_type == "CONDITIONS":
        if _conditions_unreadable(params):
            return PARAMS_UNREADABLE
        ok = _conditions_ok(params)
    elif task_type == "DATAX":
        if _datax_unreadable(params):
            return PARAMS_UNREADABLE
        if _int(params.get("customConfig")) == 0:
            ok = (
                _int(params.get("dataSource")) != 0
                and _int(params.get("dataTarget")) != 0
                and "" not in (_text(params.get("sql")), _text(params.get("targetTable")))
            )
        else:
            ok = _text(params.get("json")) != ""
    else:
        if _procedure_unreadable(params):
            return PARAMS_UNREADABLE
        ok = (
            _int(params.get("datasource")) != 0
            and _text(params.get("type")) != ""
            and _text(params.get("method")) != ""
        )
    return None if ok else PARAMS_INVALID
