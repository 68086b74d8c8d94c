from __future__ import annotations

from datetime import UTC, datetime

import pytest

from common.workflow import Schedule
from definition.domain.cron import cron_problems, parse_quartz_cron, schedule_problems, validate_schedule
from definition.domain.errors import InvalidSchedule

VALID = [
    "0 0 12 * * ?",
    "0 15 10 ? * *",
    "0 15 10 * * ? 2030",
    "0 * 14 * * ?",
    "0 0/5 14,18 * * ?",
    "0 0-5 14 * * ?",
    "0 10,44 14 ? 3 WED",
    "0 15 10 ? * MON-FRI",
    "0 15 10 15 * ?",
    "0 15 10 L * ?",
    "0 15 10 L-2 * ?",
    "0 15 10 ? * 6L",
    "0 15 10 ? * 6L 2002-2005",
    "0 15 10 ? * 6#3",
    "0 0 12 1/5 * ?",
    "0 11 11 11 11 ?",
    "0 0 0 LW * ?",
    "0 0 0 15W * ?",
    "0 0 22-2 * * ?",
    "0 0 0 ? jan-mar fri-mon",
    "*/10 * * ? * SUN#1",
    "0  0   3 * * ?  *",
    "0 0 0 ? * L",
    "0 0 0 1-31/2 * ?",
    "0 0 0 29 2 ?",
]


@pytest.mark.parametrize("expr", VALID)
def test_valid_quartz_expressions(expr: str) -> None:
    assert cron_problems(expr) == []
    assert parse_quartz_cron(expr).expression == " ".join(expr.split()).upper()


INVALID = [
    ("0 0 12 * *", "cron_syntax", None, "6 or 7 fields"),
    ("0 0 0 0 0 0 0 0", "cron_syntax", None, "got 8"),
    ("", "cron_syntax", None, "got 0"),
    ("0 0 0 * * *", "cron_day_fields", "day-of-month/day-of-week", "exactly one"),
    ("0 0 0 ? * ?", "cron_day_fields", "day-of-month/day-of-week", "both are"),
    ("60 0 0 * * ?", "cron_field", "second", "60 is out of range 0-59"),
    ("0 60 0 * * ?", "cron_field", "minute", "out of range"),
    ("0 0 24 * * ?", "cron_field", "hour", "24 is out of range 0-23"),
    ("0 0 0 32 * ?", "cron_field", "day-of-month", "32 is out of range 1-31"),
    ("0 0 0 0 * ?", "cron_field", "day-of-month", "0 is out of range"),
    ("0 0 0 * 13 ?", "cron_field", "month", "13 is out of range 1-12"),
    ("0 0 0 ? * 0", "cron_field", "day-of-week", "0 is out of range 1-7"),
    ("0 0 0 ? * 8", "cron_field", "day-of-week", "8 is out of range"),
    ("0 0 0 * * ? 1969", "cron_field", "year", "out of range 1970-2099"),
    ("0 0 0 * * ? 2030-2020", "cron_field", "year", "reversed"),
    ("0 */0 * * * ?", "cron_field", "minute", "increment 0"),
    ("0 */60 * * * ?", "cron_field", "minute", "increment 60"),
    ("0 0 */24 * * ?", "cron_field", "hour", "increment 24"),
    ("0 0/x * * * ?", "cron_field", "minute", "whole number"),
    ("0 /5 * * * ?", "cron_field", "minute", "no start"),
    ("0 0 0 1,,2 * ?", "cron_field", "day-of-month", "empty item"),
    ("0 0 ? * * ?", "cron_field", "hour", "'?' is only allowed"),
    ("0 0 0 ?,1 * ?", "cron_field", "day-of-month", "must stand alone"),
    ("0 0 0 L,5 * ?", "cron_field", "day-of-month", "cannot be combined"),
    ("0 0 0 L-31 * ?", "cron_field", "day-of-month", "offset 0-30"),
    ("0 0 0 32W * ?", "cron_field", "day-of-month", "single day 1-31"),
    ("0 0 0 1-5W * ?", "cron_field", "day-of-month", "single day"),
    ("0 0 0 ? * 5L,1", "cron_field", "day-of-week", "cannot be combined"),
    ("0 0 0 ? * 6#6", "cron_field", "day-of-week", "followed by 1-5"),
    ("0 0 0 ? * 6#1,2", "cron_field", "day-of-week", "cannot be combined"),
    ("0 0 0 ? * 9#1", "cron_field", "day-of-week", "out of range"),
    ("0 0 0 ? * W", "cron_field", "day-of-week", "not a valid value"),
    ("0 0 0 ? * MON-FOO", "cron_field", "day-of-week", "'FOO' is not a valid value"),
    ("0 0 0 * L ?", "cron_field", "month", "only allowed in the day fields"),
    ("0 0 0 * * ? L", "cron_field", "year", "only allowed in the day fields"),
    ("0 0 0 ? * 1#2 x", "cron_field", "year", "not a valid value"),
    ("0 0 0 30 2 ?", "cron_never_fires", "day-of-month", "never occurs in month(s) FEB"),
    ("0 0 0 31 4,6,9,11 ?", "cron_never_fires", "day-of-month", "APR,JUN,SEP,NOV"),
]


@pytest.mark.parametrize(("expr", "code", "field", "text"), INVALID)
def test_invalid_quartz_expressions(expr: str, code: str, field: str | None, text: str) -> None:
    problems = cron_problems(expr)
    assert problems, expr
    assert problems[0]["code"] == code
    assert problems[0]["field"] == field
    assert text in problems[0]["message"]
    with pytest.raises(InvalidSchedule) as ei:
        parse_quartz_cron(expr)
    assert ei.value.status == 422
    assert ei.value.extras["errors"] == problems


def test_every_bad_field_is_reported_with_position() -> None:
    problems = cron_problems("61 0 25 * * *")
    assert [(p["code"], p["position"]) for p in problems] == [
        ("cron_field", 1),
        ("cron_field", 3),
        ("cron_day_fields", None),
    ]
    assert problems[1]["token"] == "25"


def test_parsed_values() -> None:
    cron = parse_quartz_cron("0 0/20 22-2 ? JAN,MAR 2-6 2030")
    assert cron.minute.values == frozenset({0, 20, 40})
    assert cron.hour.values == frozenset({22, 23, 0, 1, 2})
    assert cron.day_of_month.values is None
    assert cron.month.values == frozenset({1, 3})
    assert cron.day_of_week.values == frozenset({2, 3, 4, 5, 6})
    assert cron.year is not None
    assert cron.year.values == frozenset({2030})
    assert parse_quartz_cron("0 0 0 ? * 6#3").day_of_week.values is None


def _sched(**kw: object) -> Schedule:
    base: dict[str, object] = {
        "crontab": "0 0 2 * * ?",
        "timezone": "Asia/Shanghai",
        "start_time": datetime(2025, 1, 1),
        "end_time": datetime(2026, 1, 1),
    }
    base.update(kw)
    return Schedule.model_validate(base)


def test_valid_schedule() -> None:
    assert validate_schedule(_sched()).hour.values == frozenset({2})
    aware = _sched(start_time=datetime(2025, 1, 1, tzinfo=UTC), end_time=datetime(2026, 1, 1, tzinfo=UTC))
    validate_schedule(aware)


@pytest.mark.parametrize("tz", ["Mars/Olympus", "", "../etc/passwd", "UTC+8"])
def test_unknown_timezone(tz: str) -> None:
    problems = schedule_problems("0 0 2 * * ?", tz, datetime(2025, 1, 1), datetime(2026, 1, 1))
    assert [p["code"] for p in problems] == ["timezone"]


def test_start_must_precede_end() -> None:
    with pytest.raises(InvalidSchedule) as ei:
        validate_schedule(_sched(start_time=datetime(2026, 1, 1), end_time=datetime(2026, 1, 1)))
    assert ei.value.extras["errors"][0]["code"] == "time_range"
    assert "must be before" in ei.value.detail


def test_mixed_naive_and_aware_times() -> None:
    problems = schedule_problems("0 0 2 * * ?", "UTC", datetime(2025, 1, 1), datetime(2026, 1, 1, tzinfo=UTC))
    assert [p["code"] for p in problems] == ["time_range"]


def test_year_outside_window_never_fires() -> None:
    problems = schedule_problems("0 0 2 * * ? 2020-2022", "UTC", datetime(2025, 1, 1), datetime(2026, 1, 1))
    assert [p["code"] for p in problems] == ["cron_never_fires"]


def test_all_schedule_problems_together() -> None:
    problems = schedule_problems("0 0 25 * * ?", "Nowhere/Land", datetime(2026, 1, 1), datetime(2025, 1, 1))
    assert [p["code"] for p in problems] == ["cron_field", "timezone", "time_range"]
