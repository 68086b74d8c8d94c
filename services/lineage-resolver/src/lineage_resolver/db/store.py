"""``PostgresLineageStore``: the domain's synchronous ``LineageStore`` port over the async repository.

The domain planner is synchronous (it asks the port level by level); the service is async (asyncpg). The planner runs
in a worker thread (``anyio.to_thread.run_sync``) and every port call hops back to the event loop with a blocking
runner (``anyio.from_thread.run`` in the service, ``BlockingPortal.call`` in tests and the CLI) to run one batched
query on the use case's own ``AsyncSession``, so everything stays in the caller's single transaction. Only the worker
thread drives the session while the use case awaits it, so the session is never used concurrently, and the event
loop keeps serving other work while the planner computes.

Full scans (``iter_*``) are keyset-paged, one page per hop, so a rebuild never holds a whole table in one result.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Coroutine, Iterator, Mapping, Set
from functools import partial
from typing import Any, Protocol, TypeVar

from lineage_resolver.db.repository import LineageRepository
from lineage_resolver.domain import DependencyRow, TableEdge, TableName, TaskId, TaskTables

T = TypeVar("T")


class BlockingRunner(Protocol):
    """Runs an async function on the event loop from a worker thread and returns its result."""

    def __call__(self, func: Callable[[], Coroutine[Any, Any, T]], /) -> T: ...


class PostgresLineageStore:
    def __init__(self, repository: LineageRepository, run: BlockingRunner, *, page_size: int = 5000) -> None:
        self._repo = repository
        self._run = run
        self._page = page_size

    # -- reads -------------------------------------------------------------------------------------------------
    def tables_of(self, task_ids: Collection[TaskId]) -> Mapping[TaskId, TaskTables]:
        return self._run(partial(self._repo.tables_of, list(task_ids)))

    def readers_of(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TaskId]]:
        return self._run(partial(self._repo.readers_of, list(tables)))

    def writers_of(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TaskId]]:
        return self._run(partial(self._repo.writers_of, list(tables)))

    def lineage_targets(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TableName]]:
        return self._run(partial(self._repo.lineage_targets, list(tables)))

    def lineage_sources(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TableName]]:
        return self._run(partial(self._repo.lineage_sources, list(tables)))

    def dependency_rows(self, task_ids: Collection[TaskId]) -> Mapping[TaskId, DependencyRow]:
        return self._run(partial(self._repo.dependency_rows, list(task_ids)))

    # -- writes (flush only; the use case's transaction commits) -------------------------------------------------
    def set_task_tables(self, tables: TaskTables) -> None:
        self._run(partial(self._repo.set_task_tables, tables))

    def add_table_lineage(self, edges: Collection[TableEdge]) -> None:
        self._run(partial(self._repo.add_table_lineage, list(edges)))

    def remove_table_lineage(self, edges: Collection[TableEdge]) -> None:
        self._run(partial(self._repo.remove_table_lineage, list(edges)))

    def put_dependency_view_rows(self, rows: Collection[DependencyRow]) -> None:
        self._run(partial(self._repo.put_dependency_view_rows, list(rows)))

    # -- scans -------------------------------------------------------------------------------------------------
    def iter_task_tables(self) -> Iterator[TaskTables]:
        after: TaskId | None = None
        while True:
            page, after = self._run(partial(self._repo.task_tables_page, after, self._page))
            yield from page
            if after is None:
                return

    def iter_table_lineage(self) -> Iterator[TableEdge]:
        after: TableEdge | None = None
        while True:
            page = self._run(partial(self._repo.table_lineage_page, after, self._page))
            yield from page
            if len(page) < self._page:
                return
            after = page[-1]

    def iter_dependency_rows(self) -> Iterator[DependencyRow]:
        after: TaskId | None = None
        while True:
            page = self._run(partial(self._repo.dependency_rows_page, after, self._page))
            yield from page
            if len(page) < self._page:
                return
            after = page[-1].task_id
