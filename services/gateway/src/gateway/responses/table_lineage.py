"""Table lineage and impact analysis (lineage-resolver, tasks named by the definition service), and a workflow
DAG's drawn edges checked against lineage (issue 21 item 3)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from gateway.responses._shared import Unavailable
from gateway.schemas import TaskType


class TableMatch(BaseModel):
    table: str
    #: tasks reading / writing it
    readers: int
    writers: int


class TableSearch(BaseModel):
    items: list[TableMatch]


class LineageTable(BaseModel):
    table: str
    #: hops from the table asked for, upstream / downstream (``null``: not on that side); that table is 0 on both
    upstream_distance: int | None
    downstream_distance: int | None


class LineageTableEdge(BaseModel):
    """Table lineage reported without a platform task in between (e.g. a view, a replication job)."""

    source_table: str
    target_table: str


class _NamedTask(BaseModel):
    task_id: int
    #: ``null``: the definition service does not know the task (or could not be asked: ``unavailable``)
    name: str | None
    task_type: TaskType | None
    workflow_id: int | None
    workflow_name: str | None
    workflow_link: str | None


class LineageTask(_NamedTask):
    upstream_distance: int | None
    downstream_distance: int | None
    #: of the tables listed, the ones the task reads and writes
    reads: list[str]
    writes: list[str]


class LineageWorkflow(BaseModel):
    workflow_id: int
    workflow_name: str | None
    workflow_link: str | None
    task_ids: list[int]


class TableLineage(BaseModel):
    """The tasks writing and reading a table and the tables ``depth`` hops up- and downstream (a hop: through a task
    reading one and writing the other, or a table lineage edge), with the workflows of those tasks."""

    table: str
    depth: int
    tables: list[LineageTable]
    tasks: list[LineageTask]
    table_edges: list[LineageTableEdge]
    workflows: list[LineageWorkflow]
    #: a cap was reached: more lies beyond what is listed
    truncated: bool
    #: ``tasks``: names and workflows could not be fetched (they are ``null``)
    unavailable: Unavailable


class PathStep(BaseModel):
    kind: Literal["table", "task"]
    table: str | None = None
    task_id: int | None = None


class TableDistance(BaseModel):
    table: str
    distance: int


class AffectedTask(_NamedTask):
    #: steps from the table (table → table, table → reading task, task → written table: 1 each)
    distance: int
    #: how it is reached: the table, then tables and tasks in order, ending at the task
    path: list[PathStep]


class AffectedWorkflow(LineageWorkflow):
    #: the nearest affected task's distance
    distance: int


class TableImpact(BaseModel):
    """If the table is late or changes: every table and task downstream once (shortest distance, one path) and every
    workflow of those tasks once, nearest first."""

    table: str
    depth: int
    tables: list[TableDistance]
    tasks: list[AffectedTask]
    workflows: list[AffectedWorkflow]
    truncated: bool
    unavailable: Unavailable


class SuggestedEdge(BaseModel):
    upstream_task_id: int
    downstream_task_id: int
    #: tables the upstream writes and the downstream reads (empty: through table lineage)
    tables: list[str]
    #: the drawn DAG has a path the other way: accepting it would close a cycle
    closes_cycle: bool


class FlaggedEdge(BaseModel):
    upstream_task_id: int
    downstream_task_id: int
    #: ``reverse``: lineage has the data flow the other way; ``no_data_link``: no data path between the two
    reason: Literal["reverse", "no_data_link"]
    #: ``reverse``: the tables of the opposite dependency, when it is direct
    tables: list[str]


class DagLineageCheck(BaseModel):
    suggested: list[SuggestedEdge]
    flagged: list[FlaggedEdge]
    confirmed: list[tuple[int, int]]
    #: tasks lineage has no tables for: their edges are neither confirmed nor flagged
    unknown_task_ids: list[int]
    #: the look-up stopped at its cap: ``no_data_link`` is not said
    truncated: bool
