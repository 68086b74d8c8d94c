"""Errors raised by the definition domain. All derive from ``common.errors`` so one place maps them to HTTP problem
JSON (status, code) and Kafka consumers send them to the DLQ without retrying.

Every error carries structured ``extras`` (rendered into the problem JSON). The ``errors`` extra of the
``ValidationFailed`` subclasses is always a list of JSON objects, each with at least ``code`` and ``message``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from common.errors import Conflict, InvalidTransition, ValidationFailed
from definition.domain.enums import MIGRATION_MODES

__all__ = [
    "InvalidSchedule",
    "InvalidTransition",
    "InvalidWorkflowStructure",
    "MigrationEmptiesWorkflow",
    "MigrationNotPossible",
    "PublishNotAllowed",
    "TaskOwnedByAnotherWorkflow",
]


def _summarise(problems: Sequence[dict[str, Any]], limit: int = 5) -> str:
    shown = "; ".join(str(p["message"]) for p in problems[:limit])
    more = len(problems) - limit
    return shown + (f"; and {more} more" if more > 0 else "")


class InvalidWorkflowStructure(ValidationFailed):
    """The DAG (task list + edges) is invalid. ``extras["errors"]`` lists every problem found, e.g.
    ``{"code": "cycle", "path": [3, 7, 9, 3], "message": "..."}``. Problem codes: ``empty_dag``, ``duplicate_task``,
    ``unknown_task``, ``self_loop``, ``duplicate_edge``, ``edge_task_not_in_workflow``, ``cycle``,
    ``node_attrs_for_unknown_task``, ``duplicate_param``, ``task_not_in_catalog``, ``condition_task_not_upstream`` and
    ``branch_target_not_downstream`` (a CONDITIONS or SWITCH task's ``field``, e.g. ``params.success_task_ids``,
    ``params.cases``)."""

    code = "invalid-workflow-structure"
    title = "Invalid workflow structure"

    def __init__(self, problems: Sequence[dict[str, Any]]) -> None:
        n = len(problems)
        super().__init__(
            f"workflow structure is invalid ({n} problem{'s' if n != 1 else ''}): {_summarise(problems)}",
            errors=list(problems),
        )
        self.problems: list[dict[str, Any]] = list(problems)


class InvalidSchedule(ValidationFailed):
    """The schedule (Quartz cron, timezone, start/end) is invalid. ``extras["errors"]`` items have ``code``
    (``cron_syntax``, ``cron_field``, ``cron_day_fields``, ``cron_never_fires``, ``timezone``, ``time_range``),
    ``message`` and, for cron problems, ``field`` and ``token``."""

    code = "invalid-schedule"
    title = "Invalid schedule"

    def __init__(self, problems: Sequence[dict[str, Any]]) -> None:
        super().__init__(f"schedule is invalid: {_summarise(problems)}", errors=list(problems))
        self.problems: list[dict[str, Any]] = list(problems)


class TaskOwnedByAnotherWorkflow(Conflict):
    """Some tasks already belong to another workflow (a task belongs to exactly one). The caller can move them with
    ``reassignTask`` in one of the ``migration_modes``. Extras: ``tasks`` = ``[{task_id, owner_workflow_id}]``,
    ``owner_workflow_ids``, ``migration_modes``."""

    code = "task-owned-by-another-workflow"
    title = "Task belongs to another workflow"

    def __init__(self, conflicts: Sequence[tuple[int, int]]) -> None:
        tasks = [{"task_id": t, "owner_workflow_id": w} for t, w in conflicts]
        owners = sorted({w for _, w in conflicts})
        listed = ", ".join(f"task {t} → workflow {w}" for t, w in conflicts[:10])
        more = f" and {len(conflicts) - 10} more" if len(conflicts) > 10 else ""
        modes = " | ".join(MIGRATION_MODES)
        super().__init__(
            f"{len(conflicts)} task(s) belong to another workflow ({listed}{more}); "
            f"migrate them first with one of the modes {modes}",
            tasks=tasks,
            owner_workflow_ids=owners,
            migration_modes=[str(m) for m in MIGRATION_MODES],
        )


class MigrationNotPossible(ValidationFailed):
    """A ``reassignTask`` request that can never succeed as given (task not in the source workflow, same source
    and target, task already in the target, ...). ``extras["errors"]`` as for the other validation errors."""

    code = "migration-not-possible"
    title = "Migration not possible"

    def __init__(self, problems: Sequence[dict[str, Any]]) -> None:
        super().__init__(f"migration is not possible: {_summarise(problems)}", errors=list(problems))


class MigrationEmptiesWorkflow(Conflict):
    """The migration would move every task out of the source workflow. Rejected unless the caller confirms with
    ``allow_empty_source=True``. Extras: ``source_workflow_id``, ``moved_task_ids``."""

    code = "migration-empties-workflow"
    title = "Migration would empty the workflow"

    def __init__(self, source_workflow_id: int, moved_task_ids: Sequence[int]) -> None:
        super().__init__(
            f"moving {len(moved_task_ids)} task(s) would leave workflow {source_workflow_id} without tasks; "
            "confirm explicitly to allow an empty source workflow",
            source_workflow_id=source_workflow_id,
            moved_task_ids=list(moved_task_ids),
        )


class PublishNotAllowed(Conflict):
    """A publish operation (deploy | online | offline) is not allowed in the workflow's current state.
    Extras: ``operation``, ``status``, ``reason`` (machine code), ``allowed_operations``."""

    code = "publish-not-allowed"
    title = "Publish not allowed"
