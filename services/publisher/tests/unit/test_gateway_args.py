"""``gateway_args``: the 16 arguments of Java ``createOrUpdateWorkflow`` in Java order (CONTRACT §1.3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from common.workflow import ExecutionType, Param, Schedule
from publisher.domain import ReleaseState, convert, gateway_args

JAVA_ORDER = [
    "user_name",
    "project_name",
    "name",
    "description",
    "global_params",
    "schedule",
    "online_schedule",
    "warning_type",
    "warning_group_id",
    "timeout",
    "worker_group",
    "release_state",
    "task_relation_json",
    "task_definition_json",
    "other_params_json",
    "execution_type",
]


@pytest.fixture
def defn(snapshot: Any, task: Any) -> Any:
    s = Schedule(crontab="0 0 3 * * ? *", start_time=datetime(2025, 1, 1), end_time=datetime(2026, 1, 1))
    snap = snapshot(
        [task(1), task(2)],
        [(1, 2)],
        workflow_name="wf",
        description="desc",
        timeout_minutes=30,
        execution_type=ExecutionType.SERIAL_WAIT,
        global_params=(Param(name="g", value="1"),),
        schedule=s,
    )
    return convert(snap, {1: 11, 2: 12})


def test_arguments_in_java_order(defn: Any) -> None:
    args = gateway_args(
        defn,
        user_name="svc",
        project_name="proj",
        release_state="ONLINE",
        online_schedule=True,
        warning_type="FAILURE",
        warning_group_id=3,
        worker_group="etl",
    )
    assert len(args) == 16
    assert list(args._fields) == JAVA_ORDER
    assert tuple(args) == (
        "svc",
        "proj",
        "wf",
        "desc",
        defn.global_params,
        defn.schedule_json,
        True,
        "FAILURE",
        3,
        30,
        "etl",
        1,
        defn.task_relation_json,
        defn.task_definition_json,
        None,
        "SERIAL_WAIT",
    )
    assert type(args.release_state) is int  # py4j must see a plain int, not an IntEnum


def test_defaults_and_offline(defn: Any) -> None:
    args = gateway_args(
        defn, user_name="u", project_name="p", release_state=ReleaseState.OFFLINE, online_schedule=False
    )
    assert (args.warning_type, args.warning_group_id, args.worker_group) == ("NONE", 0, "default")
    assert (args.release_state, args.online_schedule) == (0, False)


def test_online_schedule_is_false_without_a_schedule(snapshot: Any, task: Any) -> None:
    plain = convert(snapshot([task(1)]), {1: 11})
    args = gateway_args(plain, user_name="u", project_name="p", release_state="ONLINE", online_schedule=True)
    assert args.schedule is None
    assert args.online_schedule is False


@pytest.mark.parametrize("bad", [{"release_state": "LIVE"}, {"release_state": 2}, {"warning_type": "SOME"}])
def test_bad_values(defn: Any, bad: dict[str, Any]) -> None:
    kwargs: dict[str, Any] = {"user_name": "u", "project_name": "p", "release_state": "ONLINE", "online_schedule": True}
    kwargs.update(bad)
    with pytest.raises((ValueError, KeyError)):
        gateway_args(defn, **kwargs)
