"""Structural diff between two workflow versions (``workflow_version.change_summary``).

Public API
----------
``change_summary(old, new) -> ChangeSummary``
    ``old`` is ``None`` for the first version (everything in ``new`` counts as added, ``is_initial=True``).
    Snapshots need not be canonical. The result is a frozen pydantic model; store
    ``summary.model_dump(mode="json")`` and read it back with ``ChangeSummary.model_validate``.

What is compared:

* task ids added/removed, edges added/removed (as ``[upstream, downstream]`` pairs, sorted);
* for tasks in both versions, every changed field: ``name``, ``task_type``, ``description``, ``params.<field>``
  (e.g. ``params.sql``, ``params.local_params``) and ``node_attrs.<field>`` (e.g. ``node_attrs.retries``), each with
  its old and new JSON value;
* the schedule (``added`` | ``removed`` | ``changed``, old and new);
* global params by name (added/removed/changed);
* workflow-level fields: ``workflow_name``, ``description``, ``execution_type``, ``timeout_minutes``;
* DEPENDENT links to other workflows' tasks (issue 20), by upstream task id (added/removed/changed, the whole link as
  old and new); left out of the JSON when they did not change, so summaries without links keep their shape.

``entry_task_ids``/``exit_task_ids`` are derived from the edges and not reported separately. ``summary`` is a short
human text such as ``"+2 tasks, −1 edge, schedule changed"``.

Speed: tasks are compared with model equality first and dumped to JSON only when they differ, so the diff of two
2,000-task versions costs a few milliseconds.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from common.workflow import Param, Schedule, SnapshotTask, StructureSnapshot

__all__ = [
    "ChangeSummary",
    "FieldChange",
    "GlobalParamsChange",
    "LinksChange",
    "ScheduleChange",
    "TaskChange",
    "change_summary",
]

_WORKFLOW_FIELDS = ("workflow_name", "description", "execution_type", "timeout_minutes")
_TASK_FIELDS = ("name", "task_type", "description")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class FieldChange(_Model):
    """One changed field; ``old``/``new`` are JSON values (``None`` when a field is absent on one side)."""

    field: str
    old: JsonValue = None
    new: JsonValue = None


class TaskChange(_Model):
    task_id: int
    changes: tuple[FieldChange, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(c.field for c in self.changes)


class ScheduleChange(_Model):
    kind: Literal["added", "removed", "changed"]
    old: Schedule | None = None
    new: Schedule | None = None


class GlobalParamsChange(_Model):
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[FieldChange, ...] = ()  # field = param name; old/new = the whole param


class LinksChange(_Model):
    """DEPENDENT links by upstream task id."""

    added: tuple[int, ...] = ()
    removed: tuple[int, ...] = ()
    changed: tuple[FieldChange, ...] = ()  # field = the upstream task id; old/new = the whole link


class ChangeSummary(_Model):
    """The structural difference from one version to the next."""

    is_initial: bool = False
    tasks_added: tuple[int, ...] = ()
    tasks_removed: tuple[int, ...] = ()
    #: removed tasks that are now in no workflow (every removal but a migration's, whose tasks move on)
    tasks_unassigned: tuple[int, ...] = ()
    edges_added: tuple[tuple[int, int], ...] = ()
    edges_removed: tuple[tuple[int, int], ...] = ()
    tasks_changed: tuple[TaskChange, ...] = ()
    schedule: ScheduleChange | None = None
    global_params: GlobalParamsChange | None = None
    workflow_fields: tuple[FieldChange, ...] = ()
    dependent_links: LinksChange | None = Field(default=None, exclude_if=lambda v: v is None)
    summary: str = "no changes"

    @property
    def is_empty(self) -> bool:
        """True when nothing structural changed (an initial version is never empty)."""
        return not (
            self.is_initial
            or self.tasks_added
            or self.tasks_removed
            or self.edges_added
            or self.edges_removed
            or self.tasks_changed
            or self.schedule
            or self.global_params
            or self.workflow_fields
            or self.dependent_links
        )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _dict_diff(prefix: str, old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange]:
    out: list[FieldChange] = []
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        if a != b:
            out.append(FieldChange(field=f"{prefix}{key}", old=a, new=b))
    return out


def _task_changes(a: SnapshotTask, b: SnapshotTask) -> list[FieldChange]:
    out: list[FieldChange] = []
    for f in _TASK_FIELDS:
        va, vb = getattr(a, f), getattr(b, f)
        if va != vb:
            out.append(FieldChange(field=f, old=str(va), new=str(vb)))
    if a.params != b.params:
        out.extend(_dict_diff("params.", a.params.model_dump(mode="json"), b.params.model_dump(mode="json")))
    if a.node_attrs != b.node_attrs:
        out.extend(
            _dict_diff("node_attrs.", a.node_attrs.model_dump(mode="json"), b.node_attrs.model_dump(mode="json"))
        )
    return out


def _edge_set(s: StructureSnapshot) -> set[tuple[int, int]]:
    return {(e.upstream_task_id, e.downstream_task_id) for e in s.edges}


def _keyed_change(
    a: dict[Any, BaseModel], b: dict[Any, BaseModel]
) -> tuple[tuple[Any, ...], tuple[Any, ...], tuple[FieldChange, ...]]:
    """``(added, removed, changed)`` keys of two keyed sets of models; a change carries both models as JSON."""
    changed = tuple(
        FieldChange(field=str(k), old=a[k].model_dump(mode="json"), new=b[k].model_dump(mode="json"))
        for k in sorted(a.keys() & b.keys())
        if a[k] != b[k]
    )
    return tuple(sorted(b.keys() - a.keys())), tuple(sorted(a.keys() - b.keys())), changed


def _params_change(old: tuple[Param, ...], new: tuple[Param, ...]) -> GlobalParamsChange | None:
    added, removed, changed = _keyed_change({p.name: p for p in old}, {p.name: p for p in new})
    if not (added or removed or changed):
        return None
    return GlobalParamsChange(added=added, removed=removed, changed=changed)


def _links_change(old: StructureSnapshot, new: StructureSnapshot) -> LinksChange | None:
    added, removed, changed = _keyed_change(
        {d.upstream_task_id: d for d in old.external_dependencies},
        {d.upstream_task_id: d for d in new.external_dependencies},
    )
    if not (added or removed or changed):
        return None
    return LinksChange(added=added, removed=removed, changed=changed)


def _schedule_change(old: Schedule | None, new: Schedule | None) -> ScheduleChange | None:
    if old == new:
        return None
    if old is None:
        return ScheduleChange(kind="added", new=new)
    if new is None:
        return ScheduleChange(kind="removed", old=old)
    return ScheduleChange(kind="changed", old=old, new=new)


def _summary_text(c: ChangeSummary, new: StructureSnapshot) -> str:
    if c.is_initial:
        return f"initial version: {_plural(len(new.tasks), 'task')}, {_plural(len(new.edges), 'edge')}"
    parts: list[str] = []
    if c.tasks_added:
        parts.append(f"+{_plural(len(c.tasks_added), 'task')}")
    if c.tasks_removed:
        parts.append(f"−{_plural(len(c.tasks_removed), 'task')}")
    if c.tasks_unassigned:
        parts.append(f"tasks {', '.join(map(str, c.tasks_unassigned))} now in no workflow")
    if c.edges_added:
        parts.append(f"+{_plural(len(c.edges_added), 'edge')}")
    if c.edges_removed:
        parts.append(f"−{_plural(len(c.edges_removed), 'edge')}")
    if c.tasks_changed:
        parts.append(f"{_plural(len(c.tasks_changed), 'task')} modified")
    if c.schedule:
        parts.append(f"schedule {c.schedule.kind}")
    if c.global_params:
        parts.append("global params changed")
    for f in c.workflow_fields:
        parts.append(f"{f.field.replace('_', ' ')} changed")
    if c.dependent_links:
        links = c.dependent_links
        if links.added:
            parts.append(f"+{_plural(len(links.added), 'DEPENDENT link')}")
        if links.removed:
            parts.append(f"−{_plural(len(links.removed), 'DEPENDENT link')}")
        if links.changed:
            parts.append(f"{_plural(len(links.changed), 'DEPENDENT link')} changed")
    return ", ".join(parts) if parts else "no changes"


def change_summary(
    old: StructureSnapshot | None, new: StructureSnapshot, *, removed_leave: bool = False
) -> ChangeSummary:
    """The diff from ``old`` (``None`` = no previous version) to ``new``. ``removed_leave``: the removed tasks are
    now in no workflow (``tasks_unassigned``; any change but a migration)."""
    if old is None:
        initial = ChangeSummary(
            is_initial=True,
            tasks_added=tuple(sorted(t.task_id for t in new.tasks)),
            edges_added=tuple(sorted(_edge_set(new))),
            schedule=_schedule_change(None, new.schedule),
            global_params=_params_change((), new.global_params),
            dependent_links=LinksChange(added=tuple(sorted(d.upstream_task_id for d in new.external_dependencies)))
            if new.external_dependencies
            else None,
        )
        return initial.model_copy(update={"summary": _summary_text(initial, new)})

    a = {t.task_id: t for t in old.tasks}
    b = {t.task_id: t for t in new.tasks}
    ea, eb = _edge_set(old), _edge_set(new)
    changed: list[TaskChange] = []
    for tid in sorted(a.keys() & b.keys()):
        ta, tb = a[tid], b[tid]
        if ta is not tb and ta != tb:
            fields = _task_changes(ta, tb)
            if fields:
                changed.append(TaskChange(task_id=tid, changes=tuple(fields)))
    wf: list[FieldChange] = []
    for f in _WORKFLOW_FIELDS:
        va, vb = getattr(old, f), getattr(new, f)
        if va != vb:
            wf.append(
                FieldChange(
                    field=f, old=va if isinstance(va, int) else str(va), new=vb if isinstance(vb, int) else str(vb)
                )
            )
    removed = tuple(sorted(a.keys() - b.keys()))
    result = ChangeSummary(
        tasks_added=tuple(sorted(b.keys() - a.keys())),
        tasks_removed=removed,
        tasks_unassigned=removed if removed_leave else (),
        edges_added=tuple(sorted(eb - ea)),
        edges_removed=tuple(sorted(ea - eb)),
        tasks_changed=tuple(changed),
        schedule=_schedule_change(old.schedule, new.schedule),
        global_params=_params_change(old.global_params, new.global_params),
        workflow_fields=tuple(wf),
        dependent_links=_links_change(old, new) if old.external_dependencies or new.external_dependencies else None,
    )
    return result.model_copy(update={"summary": _summary_text(result, new)})
