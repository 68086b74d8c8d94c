"""Every query of the lineage-resolver (async, on the caller's session; flushes, never commits).

Batched reads take a collection and run one statement with ``= ANY($1)`` (one prepared statement whatever the batch
size). Writes follow the domain port: ``set_task_tables`` replaces one task's relation rows (only the rows that
change are deleted or inserted), ``put_dependency_view_rows`` upserts view rows and deletes empty ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Text, and_, any_, bindparam, delete, func, literal, not_, or_, select, text, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lineage_resolver.db.tables import data_lineage, table_task_relation, task_dependency_edge, task_dependency_view
from lineage_resolver.domain import DependencyRow, RelationKind, TableEdge, TableName, TaskId, TaskTables

_BIGINTS = ARRAY(BigInteger)
_TEXTS = ARRAY(Text)
_NO_TABLES: frozenset[TableName] = frozenset()
_READ = RelationKind.READ.value
_WRITE = RelationKind.WRITE.value


#: upsert of view rows from parallel arrays: ids, and each row's upstream/downstream ids as array literals
_UPSERT_VIEW_ROWS = text(
    """
    INSERT INTO task_dependency_view AS v
        (task_id, upstream_task_ids, downstream_task_ids, upstream_count, downstream_count)
    SELECT r.task_id, r.ups::bigint[], r.downs::bigint[], r.up_count, r.down_count
    FROM unnest(
        CAST(:ids AS bigint[]), CAST(:ups AS text[]), CAST(:downs AS text[]),
        CAST(:up_counts AS integer[]), CAST(:down_counts AS integer[])
    ) AS r(task_id, ups, downs, up_count, down_count)
    ON CONFLICT (task_id) DO UPDATE SET
        upstream_task_ids = excluded.upstream_task_ids,
        downstream_task_ids = excluded.downstream_task_ids,
        upstream_count = excluded.upstream_count,
        downstream_count = excluded.downstream_count,
        updated_at = now()
    """
)


#: while on (transaction-local), the view's edge triggers leave ``task_dependency_edge`` to the caller
_EDGES_FROM_CALLER = text("SELECT set_config('lineage.edges_from_caller', :on, true)")
_DELETE_EDGES = text(
    "DELETE FROM task_dependency_edge e USING unnest(CAST(:ups AS bigint[]), CAST(:downs AS bigint[])) AS g(up, down) "
    "WHERE e.upstream_task_id = g.up AND e.downstream_task_id = g.down"
)
_INSERT_EDGES = text(
    "INSERT INTO task_dependency_edge (upstream_task_id, downstream_task_id) "
    "SELECT * FROM unnest(CAST(:ups AS bigint[]), CAST(:downs AS bigint[])) ON CONFLICT DO NOTHING"
)


def _array_literal(ids: Iterable[int]) -> str:
    return "{" + ",".join(map(str, sorted(ids))) + "}"


@dataclass(frozen=True, slots=True)
class ViewRecord:
    """A ``task_dependency_view`` row as stored (with its timestamp), for the HTTP API."""

    task_id: TaskId
    upstream: tuple[TaskId, ...]
    downstream: tuple[TaskId, ...]
    updated_at: datetime


def _ids(values: Iterable[int]) -> list[int]:
    return sorted(set(values))


def _names(values: Iterable[str]) -> list[str]:
    return sorted(set(values))


class LineageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- reads of the domain port ----------------------------------------------------------------------------
    async def tables_of(self, task_ids: Collection[TaskId]) -> dict[TaskId, TaskTables]:
        if not task_ids:
            return {}
        r = table_task_relation.c
        # one row per task (arrays aggregated in PostgreSQL): a hub's readers are thousands of tasks
        rows = await self.session.execute(
            select(
                r.task_id,
                func.array_agg(r.table_name).filter(r.relation_type == _READ),
                func.array_agg(r.table_name).filter(r.relation_type == _WRITE),
            )
            .where(r.task_id == any_(bindparam("ids", _ids(task_ids), type_=_BIGINTS)))
            .group_by(r.task_id)
        )
        return {
            t: TaskTables(t, frozenset(reads) if reads else _NO_TABLES, frozenset(writes) if writes else _NO_TABLES)
            for t, reads, writes in rows
        }

    async def readers_of(self, tables: Collection[TableName]) -> dict[TableName, set[TaskId]]:
        return await self._tasks_by_table(tables, _READ)

    async def writers_of(self, tables: Collection[TableName]) -> dict[TableName, set[TaskId]]:
        return await self._tasks_by_table(tables, _WRITE)

    async def _tasks_by_table(self, tables: Collection[TableName], kind: str) -> dict[TableName, set[TaskId]]:
        if not tables:
            return {}
        r = table_task_relation.c
        # one row per table with its task ids aggregated in PostgreSQL (an index-only scan in index order): a hub
        # table's 10-20k readers come back as one array instead of 10-20k result rows
        rows = await self.session.execute(
            select(r.table_name, func.array_agg(r.task_id))
            .where(
                r.table_name == any_(bindparam("tables", _names(tables), type_=_TEXTS)),
                r.relation_type == kind,
            )
            .group_by(r.table_name)
        )
        return {table: set(task_ids) for table, task_ids in rows}

    async def lineage_targets(self, tables: Collection[TableName]) -> dict[TableName, set[TableName]]:
        return await self._lineage(tables, forward=True)

    async def lineage_sources(self, tables: Collection[TableName]) -> dict[TableName, set[TableName]]:
        return await self._lineage(tables, forward=False)

    async def _lineage(self, tables: Collection[TableName], *, forward: bool) -> dict[TableName, set[TableName]]:
        if not tables:
            return {}
        c = data_lineage.c
        key, other = (c.source_table, c.target_table) if forward else (c.target_table, c.source_table)
        rows = await self.session.execute(
            select(key, other).where(key == any_(bindparam("tables", _names(tables), type_=_TEXTS)))
        )
        out: dict[TableName, set[TableName]] = defaultdict(set)
        for k, o in rows:
            out[k].add(o)
        return dict(out)

    async def dependency_rows(self, task_ids: Collection[TaskId]) -> dict[TaskId, DependencyRow]:
        if not task_ids:
            return {}
        v = task_dependency_view.c
        rows = await self.session.execute(
            select(v.task_id, v.upstream_task_ids, v.downstream_task_ids).where(
                v.task_id == any_(bindparam("ids", _ids(task_ids), type_=_BIGINTS))
            )
        )
        return {t: DependencyRow(t, frozenset(up), frozenset(down)) for t, up, down in rows}

    # -- writes of the domain port ---------------------------------------------------------------------------
    async def set_task_tables(self, tables: TaskTables) -> None:
        r = table_task_relation.c
        reads, writes = _names(tables.reads), _names(tables.writes)
        keep = or_(
            and_(r.relation_type == _READ, r.table_name == any_(bindparam("reads", reads, type_=_TEXTS))),
            and_(r.relation_type == _WRITE, r.table_name == any_(bindparam("writes", writes, type_=_TEXTS))),
        )
        await self.session.execute(delete(table_task_relation).where(r.task_id == tables.task_id, not_(keep)))
        values = [{"task_id": tables.task_id, "table_name": t, "relation_type": _READ} for t in reads]
        values += [{"task_id": tables.task_id, "table_name": t, "relation_type": _WRITE} for t in writes]
        if values:  # executemany of one cached statement (a multi-row VALUES compiles anew per row count)
            await self.session.execute(pg_insert(table_task_relation).on_conflict_do_nothing(), values)

    async def add_table_lineage(self, edges: Collection[TableEdge]) -> None:
        if not edges:
            return
        values = [{"source_table": s, "target_table": t} for s, t in sorted(set(edges))]
        await self.session.execute(pg_insert(data_lineage).values(values).on_conflict_do_nothing())

    async def remove_table_lineage(self, edges: Collection[TableEdge]) -> None:
        if not edges:
            return
        c = data_lineage.c
        pairs = sorted(set(edges))
        wanted = (
            func.unnest(
                bindparam("sources", [s for s, _ in pairs], type_=_TEXTS),
                bindparam("targets", [t for _, t in pairs], type_=_TEXTS),
            )
            .table_valued("source", "target")
            .render_derived()
        )
        await self.session.execute(
            delete(data_lineage).where(
                tuple_(c.source_table, c.target_table).in_(select(wanted.c.source, wanted.c.target))
            )
        )

    async def put_dependency_view_rows(
        self, rows: Collection[DependencyRow], *, previous: Mapping[TaskId, DependencyRow] | None = None
    ) -> None:
        """Upsert ``rows`` (an empty row deletes the task's row). ``task_dependency_edge`` follows: by default the
        view's triggers diff each changed row's old and new downstream arrays in SQL (~16 ms for a hub's 9,000
        ids); a caller that knows the rows as stored now passes them as ``previous`` (every task of ``rows``; a
        missing task = no row), and the edge delta is computed here from the sets instead, the triggers standing
        aside for these statements (``lineage.edges_from_caller``)."""
        latest = {row.task_id: row for row in rows}
        gone = [t for t, row in latest.items() if row.is_empty]
        kept = [row for row in latest.values() if not row.is_empty]
        if not latest:
            return
        v = task_dependency_view.c
        if previous is not None:
            await self.session.execute(_EDGES_FROM_CALLER, {"on": "on"})
        if gone:
            await self.session.execute(
                delete(task_dependency_view).where(v.task_id == any_(bindparam("ids", _ids(gone), type_=_BIGINTS)))
            )
        if kept:
            # one statement whatever the batch (the edge triggers then run once): the id arrays travel as array
            # literals in a text[] (PostgreSQL arrays are not jagged) and are cast back per row
            ordered = sorted(kept, key=lambda r: r.task_id)
            await self.session.execute(
                _UPSERT_VIEW_ROWS,
                {
                    "ids": [row.task_id for row in ordered],
                    "ups": [_array_literal(row.upstream) for row in ordered],
                    "downs": [_array_literal(row.downstream) for row in ordered],
                    "up_counts": [row.upstream_count for row in ordered],
                    "down_counts": [row.downstream_count for row in ordered],
                },
            )
        if previous is None:
            return
        await self.session.execute(_EDGES_FROM_CALLER, {"on": "off"})
        added: list[tuple[TaskId, TaskId]] = []
        removed: list[tuple[TaskId, TaskId]] = []
        for task_id, row in latest.items():
            old = previous.get(task_id)
            old_down = old.downstream if old is not None else frozenset()
            added.extend((task_id, d) for d in row.downstream - old_down)
            removed.extend((task_id, d) for d in old_down - row.downstream)
        for statement, edges in ((_DELETE_EDGES, removed), (_INSERT_EDGES, added)):
            if edges:
                edges.sort()
                await self.session.execute(statement, {"ups": [u for u, _ in edges], "downs": [d for _, d in edges]})

    # -- full scans (rebuilds), keyset-paged ------------------------------------------------------------------
    async def task_tables_page(self, after: TaskId | None, limit: int) -> tuple[list[TaskTables], TaskId | None]:
        """Tasks with relations, by id, the first ``limit`` after ``after``; and the id to continue after
        (``None`` on the last page)."""
        r = table_task_relation.c
        ids_query = select(r.task_id).distinct().order_by(r.task_id).limit(limit)
        if after is not None:
            ids_query = ids_query.where(r.task_id > after)
        ids = list((await self.session.scalars(ids_query)).all())
        found = await self.tables_of(ids)
        return [found[t] for t in ids if t in found], (ids[-1] if len(ids) == limit else None)

    async def table_lineage_page(self, after: TableEdge | None, limit: int) -> list[TableEdge]:
        c = data_lineage.c
        query = select(c.source_table, c.target_table).order_by(c.source_table, c.target_table).limit(limit)
        if after is not None:
            query = query.where(tuple_(c.source_table, c.target_table) > tuple_(literal(after[0]), literal(after[1])))
        return [(s, t) for s, t in await self.session.execute(query)]

    async def dependency_rows_page(self, after: TaskId | None, limit: int) -> list[DependencyRow]:
        v = task_dependency_view.c
        query = select(v.task_id, v.upstream_task_ids, v.downstream_task_ids).order_by(v.task_id).limit(limit)
        if after is not None:
            query = query.where(v.task_id > after)
        return [DependencyRow(t, frozenset(up), frozenset(down)) for t, up, down in await self.session.execute(query)]

    # -- the HTTP API's reads ---------------------------------------------------------------------------------
    async def view_records(self, task_ids: Collection[TaskId]) -> dict[TaskId, ViewRecord]:
        if not task_ids:
            return {}
        v = task_dependency_view.c
        rows = await self.session.execute(
            select(v.task_id, v.upstream_task_ids, v.downstream_task_ids, v.updated_at).where(
                v.task_id == any_(bindparam("ids", _ids(task_ids), type_=_BIGINTS))
            )
        )
        return {t: ViewRecord(t, tuple(up), tuple(down), at) for t, up, down, at in rows}

    async def tasks_with(
        self, *, upstream: TaskId | None, downstream: TaskId | None, after: TaskId | None, limit: int
    ) -> list[TaskId]:
        """Task ids whose upstream set contains ``upstream`` and/or whose downstream set contains ``downstream``,
        ordered by id, after ``after``: index-only range scans of ``task_dependency_edge`` (the downstream tasks of
        ``upstream`` are the tasks with ``upstream`` in their upstream set)."""
        e = task_dependency_edge.c
        if upstream is None and downstream is None:
            v = task_dependency_view.c
            query = select(v.task_id).order_by(v.task_id).limit(limit)
            if after is not None:
                query = query.where(v.task_id > after)
            return list((await self.session.scalars(query)).all())
        if upstream is not None:
            found = e.downstream_task_id
            query = select(found).where(e.upstream_task_id == upstream)
            if downstream is not None:
                b = task_dependency_edge.alias("b")
                query = query.join(
                    b, and_(b.c.upstream_task_id == e.downstream_task_id, b.c.downstream_task_id == downstream)
                )
        else:
            found = e.upstream_task_id
            query = select(found).where(e.downstream_task_id == downstream)
        if after is not None:
            query = query.where(found > after)
        return list((await self.session.scalars(query.order_by(found).limit(limit))).all())

    async def search_tables(self, fragment: str, limit: int) -> list[TableName]:
        """Table names containing ``fragment`` (case-insensitive; empty: every name), in name order, at most
        ``limit``: the names tasks read or write and those lineage edges name. A sequential scan of the three name
        columns (no trigram index): this serves a person typing in a search box, not a hot path."""
        pattern = "%" + fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        r, c = table_task_relation.c, data_lineage.c
        names = (
            select(r.table_name.label("name"))
            .where(r.table_name.ilike(pattern, escape="\\"))
            .union(
                select(c.source_table).where(c.source_table.ilike(pattern, escape="\\")),
                select(c.target_table).where(c.target_table.ilike(pattern, escape="\\")),
            )
            .subquery()
        )
        query = select(names.c.name).order_by(names.c.name).limit(limit)
        return list((await self.session.scalars(query)).all())

    async def relation_counts(self, tables: Collection[TableName]) -> dict[TableName, tuple[int, int]]:
        """(readers, writers) of each table that has any."""
        if not tables:
            return {}
        r = table_task_relation.c
        rows = await self.session.execute(
            select(
                r.table_name,
                func.count().filter(r.relation_type == _READ),
                func.count().filter(r.relation_type == _WRITE),
            )
            .where(r.table_name == any_(bindparam("tables", _names(tables), type_=_TEXTS)))
            .group_by(r.table_name)
        )
        return {name: (reads, writes) for name, reads, writes in rows}

    # -- transaction-level advisory locks (see ``lineage_resolver.locks``) ------------------------------------
    async def lock_all(self, keys: Collection[int]) -> None:
        """Wait for every key, in ascending order (the one order every transaction uses: no deadlock). A function
        scan over ``unnest`` takes them in array order."""
        if keys:
            result = await self.session.execute(
                text("SELECT pg_advisory_xact_lock(k) FROM unnest(:keys) AS k").bindparams(
                    bindparam("keys", type_=_BIGINTS)
                ),
                {"keys": sorted(keys)},
            )
            result.all()

    async def try_lock_all(self, keys: Collection[int]) -> bool:
        """Take every key that is free right now; ``False`` if any is held by another transaction."""
        if not keys:
            return True
        got = await self.session.scalar(
            text("SELECT bool_and(pg_try_advisory_xact_lock(k)) FROM unnest(:keys) AS k").bindparams(
                bindparam("keys", type_=_BIGINTS)
            ),
            {"keys": sorted(keys)},
        )
        return bool(got)

    async def lock_shared(self, key: int) -> None:
        await self.session.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": key})

    async def lock_exclusive(self, key: int) -> None:
        await self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
