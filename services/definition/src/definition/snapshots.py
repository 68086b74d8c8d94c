"""In-process caches: version snapshots keyed by ``workflow_version.id``, and validated catalog tasks.

Versions are immutable, so an entry can never be stale: a cached id always maps to the snapshot stored under it
(an id from a rolled-back transaction is simply never asked for again). The cache saves reading and parsing a
large snapshot (about 1 MB for 2,000 tasks) on every edit of a workflow. Bounded by the total number of tasks held.

``TaskMemo`` keeps, per task id, the catalog row content a ``SnapshotTask`` was validated from and that task: an edit
of a 2,000-task workflow re-reads its catalog rows, and a row whose content is exactly what was validated before gets
the same ``SnapshotTask`` object back instead of being validated again (validation is a pure function of the row, so
a hit can never be stale; a changed row is simply a miss). Reusing the objects also lets the diff and the relation
sync skip unchanged tasks by identity.

``EncodedSnapshot`` is a snapshot with its JSON kept in pieces (one per task, plus the edges), as the cache holds it
once a version was written or answered: the next version reuses the JSON of every task that is the same object
(``encode_snapshot``), and an answer with per-task additions (``WorkflowDetail``) is assembled from the pieces
instead of building and serialising 2,000 models again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, TypeAdapter

from common.workflow import Edge, SnapshotTask, StructureSnapshot

_TASKS = TypeAdapter(tuple[SnapshotTask, ...])
_EDGES = TypeAdapter(tuple[Edge, ...])
#: how every task's JSON starts, and the boundary between two tasks in a JSON array of tasks. Nothing else in a task
#: array can contain them: quotes inside JSON strings are escaped, and no object nested in a task has a
#: ``task_id`` key.
_TASK_HEAD = '{"task_id":'
_TASK_SEP = '},{"task_id":'


def fields_around(model: type[BaseModel], first: str, last: str) -> tuple[frozenset[str], frozenset[str]]:
    """The names of ``model``'s fields before ``first`` and after ``last`` (in declaration order)."""
    names = list(model.model_fields)
    return frozenset(names[: names.index(first)]), frozenset(names[names.index(last) + 1 :])


def dump_around(model: BaseModel, before: frozenset[str], middle: str, after: frozenset[str]) -> str:
    """``model``'s JSON with ``middle`` (the JSON of the fields in between, e.g. ``"tasks":[…],"edges":[…]``) in
    place of the fields that are neither ``before`` nor ``after``: field order and encoding are pydantic's own."""
    head = model.model_dump_json(include=set(before))[1:-1]
    tail = model.model_dump_json(include=set(after))[1:-1]
    return "{" + ",".join(p for p in (head, middle, tail) if p) + "}"


_SNAPSHOT_BEFORE, _SNAPSHOT_AFTER = fields_around(StructureSnapshot, "tasks", "edges")


def tasks_json(tasks: Sequence[SnapshotTask]) -> list[str]:
    """``[t.model_dump_json() for t in tasks]`` from ONE serialiser call (a quarter cheaper than one call per task for
    2,000 tasks): the JSON array of the tasks, split at the task boundaries."""
    if not tasks:
        return []
    raw = _TASKS.dump_json(tuple(tasks)).decode()
    parts = raw[len(_TASK_HEAD) + 1 : -2].split(_TASK_SEP)  # between '[{"task_id":' and '}]'
    if len(parts) != len(tasks):  # pragma: no cover - only if the serialiser's output format changed
        return [t.model_dump_json() for t in tasks]
    return [f"{_TASK_HEAD}{p}}}" for p in parts]


@dataclass(frozen=True, slots=True)
class EncodedSnapshot:
    """``snapshot`` with ``tasks[i] == snapshot.tasks[i].model_dump_json()`` and ``edges`` the JSON array of
    ``snapshot.edges``."""

    snapshot: StructureSnapshot
    tasks: tuple[str, ...]
    edges: str

    def json(self) -> str:
        """Exactly ``snapshot.model_dump_json()`` (the canonical JSON of a canonical snapshot)."""
        middle = f'"tasks":[{",".join(self.tasks)}],"edges":{self.edges}'
        return dump_around(self.snapshot, _SNAPSHOT_BEFORE, middle, _SNAPSHOT_AFTER)


def encode_snapshot(snapshot: StructureSnapshot, reuse: EncodedSnapshot | None = None) -> EncodedSnapshot:
    """Encode ``snapshot``; the JSON of a task that is the very object ``reuse`` holds for that task id is taken from
    ``reuse`` (models are frozen: the same object has the same JSON), the others are serialised in one call."""
    known: dict[int, tuple[SnapshotTask, str]] = {}
    if reuse is not None:
        known = {t.task_id: (t, j) for t, j in zip(reuse.snapshot.tasks, reuse.tasks, strict=True)}
    out: list[str | None] = []
    todo: list[SnapshotTask] = []
    for t in snapshot.tasks:
        hit = known.get(t.task_id)
        if hit is not None and hit[0] is t:
            out.append(hit[1])
        else:
            out.append(None)
            todo.append(t)
    fresh = iter(tasks_json(todo))
    return EncodedSnapshot(
        snapshot=snapshot,
        tasks=tuple(j if j is not None else next(fresh) for j in out),
        edges=_EDGES.dump_json(snapshot.edges).decode(),
    )


class SnapshotCache:
    """Snapshots by version id, each held plain or encoded (an encoded entry answers both ``get`` and
    ``get_encoded``; putting the encoded form of a held plain entry replaces it)."""

    def __init__(self, max_tasks: int = 20_000) -> None:
        self._max_tasks = max_tasks
        self._items: OrderedDict[int, StructureSnapshot | EncodedSnapshot] = OrderedDict()
        self._tasks = 0

    def _entry(self, version_id: int) -> StructureSnapshot | EncodedSnapshot | None:
        entry = self._items.get(version_id)
        if entry is not None:
            self._items.move_to_end(version_id)
        return entry

    def get(self, version_id: int) -> StructureSnapshot | None:
        entry = self._entry(version_id)
        return entry.snapshot if isinstance(entry, EncodedSnapshot) else entry

    def get_encoded(self, version_id: int) -> EncodedSnapshot | None:
        entry = self._entry(version_id)
        return entry if isinstance(entry, EncodedSnapshot) else None

    def put(self, version_id: int, snapshot: StructureSnapshot | EncodedSnapshot) -> None:
        plain = snapshot.snapshot if isinstance(snapshot, EncodedSnapshot) else snapshot
        size = len(plain.tasks) + 1
        if size > self._max_tasks:
            return
        held = self._items.get(version_id)
        if held is not None:
            if isinstance(snapshot, EncodedSnapshot) and not isinstance(held, EncodedSnapshot):
                self._items[version_id] = snapshot
            return
        self._items[version_id] = snapshot
        self._tasks += size
        while self._tasks > self._max_tasks:
            _, evicted = self._items.popitem(last=False)
            self._tasks -= len(evicted.snapshot.tasks if isinstance(evicted, EncodedSnapshot) else evicted.tasks) + 1

    def __len__(self) -> int:
        return len(self._items)


class TaskMemo:
    """``task_id -> (row content, SnapshotTask)``, least recently used out first."""

    def __init__(self, max_tasks: int = 20_000) -> None:
        self._max_tasks = max_tasks
        self._items: OrderedDict[int, tuple[object, SnapshotTask]] = OrderedDict()

    def get(self, task_id: int, content: object) -> SnapshotTask | None:
        """The task validated from exactly ``content`` (compared with ``==``), if held."""
        item = self._items.get(task_id)
        if item is None or item[0] != content:
            return None
        self._items.move_to_end(task_id)
        return item[1]

    def put(self, task_id: int, content: object, task: SnapshotTask) -> None:
        if self._max_tasks <= 0:
            return
        self._items[task_id] = (content, task)
        self._items.move_to_end(task_id)
        while len(self._items) > self._max_tasks:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
