"""In-process caches: version snapshots keyed by ``workflow_version.id``, and validated catalog tasks.

Versions are immutable, so an entry can never be stale: a cached id always maps to the snapshot stored under it
(an id from a rolled-back transaction is simply never asked for again). The cache saves reading and parsing a
large snapshot (about 1 MB for 2,000 tasks) on every edit of a workflow. Bounded by the total number of tasks held.

``TaskMemo`` keeps, per task id, the catalog row content a ``SnapshotTask`` was validated from and that task: an edit
of a 2,000-task workflow re-reads its catalog rows, and a row whose content is exactly what was validated before gets
the same ``SnapshotTask`` object back instead of being validated again (validation is a pure function of the row, so
a hit can never be stale; a changed row is simply a miss). Reusing the objects also lets the diff and the relation
sync skip unchanged tasks by identity.
"""

from __future__ import annotations

from collections import OrderedDict

from common.workflow import SnapshotTask, StructureSnapshot


class SnapshotCache:
    def __init__(self, max_tasks: int = 20_000) -> None:
        self._max_tasks = max_tasks
        self._items: OrderedDict[int, StructureSnapshot] = OrderedDict()
        self._tasks = 0

    def get(self, version_id: int) -> StructureSnapshot | None:
        snapshot = self._items.get(version_id)
        if snapshot is not None:
            self._items.move_to_end(version_id)
        return snapshot

    def put(self, version_id: int, snapshot: StructureSnapshot) -> None:
        size = len(snapshot.tasks) + 1
        if size > self._max_tasks or version_id in self._items:
            return
        self._items[version_id] = snapshot
        self._tasks += size
        while self._tasks > self._max_tasks:
            _, evicted = self._items.popitem(last=False)
            self._tasks -= len(evicted.tasks) + 1

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
