"""Tables of the ``lineage`` schema (declared without a schema: the engine's search_path selects it).

Indexes follow the queries in :mod:`.repository`:
- ``table_task_relation``: ``(task_id, relation_type, table_name)`` unique (a task's tables, ``tables_of``) and
  ``(table_name, relation_type) INCLUDE (task_id)`` (``readers_of`` / ``writers_of`` as index-only scans);
- ``data_lineage``: ``(source_table, target_table)`` unique (``lineage_targets``) and ``(target_table)``
  (``lineage_sources``);
- ``task_dependency_view``: the primary key only. The gateway's ``upstreamTaskId=X`` / ``downstreamTaskId=Y`` filters
  read ``task_dependency_edge`` (primary key (upstream, downstream), index (downstream, upstream): index-only range
  scans), which statement-level triggers keep equal to the view's downstream arrays (migration 0002: GIN indexes on
  the arrays re-inserted every element of a hub's 10-20k-id array on each change).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY

from common.db import new_metadata
from common.guard import add_audit_table
from common.outbox import add_outbox_tables

metadata: MetaData = new_metadata()

data_lineage = Table(
    "data_lineage",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("source_table", Text, nullable=False),
    Column("target_table", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("source_table", "target_table"),
    CheckConstraint("source_table <> target_table", name="not_a_loop"),
    Index("ix_data_lineage_target_table", "target_table"),
)

table_task_relation = Table(
    "table_task_relation",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("task_id", BigInteger, nullable=False),
    Column("table_name", Text, nullable=False),
    Column("relation_type", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("task_id", "relation_type", "table_name"),
    CheckConstraint("relation_type IN ('read', 'write')", name="relation_type"),
    Index(
        "ix_table_task_relation_table_name_relation_type", "table_name", "relation_type", postgresql_include=["task_id"]
    ),
)

_EMPTY_IDS = text("'{}'::bigint[]")

task_dependency_view = Table(
    "task_dependency_view",
    metadata,
    Column("task_id", BigInteger, primary_key=True, autoincrement=False),
    Column("upstream_task_ids", ARRAY(BigInteger), nullable=False, server_default=_EMPTY_IDS),
    Column("downstream_task_ids", ARRAY(BigInteger), nullable=False, server_default=_EMPTY_IDS),
    Column("upstream_count", Integer, nullable=False, server_default=text("0")),
    Column("downstream_count", Integer, nullable=False, server_default=text("0")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

#: one row per dependency ``upstream -> downstream``; written only by the triggers on ``task_dependency_view``
task_dependency_edge = Table(
    "task_dependency_edge",
    metadata,
    Column("upstream_task_id", BigInteger, primary_key=True, autoincrement=False),
    Column("downstream_task_id", BigInteger, primary_key=True, autoincrement=False),
    Index("ix_task_dependency_edge_downstream_task_id_upstream_task_id", "downstream_task_id", "upstream_task_id"),
)

#: a task's OpenLineage job identity (one job per task, one task per job): the exact job → task rules
openlineage_job_task = Table(
    "openlineage_job_task",
    metadata,
    Column("namespace", Text, primary_key=True),
    Column("name", Text, primary_key=True),
    Column("task_id", BigInteger, nullable=False, unique=True),
    Column("set_by", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    #: of the ``platform.task.openlineage_job.set`` that wrote the row (definition's sequence; NULL: before it)
    Column("revision", BigInteger),
)

#: job-name pattern rules, applied in ``position`` order after the exact identities
openlineage_job_pattern = Table(
    "openlineage_job_pattern",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("name_regex", Text, nullable=False),
    Column("namespace", Text, nullable=True),
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ux_openlineage_job_pattern_rule", "name_regex", text("coalesce(namespace, '')"), unique=True),
)

#: recently seen jobs no rule maps, with the datasets of their latest updating run (applied once the job is mapped)
openlineage_unmapped_job = Table(
    "openlineage_unmapped_job",
    metadata,
    Column("namespace", Text, primary_key=True),
    Column("name", Text, primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("event_time", DateTime(timezone=True), nullable=False),
    Column("producer", Text, nullable=True),
    Column("reads", ARRAY(Text), nullable=False),
    Column("writes", ARRAY(Text), nullable=False),
    Column("seen_count", Integer, nullable=False, server_default=text("1")),
    Column("first_seen_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_seen_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_openlineage_unmapped_job_last_seen_at", "last_seen_at"),
)

outbox, inbox = add_outbox_tables(metadata)
#: mutating internal calls with their verified actor (``common.guard``)
audit_log = add_audit_table(metadata)
