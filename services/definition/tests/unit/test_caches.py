"""The in-process caches of ``definition.snapshots``."""

from __future__ import annotations

from common.workflow import NodeAttrs, SnapshotTask
from definition.snapshots import TaskMemo


def _task(task_id: int, script: str = "echo") -> SnapshotTask:
    return SnapshotTask(
        task_id=task_id, name=f"t{task_id}", task_type="SHELL", params={"kind": "SHELL", "script": script}
    )


def test_task_memo_hits_only_on_identical_row_content() -> None:
    memo = TaskMemo(max_tasks=10)
    content = ("t1", "SHELL", "", {"kind": "SHELL", "script": "echo"})
    task = _task(1)
    memo.put(1, content, task)
    assert memo.get(1, ("t1", "SHELL", "", {"kind": "SHELL", "script": "echo"})) is task
    assert memo.get(1, ("t1", "SHELL", "", {"kind": "SHELL", "script": "echo 2"})) is None
    assert memo.get(1, ("renamed", "SHELL", "", {"kind": "SHELL", "script": "echo"})) is None
    assert memo.get(2, content) is None


def test_task_memo_evicts_least_recently_used() -> None:
    memo = TaskMemo(max_tasks=2)
    for i in (1, 2):
        memo.put(i, i, _task(i))
    assert memo.get(1, 1) is not None  # 1 is now the most recently used
    memo.put(3, 3, _task(3).model_copy(update={"node_attrs": NodeAttrs(retries=2)}))
    assert len(memo) == 2
    assert memo.get(2, 2) is None
    assert memo.get(1, 1) is not None
    assert memo.get(3, 3) is not None


def test_task_memo_disabled() -> None:
    memo = TaskMemo(max_tasks=0)
    memo.put(1, 1, _task(1))
    assert memo.get(1, 1) is None
