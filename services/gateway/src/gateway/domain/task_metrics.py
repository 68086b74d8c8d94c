"""Which of history-sync's per-DS-task metrics are a platform task's.

history-sync keys task metrics by DS task code (what DS's task instances carry), with the task's DS name in its
newest run. A task row that carries its ``ds_task_code`` is matched by code. Without it, by name: the publisher names
a DS task after the platform task, ``name [id]`` when two tasks of a workflow share a name. A renamed task matches
again once the new name was published and run; among several DS tasks of the same name (a task deleted and another
created under its name) the one with the newest run wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Json = dict[str, Any]


def _newest_run(metrics: Json) -> int:
    """Position of the newest run the task took part in (0 = the workflow's newest run)."""
    runs = metrics.get("runs") or []
    return next((i for i, c in enumerate(runs) if c.get("state") is not None), len(runs))


def metrics_of_task(task: Mapping[str, Any], workflow: Mapping[str, Any] | None) -> Json | None:
    """The entry of ``workflow`` (one workflow of history-sync's answer) that is ``task``'s, or ``None``."""
    if workflow is None:
        return None
    entries: list[Json] = [e for e in workflow.get("tasks") or () if isinstance(e, dict)]
    code = task.get("ds_task_code")
    if isinstance(code, int):
        return next((e for e in entries if e.get("task_code") == code), None)
    names = {task.get("name"), f"{task.get('name')} [{task.get('id')}]"}
    matches = [e for e in entries if e.get("task_name") in names]
    return min(matches, key=_newest_run) if matches else None
