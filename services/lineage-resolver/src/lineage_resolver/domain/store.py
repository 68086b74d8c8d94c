"""The port the lineage logic runs against.

Every read is batched (a collection in, a mapping out) so a PostgreSQL adapter answers each with one indexed query
that loads only the rows asked for; the domain asks level by level, never row by row. Mappings omit keys that have
nothing (a table nobody reads is simply absent). Returned sets must not be mutated by callers.

Writes follow the tables: ``set_task_tables`` replaces a task's rows in ``table_task_relation`` (both sets empty =
delete them), ``put_dependency_view_rows`` upserts ``task_dependency_view`` rows (an empty row = delete it). Writes
only flush; the use case's transaction commits.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Set
from typing import Protocol

from .model import DependencyRow, TableEdge, TableName, TaskId, TaskTables


class LineageReader(Protocol):
    def tables_of(self, task_ids: Collection[TaskId]) -> Mapping[TaskId, TaskTables]:
        """Read and write tables of each task that has any relation."""
        ...

    def readers_of(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TaskId]]:
        """Tasks reading each table (tables with no reader omitted)."""
        ...

    def writers_of(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TaskId]]:
        """Tasks writing each table (tables with no writer omitted)."""
        ...

    def lineage_targets(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TableName]]:
        """Direct downstream tables of each table in ``data_lineage``."""
        ...

    def lineage_sources(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TableName]]:
        """Direct upstream tables of each table in ``data_lineage``."""
        ...

    def dependency_rows(self, task_ids: Collection[TaskId]) -> Mapping[TaskId, DependencyRow]:
        """Stored ``task_dependency_view`` rows (tasks without a row omitted)."""
        ...


class LineageStore(LineageReader, Protocol):
    def set_task_tables(self, tables: TaskTables) -> None: ...

    def add_table_lineage(self, edges: Collection[TableEdge]) -> None: ...

    def remove_table_lineage(self, edges: Collection[TableEdge]) -> None: ...

    def put_dependency_view_rows(self, rows: Collection[DependencyRow]) -> None: ...

    def iter_task_tables(self) -> Iterator[TaskTables]:
        """Every task with relations (full scan, for rebuilds)."""
        ...

    def iter_table_lineage(self) -> Iterator[TableEdge]:
        """Every table lineage edge (full scan, for rebuilds)."""
        ...

    def iter_dependency_rows(self) -> Iterator[DependencyRow]:
        """Every stored view row (full scan, for rebuild checks)."""
        ...
