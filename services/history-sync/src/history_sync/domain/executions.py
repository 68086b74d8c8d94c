"""The last executions of a workflow: DS instances as we cache them, the top-10 rule and change detection."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from common.dolphin.models import WorkflowExecutionStatus

#: how many executions are kept per workflow (DESIGN §4 flow 5)
KEEP_LAST = 10

#: DS CommandType names that mean "started by the scheduler"
SCHEDULED_COMMANDS = frozenset({"SCHEDULER"})


@dataclass(frozen=True, slots=True)
class Execution:
    """One workflow instance as cached (``rank`` 0 is the newest, DS order)."""

    instance_id: int
    state: str
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration: str | None = None
    #: ``manual`` or ``scheduled``
    command_type: str = "manual"
    #: the DS CommandType name (START_PROCESS, SCHEDULER, COMPLEMENT_DATA, …)
    ds_command_type: str | None = None
    run_times: int | None = None
    host: str | None = None
    engine_version: int | None = None
    platform_version_id: int | None = None

    @property
    def finished(self) -> bool:
        return is_finished(self.state)

    @property
    def failed(self) -> bool:
        return self.state == WorkflowExecutionStatus.FAILURE.value

    @property
    def succeeded(self) -> bool:
        return self.state == WorkflowExecutionStatus.SUCCESS.value


#: the final states by name (what ``WorkflowExecutionStatus.is_finished`` says), for a set lookup per execution
_FINISHED = frozenset(s.value for s in WorkflowExecutionStatus if s.is_finished)


def is_finished(state: str) -> bool:
    return state in _FINISHED


def trigger_of(ds_command_type: str | None, schedule_time: datetime | None) -> str:
    """``scheduled`` for scheduler-fired runs, ``manual`` for everything a person started (runs, reruns,
    backfills). Without a command type, a schedule time means the scheduler fired it."""
    if ds_command_type is not None:
        return "scheduled" if ds_command_type in SCHEDULED_COMMANDS else "manual"
    return "scheduled" if schedule_time is not None else "manual"


def latest_executions(fetched: Iterable[Execution], keep: int = KEEP_LAST) -> list[Execution]:
    """What the cache holds after a fetch: the DS page in DS order (newest first), without duplicate ids, at most
    ``keep``. DS is the truth: an instance that is no longer among DS's newest leaves the cache."""
    out: list[Execution] = []
    seen: set[int] = set()
    for e in fetched:
        if e.instance_id in seen:
            continue
        seen.add(e.instance_id)
        out.append(e)
        if len(out) == keep:
            break
    return out


def _signature(e: Execution) -> tuple[object, ...]:
    # the duration of a running instance grows at every read; only a finished one's duration is a change
    return (
        e.instance_id,
        e.state,
        e.start_time,
        e.end_time,
        e.duration if e.finished else None,
        e.command_type,
        e.ds_command_type,
        e.run_times,
        e.host,
        e.engine_version,
        e.platform_version_id,
    )


@dataclass(frozen=True)
class Changes:
    changed: bool
    added: tuple[int, ...] = ()
    removed: tuple[int, ...] = ()
    updated: tuple[int, ...] = ()
    #: instances newly seen as FAILURE, or newly turned FAILURE (including a failed rerun), oldest first
    new_failures: tuple[Execution, ...] = ()


def detect_changes(old: Sequence[Execution], new: Sequence[Execution]) -> Changes:
    """Compare the cached list with the new one (both in DS order)."""
    if len(old) == len(new) and all(a == b for a, b in zip(old, new, strict=True)):
        # the steady state: field for field the same (so every signature too), nothing added, removed or failed
        return Changes(False)
    before = {e.instance_id: e for e in old}
    after_ids = {e.instance_id for e in new}
    added = tuple(e.instance_id for e in new if e.instance_id not in before)
    removed = tuple(e.instance_id for e in old if e.instance_id not in after_ids)
    updated = tuple(
        e.instance_id for e in new if e.instance_id in before and _signature(before[e.instance_id]) != _signature(e)
    )
    changed = [_signature(e) for e in old] != [_signature(e) for e in new]
    failures: list[Execution] = []
    for e in new:
        if not e.failed:
            continue
        prev = before.get(e.instance_id)
        if prev is None or not prev.failed or (prev.run_times or 0) != (e.run_times or 0):
            failures.append(e)
    failures.reverse()
    return Changes(changed, added, removed, updated, tuple(failures))
