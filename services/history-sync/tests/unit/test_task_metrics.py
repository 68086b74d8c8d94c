"""Task-level metrics: percentiles on few samples, success rate, runs that are going, runs that left the last 10."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from history_sync.domain.executions import Execution
from history_sync.domain.task_metrics import TaskRun, needs_task_fetch, percentile, task_metrics

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def run(iid: int, state: str = "SUCCESS", run_times: int = 1) -> Execution:
    return Execution(instance_id=iid, state=state, start_time=T0 + timedelta(hours=iid), run_times=run_times)


def task(
    iid: int, tid: int, *, code: int = 11, state: str = "SUCCESS", seconds: float | None = 10.0, name: str = "load"
) -> TaskRun:
    start = T0 + timedelta(hours=iid)
    return TaskRun(
        workflow_id=1,
        instance_id=iid,
        task_instance_id=tid,
        task_code=code,
        task_name=name,
        task_type="SHELL",
        state=state,
        start_time=start,
        end_time=None if seconds is None else start + timedelta(seconds=seconds),
    )


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, None),
        ([7.0], 50, 7.0),
        ([7.0], 90, 7.0),
        ([3.0, 1.0], 50, 1.0),  # nearest rank: ceil(0.5 * 2) = 1st
        ([3.0, 1.0], 90, 3.0),
        ([5.0, 1.0, 3.0], 50, 3.0),
        ([5.0, 1.0, 3.0], 90, 5.0),  # fewer than 10 samples: p90 is the longest
        ([float(v) for v in range(1, 11)], 90, 9.0),
        ([float(v) for v in range(1, 11)], 50, 5.0),
        ([float(v) for v in range(1, 11)], 100, 10.0),
    ],
)
def test_percentile_nearest_rank(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == expected


@pytest.mark.parametrize("q", [0, -1, 100.5])
def test_percentile_rejects_q_outside_0_100(q: float) -> None:
    with pytest.raises(ValueError, match="q must be"):
        percentile([1.0], q)


def test_no_runs_no_tasks() -> None:
    assert task_metrics([], []) == []
    assert task_metrics([run(1)], []) == []


def test_success_rate_and_percentiles_over_successful_durations() -> None:
    executions = [run(4, "FAILURE"), run(3), run(2), run(1)]
    runs = [
        task(1, 101, seconds=10),
        task(2, 102, seconds=30),
        task(3, 103, seconds=20),
        task(4, 104, state="FAILURE", seconds=1),  # a failure's duration is not in the percentiles
    ]
    [m] = task_metrics(executions, runs)
    assert (m.task_code, m.task_name, m.task_type) == (11, "load", "SHELL")
    assert (m.finished, m.succeeded, m.success_rate) == (4, 3, 0.75)
    assert (m.p50_s, m.p90_s) == (20.0, 30.0)
    assert [(c.instance_id, c.run_state, c.state, c.duration_s) for c in m.runs] == [
        (4, "FAILURE", "FAILURE", 1.0),
        (3, "SUCCESS", "SUCCESS", 20.0),
        (2, "SUCCESS", "SUCCESS", 30.0),
        (1, "SUCCESS", "SUCCESS", 10.0),
    ]


def test_all_failed_has_rate_zero_and_no_percentiles() -> None:
    [m] = task_metrics(
        [run(2, "FAILURE"), run(1, "FAILURE")], [task(1, 1, state="FAILURE"), task(2, 2, state="FAILURE")]
    )
    assert (m.finished, m.succeeded, m.success_rate) == (2, 0, 0.0)
    assert (m.p50_s, m.p90_s) == (None, None)


def test_forced_success_counts_as_success_kill_as_finished() -> None:
    [m] = task_metrics(
        [run(2), run(1, "STOP")], [task(2, 2, state="FORCED_SUCCESS", seconds=4), task(1, 1, state="KILL")]
    )
    assert (m.finished, m.succeeded, m.success_rate) == (2, 1, 0.5)
    assert m.p50_s == 4.0


def test_a_running_task_is_in_no_count_and_no_duration() -> None:
    executions = [run(3, "RUNNING_EXECUTION"), run(2), run(1)]
    runs = [
        task(1, 1, seconds=8),
        task(2, 2, state="RUNNING_EXECUTION", seconds=500),
        task(2, 3, code=12, seconds=None),
    ]
    by_code = {m.task_code: m for m in task_metrics(executions, runs)}
    m = by_code[11]
    assert (m.finished, m.succeeded, m.success_rate, m.p50_s, m.p90_s) == (1, 1, 1.0, 8.0, 8.0)
    # the run still going has no task instances here: the cell shows the run's state, the task's is unknown
    assert [(c.run_state, c.state) for c in m.runs] == [
        ("RUNNING_EXECUTION", None),
        ("SUCCESS", "RUNNING_EXECUTION"),
        ("SUCCESS", "SUCCESS"),
    ]
    # a success without an end time counts as a success but has no duration
    other = by_code[12]
    assert (other.succeeded, other.p50_s) == (1, None)
    assert [c.state for c in other.runs] == [None, "SUCCESS", None]  # the task was not in run 1


def test_runs_outside_the_last_runs_are_ignored_and_the_newest_name_wins() -> None:
    executions = [run(3), run(2)]
    runs = [task(1, 1, name="old name", seconds=99), task(2, 2, name="old name"), task(3, 3, name="new name")]
    [m] = task_metrics(executions, runs)
    assert m.task_name == "new name"
    assert (m.finished, m.p90_s) == (2, 10.0)
    assert [c.instance_id for c in m.runs] == [3, 2]


def test_a_task_retried_inside_a_run_counts_its_latest_attempt() -> None:
    [m] = task_metrics([run(1)], [task(1, 7, state="FAILURE"), task(1, 8, state="SUCCESS", seconds=5)])
    assert (m.finished, m.succeeded, m.p50_s) == (1, 1, 5.0)
    assert m.runs[0].task_instance_id == 8


def test_tasks_are_ordered_by_name_then_code() -> None:
    runs = [task(1, 1, code=30, name="b"), task(1, 2, code=20, name="a"), task(1, 3, code=10, name="b")]
    assert [m.task_code for m in task_metrics([run(1)], runs)] == [20, 10, 30]


@pytest.mark.parametrize(
    ("state", "run_times", "fetched_at", "expected"),
    [
        ("SUCCESS", 1, None, True),  # finished, never read
        ("SUCCESS", 1, 1, False),  # read once: never again
        ("FAILURE", 2, 1, True),  # rerun of a read run, finished again: read again
        ("RUNNING_EXECUTION", 2, 1, False),  # the rerun is going: not yet
        ("RUNNING_EXECUTION", 1, None, False),  # going: its tasks are not read
        ("SUBMITTED_SUCCESS", 0, None, False),
        ("STOP", 1, None, True),
    ],
)
def test_needs_task_fetch_once_per_finished_run(
    state: str, run_times: int, fetched_at: int | None, expected: bool
) -> None:
    assert needs_task_fetch(run(1, state, run_times), fetched_at) is expected
