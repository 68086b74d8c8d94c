"""Tables of the ``history`` schema (declared without a schema: the engine's search_path selects it)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from common.db import new_metadata
from common.guard import add_audit_table
from common.outbox import add_outbox_tables

metadata = new_metadata()
outbox_table, inbox_table = add_outbox_tables(metadata)
#: mutating internal calls with their verified actor (``common.guard``)
audit_log = add_audit_table(metadata)

#: workflows learned from publish.completed, with their sync state and the lease of the replica syncing them
tracked_workflow = Table(
    "tracked_workflow",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),  # the platform workflow id
    Column("engine_workflow_code", BigInteger, nullable=False),
    Column("project_code", BigInteger, nullable=False),
    Column("release_state", Text, nullable=False),
    Column("online_since", DateTime(timezone=True)),
    Column("offline_at", DateTime(timezone=True)),
    Column("last_publish_at", DateTime(timezone=True), nullable=False),
    Column("last_synced_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("last_error_at", DateTime(timezone=True)),
    Column("next_sync_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("lease_owner", Text),
    Column("lease_until", DateTime(timezone=True)),
    Column("sync_count", BigInteger, nullable=False, server_default=text("0")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    #: a run was started or a publish finished then: the cache is stale until a sync after it
    Column("refresh_requested_at", DateTime(timezone=True)),
    #: digest of the DS instance page the cache holds (with every finished run's task instances read): a sync that
    #: reads the same bytes again has nothing to parse, compare or write. NULL: the next sync reads the page
    Column("page_digest", LargeBinary),
    Index("ix_tracked_workflow_next_sync_at", "next_sync_at"),
)

#: the last 10 executions per workflow, in DS order (rank 0 = newest)
workflow_instance_cache = Table(
    "workflow_instance_cache",
    metadata,
    Column("workflow_id", BigInteger, nullable=False),
    Column("instance_id", BigInteger, nullable=False),
    Column("rank", SmallInteger, nullable=False),
    Column("state", Text, nullable=False),
    Column("start_time", DateTime(timezone=True)),
    Column("end_time", DateTime(timezone=True)),
    Column("duration", Text),
    Column("command_type", Text, nullable=False),
    Column("ds_command_type", Text),
    Column("run_times", Integer),
    Column("host", Text),
    Column("engine_version", Integer),
    Column("platform_version_id", BigInteger),
    Column("synced_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("workflow_id", "instance_id"),
    Index("ix_workflow_instance_cache_workflow_id_rank", "workflow_id", "rank"),
    Index("ix_workflow_instance_cache_instance_id", "instance_id"),
)

#: DS definition version -> platform version id, learned from publish.completed
engine_version_map = Table(
    "engine_version_map",
    metadata,
    Column("workflow_id", BigInteger, nullable=False),
    Column("engine_version", Integer, nullable=False),
    Column("version_id", BigInteger, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("workflow_id", "engine_version"),
)

#: streak / rate incidents; open while closed_at is NULL (at most one open per workflow and rule)
alert_incident = Table(
    "alert_incident",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("workflow_id", BigInteger, nullable=False),
    Column("rule", Text, nullable=False),
    Column("incident_key", Text, nullable=False, unique=True),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Index(
        "uq_alert_incident_open",
        "workflow_id",
        "rule",
        unique=True,
        postgresql_where=text("closed_at IS NULL"),
    ),
)

#: one row per completed sync of a workflow by a replica (proof of once-per-cycle; pruned by retention)
sync_run = Table(
    "sync_run",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("workflow_id", BigInteger, nullable=False),
    Column("cycle", BigInteger, nullable=False),
    Column("replica", Text, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Index("ix_sync_run_workflow_id_cycle", "workflow_id", "cycle"),
    Index("ix_sync_run_finished_at", "finished_at"),
)

#: the task instances of the cached runs, read from DS once per finished run (task-level metrics, seed §4.5 step 4);
#: deleted with their run when it leaves the last 10
task_run = Table(
    "task_run",
    metadata,
    Column("workflow_id", BigInteger, nullable=False),
    Column("instance_id", BigInteger, nullable=False),
    Column("task_instance_id", BigInteger, nullable=False),
    Column("task_code", BigInteger, nullable=False),
    Column("task_name", Text, nullable=False),
    Column("task_type", Text),
    Column("state", Text, nullable=False),
    Column("start_time", DateTime(timezone=True)),
    Column("end_time", DateTime(timezone=True)),
    Column("retry_times", Integer),
    PrimaryKeyConstraint("instance_id", "task_instance_id"),
    Index("ix_task_run_workflow_id", "workflow_id"),
)

#: which finished runs had their task instances read, at which ``run_times`` (a rerun is read again once finished)
task_fetch = Table(
    "task_fetch",
    metadata,
    Column("workflow_id", BigInteger, nullable=False),
    Column("instance_id", BigInteger, nullable=False),
    Column("run_times", Integer, nullable=False),
    Column("task_count", Integer, nullable=False),
    Column("fetched_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("instance_id"),
    Index("ix_task_fetch_workflow_id", "workflow_id"),
)
