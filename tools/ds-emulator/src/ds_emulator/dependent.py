"""DEPENDENT task parameters as DS 3.4 checks them, and the date intervals a dependency waits for."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

#: DEPENDENT task params (DS 3.4 ``DependentParameters``): the ``dateValue``s of each ``cycle``
#: (``DependentUtils.getDateIntervalList``; ``common.workflow.DEPENDENT_DATE_VALUES`` holds the same table). Only
#: values known to be DS's: the SDK's ``DependentDate`` and ``thisMonthBegin`` (DS UI, apache/dolphinscheduler#9004).
DEPENDENT_DATE_VALUES: dict[str, tuple[str, ...]] = {
    "hour": ("currentHour", "last1Hour", "last2Hours", "last3Hours", "last24Hours"),
    "day": ("today", "last1Days", "last2Days", "last3Days", "last7Days"),
    "week": (
        "thisWeek", "lastWeek", "lastMonday", "lastTuesday", "lastWednesday", "lastThursday", "lastFriday",
        "lastSaturday", "lastSunday",
    ),
    "month": ("thisMonth", "thisMonthBegin", "lastMonth", "lastMonthBegin", "lastMonthEnd"),
}  # fmt: skip


DEPENDENT_RELATIONS = ("AND", "OR")
DEPENDENT_FAILURE_POLICIES = ("DEPENDENT_FAILURE_FAILURE", "DEPENDENT_FAILURE_WAITING")


#: the DS UI's item types (DS's classes have no such property; the emulator refuses other names all the same)
DEPENDENT_TYPES = ("DEPENDENT_ON_WORKFLOW", "DEPENDENT_ON_TASK")


#: DS 3.4.2 could not read the ``taskParams`` into ``DependentParameters``: ``JSONUtils.parseObject`` throws, and
#: ``generateTaskDefinitionList`` answers any exception but its own with this status, without an argument
DEPENDENT_UNREADABLE = "REQUEST_PARAMS_NOT_VALID_ERROR"


#: ``checkParameters`` refused them (and every further refusal of the emulator's): ``WORKFLOW_NODE_S_PARAMETER_INVALID``
#: with the task's name
DEPENDENT_INVALID = "WORKFLOW_NODE_S_PARAMETER_INVALID"
_INTEGER_TEXT = re.compile(r"\s*[+-]?[0-9]+\s*")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _unreadable(value: Any, kind: str) -> bool:
    """Whether DS's ``JSONUtils`` (Jackson, ``ACCEPT_EMPTY_ARRAY_AS_NULL_OBJECT``) certainly fails to read ``value``
    where DS has an ``object`` (a bean: null or ``[]`` read as null), a ``list`` (null read as null) or a ``number``
    (``long``/``Integer``: text that is not an integer fails; numbers, null and integer text are read)."""
    if value is None:
        return False
    if kind == "object":
        return not isinstance(value, dict) and value != []
    if kind == "list":
        return not isinstance(value, list)
    return isinstance(value, dict | list) or (isinstance(value, str) and not _INTEGER_TEXT.fullmatch(value))


def _dependent_unreadable(params: Any) -> bool:
    """Whether DS 3.4.2 cannot read DEPENDENT ``taskParams`` into ``DependentParameters`` at all."""
    if not isinstance(params, dict):
        return True  # a JSON array, text or number is no DependentParameters (``[]``: read as null, refused too)
    dependence = params.get("dependence")
    if _unreadable(dependence, "object"):
        return True
    if not isinstance(dependence, dict):
        return False
    if any(_unreadable(dependence.get(k), "number") for k in ("checkInterval", "failureWaitingTime")):
        return True
    groups = dependence.get("dependTaskList")
    if _unreadable(groups, "list"):
        return True
    for group in groups or ():
        if _unreadable(group, "object") or (
            isinstance(group, dict) and _unreadable(group.get("dependItemList"), "list")
        ):
            return True
        for item in group.get("dependItemList") or () if isinstance(group, dict) else ():
            if _unreadable(item, "object"):
                return True
            if isinstance(item, dict) and any(
                _unreadable(item.get(k), "number") for k in ("projectCode", "definitionCode", "depTaskCode")
            ):
                return True
    return False


def dependent_params_status(params: Any) -> str | None:
    """The DS status a save answers for DEPENDENT ``taskParams`` (None: accepted), never more lenient than DS 3.4.2:

    - ``DEPENDENT_UNREADABLE`` (10001) where DS cannot read them into ``DependentParameters`` (read from the 3.4.2
      api and common bytecode: ``TaskPluginManager.checkTaskParameters`` -> ``JSONUtils.parseObject``, which throws
      ``IllegalArgumentException``; ``generateTaskDefinitionList`` answers it with this status): not an object, an
      object or list property of another JSON kind, a number property given as text that is no integer;
    - ``DEPENDENT_INVALID`` (50020) where ``DependentParameters.checkParameters`` is false (task-api is not served:
      from the DS source): no ``dependence`` (or null, or ``[]``), no or an empty ``dependTaskList``, a
      ``checkInterval`` that is not positive;
    - ``DEPENDENT_INVALID`` too for what DS 3.4.2 accepts on save and cannot run (or runs otherwise than meant): an
      unknown relation, failure policy, cycle, date value of the cycle or item type (DS reads unknown enum names as
      null), an empty or null group or item, a project or workflow code that is not a positive integer, a task code
      that is not a non-negative integer (``0``: the whole workflow; DS's ``-1``, all tasks of it, is not emulated),
      a ``checkInterval`` that is not an integer (DS coerces integer text and numbers)."""
    if _dependent_unreadable(params):
        return DEPENDENT_UNREADABLE
    dependence = params.get("dependence")
    if not isinstance(dependence, dict) or not dependence.get("dependTaskList"):
        return DEPENDENT_INVALID
    interval = dependence.get("checkInterval")
    if interval is not None and not _positive_int(interval):
        return DEPENDENT_INVALID
    if dependence.get("relation", "AND") not in DEPENDENT_RELATIONS:
        return DEPENDENT_INVALID
    if dependence.get("failurePolicy", "DEPENDENT_FAILURE_FAILURE") not in DEPENDENT_FAILURE_POLICIES:
        return DEPENDENT_INVALID
    for group in dependence["dependTaskList"]:
        if not isinstance(group, dict) or group.get("relation", "AND") not in DEPENDENT_RELATIONS:
            return DEPENDENT_INVALID
        items = group.get("dependItemList")
        if not items:
            return DEPENDENT_INVALID
        for item in items:
            if not isinstance(item, dict):
                return DEPENDENT_INVALID
            if not (_positive_int(item.get("projectCode")) and _positive_int(item.get("definitionCode"))):
                return DEPENDENT_INVALID
            task_code = item.get("depTaskCode", 0)
            if not isinstance(task_code, int) or isinstance(task_code, bool) or task_code < 0:
                return DEPENDENT_INVALID
            if item.get("dateValue") not in DEPENDENT_DATE_VALUES.get(str(item.get("cycle")), ()):
                return DEPENDENT_INVALID
            if item.get("dependentType", "DEPENDENT_ON_TASK") not in DEPENDENT_TYPES:
                return DEPENDENT_INVALID
    return None


def dependent_params_valid(params: Any) -> bool:
    """Whether a save accepts DEPENDENT ``taskParams`` (:func:`dependent_params_status`)."""
    return dependent_params_status(params) is None


def dependent_intervals(date_value: str, at: float) -> list[tuple[float, float]]:
    """The periods ``[start, end)`` a DEPENDENT item checks for a run at ``at`` (UTC), as DS's
    ``DependentUtils.getDateIntervalList`` lists them: EVERY one needs a successful run (``last7Days`` is seven
    days, each with one; ``thisWeek`` is Monday up to today, ``thisMonth`` the 1st up to today, ``lastWeek`` and
    ``lastMonth`` all their days; ``currentHour``, ``today``, ``lastMonday`` … one period each)."""
    now = datetime.fromtimestamp(at, tz=UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    day = hour.replace(hour=0)
    week = day - timedelta(days=day.weekday())
    month = day.replace(day=1)
    prev_month = (month - timedelta(days=1)).replace(day=1)
    weekdays = (
        "lastMonday",
        "lastTuesday",
        "lastWednesday",
        "lastThursday",
        "lastFriday",
        "lastSaturday",
        "lastSunday",
    )
    h, d = timedelta(hours=1), timedelta(days=1)

    def days(first: datetime, last: datetime) -> list[tuple[datetime, datetime]]:
        return [(first + i * d, first + (i + 1) * d) for i in range((last - first) // d + 1)]

    spans: list[tuple[datetime, datetime]]
    if date_value == "currentHour":
        spans = [(hour, hour + h)]
    elif date_value.startswith("last") and date_value.endswith(("Hour", "Hours")):
        n = int(date_value[4:].removesuffix("Hours").removesuffix("Hour"))
        spans = [(hour - i * h, hour - (i - 1) * h) for i in range(n, 0, -1)]
    elif date_value == "today":
        spans = [(day, day + d)]
    elif date_value.startswith("last") and date_value.endswith("Days"):
        spans = days(day - int(date_value[4:-4]) * d, day - d)
    elif date_value == "thisWeek":
        spans = days(week, day)
    elif date_value == "lastWeek":
        spans = days(week - 7 * d, week - d)
    elif date_value in weekdays:
        start = week - (7 - weekdays.index(date_value)) * d
        spans = [(start, start + d)]
    elif date_value == "thisMonth":
        spans = days(month, day)
    elif date_value == "thisMonthBegin":
        spans = [(month, month + d)]
    elif date_value == "lastMonth":
        spans = days(prev_month, month - d)
    elif date_value == "lastMonthBegin":
        spans = [(prev_month, prev_month + d)]
    else:  # lastMonthEnd
        spans = [(month - d, month)]
    return [(a.timestamp(), b.timestamp()) for a, b in spans]
