"""An in-process cache of version snapshots, keyed by ``workflow_version.id``.

Versions are immutable, so an entry can never be stale: a cached id always maps to the snapshot stored under it
(an id from a rolled-back transaction is simply never asked for again). The cache saves reading and parsing a
large snapshot (about 1 MB for 2,000 tasks) on every edit of a workflow. Bounded by the total number of tasks held.
"""

from __future__ import annotations

from collections import OrderedDict

from common.workflow import StructureSnapshot


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
