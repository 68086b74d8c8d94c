"""Quartz cron and schedule validation (the format DolphinScheduler's scheduler uses).

A Quartz expression has 6 or 7 whitespace-separated fields::

    second minute hour day-of-month month day-of-week [year]
    0-59   0-59   0-23 1-31         1-12  1-7 (1=SUN) 1970-2099
           names:                   JAN-DEC SUN-SAT

Per field: ``*``, a value, a list ``a,b``, a range ``a-b`` (wrapping ranges such as ``22-2`` or ``FRI-MON`` are
allowed, as in Quartz, except for the year), an increment ``*/s``, ``a/s`` or ``a-b/s``. Exactly one of
day-of-month and day-of-week is ``?`` (Quartz supports neither both nor none). Day-of-month also takes ``L``,
``L-n`` (n ≤ 30), ``LW`` and ``nW`` (a single day); day-of-week takes ``L``, ``nL`` (last weekday n of the month)
and ``n#k`` (k-th weekday n, k = 1-5). ``L``, ``W`` and ``#`` cannot be combined with other items in a list. We are
slightly stricter than Quartz on one obscure form: ``/5`` must be written ``*/5`` or ``0/5``.

croniter is not used: it numbers days of the week from 0 = Sunday and puts seconds last, so it would accept
``0 0 0 ? * 0`` (invalid in Quartz) and misread ``7`` (Saturday in Quartz, Sunday in croniter).

Public API
----------
``parse_quartz_cron(expression) -> QuartzCron``
    Parses and validates; raises ``InvalidSchedule`` listing every bad field.
``cron_problems(expression) -> list[dict]``
    The same checks without raising: items with ``code``, ``field``, ``position`` (1-based), ``token``, ``message``.
``schedule_problems(crontab, timezone, start_time, end_time) -> list[dict]``
    Cron problems plus an unknown ``timezone`` (IANA name, checked with ``zoneinfo``), ``start_time < end_time`` (both
    naive or both aware), and an expression that can never fire (e.g. ``30`` February, or years outside the window).
``validate_schedule(schedule) -> QuartzCron``
    ``schedule_problems`` on a ``common.workflow.Schedule``; raises ``InvalidSchedule``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from common.workflow import Schedule
from definition.domain.errors import InvalidSchedule

__all__ = [
    "CronField",
    "QuartzCron",
    "cron_problems",
    "parse_quartz_cron",
    "schedule_problems",
    "validate_schedule",
]


@dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    low: int
    high: int
    max_step: int
    names: tuple[str, ...] = ()  # names[i] is the value low + i
    wraps: bool = True


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_SPECS = (
    _Spec("second", 0, 59, 59),
    _Spec("minute", 0, 59, 59),
    _Spec("hour", 0, 23, 23),
    _Spec("day-of-month", 1, 31, 31),
    _Spec("month", 1, 12, 12, _MONTHS),
    _Spec("day-of-week", 1, 7, 7, _DAYS),
    _Spec("year", 1970, 2099, 129, wraps=False),
)
_DOM, _MONTH, _DOW, _YEAR = 3, 4, 5, 6
_MAX_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True, slots=True)
class CronField:
    """One parsed field. ``values`` is the set of matching values, or ``None`` for ``?`` and for the day
    specials (``L``, ``W``, ``#``) whose values depend on the month."""

    name: str
    text: str
    values: frozenset[int] | None


@dataclass(frozen=True, slots=True)
class QuartzCron:
    """A valid Quartz expression, normalised (single spaces, upper case)."""

    expression: str
    second: CronField
    minute: CronField
    hour: CronField
    day_of_month: CronField
    month: CronField
    day_of_week: CronField
    year: CronField | None


class _FieldError(Exception):
    def __init__(self, token: str, message: str) -> None:
        super().__init__(message)
        self.token = token
        self.message = message


def _value(spec: _Spec, text: str, item: str) -> int:
    if text.isdigit():
        v = int(text)
        if not spec.low <= v <= spec.high:
            raise _FieldError(item, f"{spec.name} value {v} is out of range {spec.low}-{spec.high}")
        return v
    if text in spec.names:
        return spec.low + spec.names.index(text)
    if spec.names:
        expected = f"{spec.low}-{spec.high} or {spec.names[0]}-{spec.names[-1]}"
    else:
        expected = f"a number {spec.low}-{spec.high}"
    if not text:
        raise _FieldError(item, f"{spec.name}: missing value in '{item}' (expected {expected})")
    if spec.name not in ("day-of-month", "day-of-week") and (text in ("L", "LW") or "#" in text or text[-1] in "LW"):
        expected += "; 'L', 'W' and '#' are only allowed in the day fields"
    raise _FieldError(item, f"{spec.name}: '{text}' is not a valid value (expected {expected})")


def _span(spec: _Spec, start: int, end: int, step: int) -> list[int]:
    size = spec.high - spec.low + 1
    count = (end - start) % size + 1 if spec.wraps else end - start + 1
    return [spec.low + (start - spec.low + k) % size for k in range(0, count, step)]


def _item(spec: _Spec, item: str) -> list[int]:
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit():
            raise _FieldError(item, f"{spec.name}: '/' in '{item}' must be followed by a whole number")
        step = int(step_text)
        if not 1 <= step <= spec.max_step:
            raise _FieldError(item, f"{spec.name}: increment {step} in '{item}' must be 1-{spec.max_step}")
        if not base:
            raise _FieldError(item, f"{spec.name}: '{item}' has no start; write '*/{step}' or '{spec.low}/{step}'")
    if base == "*":
        return list(range(spec.low, spec.high + 1, step))
    lo_text, dash, hi_text = base.partition("-")
    start = _value(spec, lo_text, item)
    if not dash:
        # "a/s" means from a to the end of the range in steps of s; "a" alone is just a.
        return list(range(start, spec.high + 1, step)) if slash else [start]
    end = _value(spec, hi_text, item)
    if end < start and not spec.wraps:
        raise _FieldError(item, f"{spec.name} range '{base}' is reversed")
    return _span(spec, start, end, step)


def _dom_special(item: str) -> bool:
    """Validate the day-of-month forms with L/W. Returns True when the item is one of them."""
    if item in ("L", "LW"):
        return True
    if item.startswith("L-"):
        off = item[2:]
        if not off.isdigit() or int(off) > 30:
            raise _FieldError(item, f"day-of-month: '{item}' needs an offset 0-30 after 'L-'")
        return True
    if item.endswith("W"):
        day = item[:-1]
        if not day.isdigit() or not 1 <= int(day) <= 31:
            raise _FieldError(item, f"day-of-month: 'W' in '{item}' must follow a single day 1-31")
        return True
    if "L" in item or "W" in item:
        raise _FieldError(item, f"day-of-month: '{item}' is not a valid use of 'L'/'W' (L, L-n, LW or nW)")
    return False


def _dow_special(item: str) -> bool:
    spec = _SPECS[_DOW]
    if item == "L":
        return True
    if "#" in item:
        day, _, nth = item.partition("#")
        _value(spec, day, item)
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise _FieldError(item, f"day-of-week: '#' in '{item}' must be followed by 1-5")
        return True
    if item.endswith("L"):
        _value(spec, item[:-1], item)
        return True
    return False


def _field(pos: int, text: str) -> CronField:
    spec = _SPECS[pos]
    if text == "?":
        if pos not in (_DOM, _DOW):
            raise _FieldError(text, f"{spec.name}: '?' is only allowed in day-of-month or day-of-week")
        return CronField(spec.name, text, None)
    items = text.split(",")
    for item in items:
        if not item:
            raise _FieldError(text, f"{spec.name}: empty item in list '{text}'")
        if item == "?" or ("?" in item):
            raise _FieldError(item, f"{spec.name}: '?' must stand alone")
    special = False
    for item in items:
        if pos == _DOM:
            is_special = _dom_special(item)
        elif pos == _DOW:
            is_special = _dow_special(item)
        else:
            is_special = False
        if is_special and len(items) > 1:
            raise _FieldError(
                text, f"{spec.name}: '{item}' cannot be combined with other values in a list (Quartz limitation)"
            )
        special = special or is_special
    if special:
        return CronField(spec.name, text, None)
    values: set[int] = set()
    for item in items:
        values.update(_item(spec, item))
    return CronField(spec.name, text, frozenset(values))


def _parse(expression: str) -> tuple[QuartzCron | None, list[dict[str, Any]]]:
    norm = " ".join(expression.split()).upper()
    parts = norm.split(" ") if norm else []
    if len(parts) not in (6, 7):
        return None, [
            {
                "code": "cron_syntax",
                "field": None,
                "position": None,
                "token": expression,
                "message": f"a Quartz cron expression has 6 or 7 fields "
                f"(second minute hour day-of-month month day-of-week [year]); got {len(parts)}",
            }
        ]
    problems: list[dict[str, Any]] = []
    fields: list[CronField | None] = []
    for pos, text in enumerate(parts):
        try:
            fields.append(_field(pos, text))
        except _FieldError as exc:
            fields.append(None)
            problems.append(
                {
                    "code": "cron_field",
                    "field": _SPECS[pos].name,
                    "position": pos + 1,
                    "token": exc.token,
                    "message": exc.message,
                }
            )
    dom_q, dow_q = parts[_DOM] == "?", parts[_DOW] == "?"
    if dom_q == dow_q:
        problems.append(
            {
                "code": "cron_day_fields",
                "field": "day-of-month/day-of-week",
                "position": None,
                "token": f"{parts[_DOM]} {parts[_DOW]}",
                "message": "exactly one of day-of-month and day-of-week must be '?' "
                + ("(both are)" if dom_q else "(write '?' in the one you do not use)"),
            }
        )
    if problems:
        return None, problems
    f: list[CronField] = [x for x in fields if x is not None]
    cron = QuartzCron(norm, f[0], f[1], f[2], f[3], f[4], f[5], f[6] if len(f) == 7 else None)
    never = _never_fires(cron)
    if never:
        return None, [never]
    return cron, []


def _never_fires(cron: QuartzCron) -> dict[str, Any] | None:
    days, months = cron.day_of_month.values, cron.month.values
    if days is None or months is None:
        return None
    longest = max(_MAX_DAYS[m - 1] for m in months)
    if min(days) > longest:
        names = ",".join(_MONTHS[m - 1] for m in sorted(months))
        return {
            "code": "cron_never_fires",
            "field": "day-of-month",
            "position": _DOM + 1,
            "token": cron.day_of_month.text,
            "message": f"day-of-month {cron.day_of_month.text} never occurs in month(s) {names}",
        }
    return None


def cron_problems(expression: str) -> list[dict[str, Any]]:
    """Every problem of a Quartz expression (empty when valid)."""
    return _parse(expression)[1]


def parse_quartz_cron(expression: str) -> QuartzCron:
    """Parse a Quartz expression. :raises InvalidSchedule: listing every problem."""
    cron, problems = _parse(expression)
    if cron is None:
        raise InvalidSchedule(problems)
    return cron


def _timezone_problem(timezone: str) -> dict[str, Any] | None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return {"code": "timezone", "token": timezone, "message": f"unknown time zone '{timezone}'"}
    return None


def schedule_problems(crontab: str, timezone: str, start_time: datetime, end_time: datetime) -> list[dict[str, Any]]:
    """Every problem of a schedule (empty when valid)."""
    cron, problems = _parse(crontab)
    tz = _timezone_problem(timezone)
    if tz:
        problems.append(tz)
    if (start_time.tzinfo is None) != (end_time.tzinfo is None):
        problems.append(
            {
                "code": "time_range",
                "message": "start_time and end_time must both carry a UTC offset or both be naive",
            }
        )
        return problems
    if start_time >= end_time:
        problems.append(
            {
                "code": "time_range",
                "message": f"start_time {start_time.isoformat()} must be before end_time {end_time.isoformat()}",
            }
        )
    elif cron is not None and cron.year is not None and cron.year.values is not None:
        years: Sequence[int] = sorted(cron.year.values)
        if not any(start_time.year <= y <= end_time.year for y in years):
            problems.append(
                {
                    "code": "cron_never_fires",
                    "field": "year",
                    "position": _YEAR + 1,
                    "token": cron.year.text,
                    "message": f"year {cron.year.text} is outside the schedule window "
                    f"{start_time.year}-{end_time.year}",
                }
            )
    return problems


def validate_schedule(schedule: Schedule) -> QuartzCron:
    """Validate a whole schedule. :raises InvalidSchedule: listing every problem."""
    problems = schedule_problems(schedule.crontab, schedule.timezone, schedule.start_time, schedule.end_time)
    if problems:
        raise InvalidSchedule(problems)
    return parse_quartz_cron(schedule.crontab)
