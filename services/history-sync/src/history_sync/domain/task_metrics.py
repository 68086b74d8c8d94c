"""Task-level metrics (seed §4.5 step 4): each DS task's state and duration in the last runs of its workflow, its
success rate and p50/p90 duration.

The task instances of a run are read from DS once, when the run is finished (``needs_task_fetch``), and kept while
the run is among the workflow's cached last 10. A run still going has no task instances here: its tasks show the
run's state and count in neither the success rate nor the durations.

- **success rate**: successful task instances (SUCCESS, FORCED_SUCCESS) over the finished ones (any final state).
- **p50 / p90**: over the durations of the successful task instances only (a task that fails at once says nothing
  about how long it takes), nearest rank: the smallest duration that at least q % of them do not exceed (so p90 of
  fewer than 10 samples is the longest). ``None`` without a successful run.
- **duration**: ``end_time - start_time`` in seconds (DS's ``duration`` is display text), ``None`` while either is
  missing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from common.dolphin.models import TaskExecutionStatus
from history_sync.domain.executions import Execution

_SUCCESS = frozenset(s.value for s in TaskExecutionStatus if s.is_success)
_FINISHED = frozenset(s.value for s in TaskExecutionStatus if s.is_finished)


@dataclass(frozen=True, slots=True)
class TaskRun:
    """One task instance of a finished run, as stored."""

    workflow_id: int
    instance_id: int
    task_instance_id: int
    task_code: int
    task_name: str
    task_type: str | None
    state: str
    start_time: datetime | None
    end_time: datetime | None
    retry_times: int | None = None

    @property
    def duration_s(self) -> float | None:
        if self.start_time is None or self.end_time is None:
            return None
        return max(0.0, (self.end_time - self.start_time).total_seconds())

    @property
    def finished(self) -> bool:
        return self.state in _FINISHED

    @property
    def succeeded(self) -> bool:
        return self.state in _SUCCESS


@dataclass(frozen=True, slots=True)
class TaskRunCell:
    """The task in one of its workflow's last runs (newest first)."""

    instance_id: int
    #: the run's state (the workflow instance)
    run_state: str
    run_start_time: datetime | None
    #: the task's state in that run; ``None`` while the run is going (not read yet) or when the task was not in it
    state: str | None
    duration_s: float | None
    task_instance_id: int | None


@dataclass(frozen=True, slots=True)
class TaskMetrics:
    task_code: int
    #: the task's name in DS in its newest run (the platform name, or ``name [id]`` when names clash)
    task_name: str
    task_type: str | None
    runs: tuple[TaskRunCell, ...]
    finished: int
    succeeded: int
    success_rate: float | None
    p50_s: float | None
    p90_s: float | None


def needs_task_fetch(execution: Execution, fetched_run_times: int | None) -> bool:
    """Whether the task instances of ``execution`` must be read from DS: the run is finished and was not read at
    this attempt (``fetched_run_times``: the ``run_times`` it was read at, ``None`` never). A rerun of a finished
    instance keeps its id and increments ``run_times``: its tasks are read again once it has finished again."""
    if not execution.finished:
        return False
    return fetched_run_times is None or fetched_run_times != (execution.run_times or 0)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``0 < q <= 100``); ``None`` without values."""
    if not 0 < q <= 100:
        raise ValueError("q must be in (0, 100]")
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def task_metrics(executions: Sequence[Execution], runs: Iterable[TaskRun]) -> list[TaskMetrics]:
    """Per DS task code: its cells over ``executions`` (the workflow's cached last runs, newest first) and its
    statistics over its finished task instances among them. Tasks ordered by name, then code."""
    order = {e.instance_id: i for i, e in enumerate(executions)}
    by_code: dict[int, dict[int, TaskRun]] = {}
    for r in runs:
        if r.instance_id not in order:
            continue  # a run that left the last 10
        per_run = by_code.setdefault(r.task_code, {})
        current = per_run.get(r.instance_id)
        # a task retried inside one run has one instance per attempt in some DS versions: the latest counts
        if current is None or r.task_instance_id > current.task_instance_id:
            per_run[r.instance_id] = r
    out: list[TaskMetrics] = []
    for code, per_run in by_code.items():
        newest = min(per_run.values(), key=lambda r: order[r.instance_id])
        finished = [r for r in per_run.values() if r.finished]
        succeeded = [r for r in finished if r.succeeded]
        durations = [d for r in succeeded if (d := r.duration_s) is not None]
        out.append(
            TaskMetrics(
                task_code=code,
                task_name=newest.task_name,
                task_type=newest.task_type,
                runs=tuple(_cell(e, per_run.get(e.instance_id)) for e in executions),
                finished=len(finished),
                succeeded=len(succeeded),
                success_rate=len(succeeded) / len(finished) if finished else None,
                p50_s=percentile(durations, 50),
                p90_s=percentile(durations, 90),
            )
        )
    out.sort(key=lambda m: (m.task_name, m.task_code))
    return out


def _cell(e: Execution, r: TaskRun | None) -> TaskRunCell:
    return TaskRunCell(
        instance_id=e.instance_id,
        run_state=e.state,
        run_start_time=e.start_time,
        state=r.state if r else None,
        duration_s=r.duration_s if r else None,
        task_instance_id=r.task_instance_id if r else None,
    )
