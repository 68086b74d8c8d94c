"""HTTP and PROCEDURE task parameters as DS 3.4 checks them on save.

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
``outProperty`` a map; valid when ``datasource != 0`` and ``type`` and ``method`` are not empty).
"""

from __future__ import annotations

from typing import Any

from ds_emulator.dependent import DEPENDENT_INVALID, DEPENDENT_UNREADABLE, _unreadable

#: the statuses of a refused save (the same as for DEPENDENT tasks)
PARAMS_UNREADABLE = DEPENDENT_UNREADABLE
PARAMS_INVALID = DEPENDENT_INVALID

HTTP_METHODS = ("GET", "POST", "PUT", "DELETE")
HTTP_CHECK_CONDITIONS = ("STATUS_CODE_DEFAULT", "STATUS_CODE_CUSTOM", "BODY_CONTAINS", "BODY_NOT_CONTAINS")
HTTP_PARAMETER_TYPES = ("PARAMETER", "HEADERS")

#: the task types whose parameters the emulator checks as DS does (SHELL/PYTHON: ``rawScript``; DEPENDENT: its module)
CHECKED_TYPES = ("HTTP", "PROCEDURE")


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


def task_params_status(task_type: str, params: Any) -> str | None:
    """The DS status a save answers for HTTP or PROCEDURE ``taskParams`` (None: accepted; see the module)."""
    if not isinstance(params, dict):
        return PARAMS_UNREADABLE
    if task_type == "HTTP":
        if _http_unreadable(params):
            return PARAMS_UNREADABLE
        ok = (
            _text(params.get("url")) != ""
            and _enum(params.get("httpMethod"), HTTP_METHODS) is not None
            and _int(params.get("connectTimeout")) > 0
        )
    else:
        if _procedure_unreadable(params):
            return PARAMS_UNREADABLE
        ok = (
            _int(params.get("datasource")) != 0
            and _text(params.get("type")) != ""
            and _text(params.get("method")) != ""
        )
    return None if ok else PARAMS_INVALID
