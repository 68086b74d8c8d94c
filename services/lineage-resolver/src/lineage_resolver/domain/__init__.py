"""Lineage → task dependencies: the pure domain of the lineage-resolver (no I/O; imports only pydantic and
``common.errors``).

Rule: task A writes a table that task B reads ⇒ A is upstream of B. The logic runs against a
:class:`~.store.LineageStore` port (batched reads of only the affected rows), implemented in memory by
:class:`~.memory.InMemoryLineageStore` and by the service's PostgreSQL repository.

Decisions
---------
**Table→table lineage without a task in between** (``data_lineage``) is stored and used for impact analysis
(:func:`~.queries.table_impact`), but by default does *not* create task dependencies: a dependency means "run the
producer task before the consumer task", which needs a producer and a consumer on the platform; an external edge
``t1 → t2`` is produced by something we do not schedule (a replication job, a catalog's guess), so ordering A before
B does not make ``t2`` fresh, and catalog-wide lineage would flood workflows with spurious, often cross-workflow
edges. Where external lineage is synchronous (database views, CTAS run by the database itself), set
``ResolverOptions.external_lineage_hops = k``: A becomes upstream of B when a table A writes reaches a table B reads
through at most ``k`` lineage edges. ``k`` bounds the fan-out and the rows loaded per change; incremental updates and
full rebuilds use the same ``k``. Producers must not mirror platform tasks' own reads/writes into ``data_lineage``
(the relations already express them; with ``k`` > 0 they would add shortcut edges).

**Self-dependencies** (a task that reads a table it writes, e.g. an incremental MERGE) are never task dependencies
(a task is not in its own sets). They are reported in ``DependencyDelta.self_dependencies`` with the tables, when the
change that introduces or restates them is applied.

**Cycles** closed by a change are reported in ``DependencyDelta.cycles`` with the tasks (closed path, rotated to start
at the smallest id, e.g. ``[A, B, A]``) *and* the tables of each edge (``[t1, t2]``), but the change is still applied:
the view reflects lineage truth, and refusing a lineage fact would only make the view lie. The definition service is
the one that refuses to put the cycle into a workflow DAG and flags the workflow for manual handling.

**View rows** exist only for tasks with at least one upstream or downstream task; a task whose sets become empty has
its row deleted (the task list treats a missing row as zero counts).

**Concurrency** (for adapters): ``apply_lineage_change`` reads, then writes. Locking only the tables a change names is
NOT enough: a change recomputes whole upstream/downstream sets of neighbouring tasks (a writer of ``r`` and ``x``
gets its downstream set rebuilt by a change to ``r`` *and* by one to ``x``), so two changes naming different tables
can still overwrite each other's rows. An adapter must serialise on everything the plan *read* (tables and tasks),
e.g. lock each read's keys before the read (the service's ``locks.py`` does this, with a fallback that plans, locks
every key the plan read and re-plans under them), or run at SERIALIZABLE and retry serialization failures.

**Events for hub tasks**: ``TaskDependencyChanged`` carries full old and new sets (the contract); a task writing a
dimension read by thousands of tasks yields large payloads. ``upstream_added``/``..._removed`` give the small diff.

**OpenLineage**: see :mod:`.openlineage` (COMPLETE replaces the task's reads/writes; other event types are ignored by
default; datasets become ``<namespace>/<name>``; the job → task rules are data, :class:`MappingRules`; a job they do
not map is parked by the service until a person maps it).
"""

from .commands import (
    AddTableLineage,
    LineageChange,
    RemoveTableLineage,
    RemoveTask,
    SetTaskTables,
    TableLineageEdge,
    parse_lineage_change,
)
from .cycles import added_edges, cycles_closed_by, explain_dependency, find_path
from .errors import InvalidLineageMessage, UnmappedOpenLineageJob
from .graph import TableNeighbourhood, TaskLinks, table_known, table_neighbourhood, task_links
from .memory import InMemoryLineageStore
from .model import (
    CycleReport,
    DependencyDelta,
    DependencyLink,
    DependencyRow,
    RelationKind,
    ResolverOptions,
    SelfDependency,
    TableEdge,
    TableName,
    TaskDependencyChanged,
    TaskId,
    TaskTables,
)
from .openlineage import (
    EventType,
    Job,
    JobMapping,
    JobPattern,
    MappingRules,
    OpenLineageConfig,
    OpenLineageTranslation,
    RunEvent,
    StoredPattern,
    decode_lineage_payload,
    ignored_reason,
    parse_run_event,
    qualified_table_name,
    tables_of_run_event,
    translate_run_event,
    validate_pattern,
)
from .queries import PathStep, TableImpact, downstream_of, path_to, table_impact, upstream_of
from .rebuild import (
    ViewDiff,
    check_view,
    diff_views,
    full_rebuild,
    rebuild_dependency_view,
    rebuild_from_relations,
)
from .resolve import apply_lineage_change, plan_lineage_change, write_delta
from .store import LineageReader, LineageStore

__all__ = [
    "AddTableLineage",
    "CycleReport",
    "DependencyDelta",
    "DependencyLink",
    "DependencyRow",
    "EventType",
    "InMemoryLineageStore",
    "InvalidLineageMessage",
    "Job",
    "JobMapping",
    "JobPattern",
    "LineageChange",
    "LineageReader",
    "LineageStore",
    "MappingRules",
    "OpenLineageConfig",
    "OpenLineageTranslation",
    "PathStep",
    "RelationKind",
    "RemoveTableLineage",
    "RemoveTask",
    "ResolverOptions",
    "RunEvent",
    "SelfDependency",
    "SetTaskTables",
    "StoredPattern",
    "TableEdge",
    "TableImpact",
    "TableLineageEdge",
    "TableName",
    "TableNeighbourhood",
    "TaskDependencyChanged",
    "TaskId",
    "TaskLinks",
    "TaskTables",
    "UnmappedOpenLineageJob",
    "ViewDiff",
    "added_edges",
    "apply_lineage_change",
    "check_view",
    "cycles_closed_by",
    "decode_lineage_payload",
    "diff_views",
    "downstream_of",
    "explain_dependency",
    "find_path",
    "full_rebuild",
    "ignored_reason",
    "parse_lineage_change",
    "parse_run_event",
    "path_to",
    "plan_lineage_change",
    "qualified_table_name",
    "rebuild_dependency_view",
    "rebuild_from_relations",
    "table_impact",
    "table_known",
    "table_neighbourhood",
    "tables_of_run_event",
    "task_links",
    "translate_run_event",
    "upstream_of",
    "validate_pattern",
    "write_delta",
]
