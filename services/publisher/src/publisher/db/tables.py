"""The publisher's tables (no schema: the engine's search_path selects ``publisher``).

- ``workflow_publish_record``: one row per publish attempt (seed §3 plus request/retry/outcome columns). It also
  works as the durable job queue: ``pending`` → ``running`` (claimed, with a lease) → final status. The pinned
  snapshot is kept with the record so a retry is self-contained.
- ``workflow_integration_config``: one row per DS environment; token *references* only, never a token.
- ``engine_task_code``: the DS task code of each platform task, per workflow; codes are never reused.
- ``engine_workflow``: what DS holds for each platform workflow (code, deployed hash and version, release state).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from common.db import new_metadata
from common.outbox import add_outbox_tables

metadata = new_metadata()
outbox_table, inbox_table = add_outbox_tables(metadata)

OPERATIONS = ("deploy", "online", "offline")
STATUSES = ("pending", "running", "success", "failed", "skipped_unchanged")
FINAL_STATUSES = ("success", "failed", "skipped_unchanged")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


workflow_publish_record = Table(
    "workflow_publish_record",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("request_id", Uuid, nullable=False, unique=True),
    Column("workflow_id", BigInteger, nullable=False),
    Column("version_id", BigInteger, nullable=False),
    Column("version_no", Integer, nullable=False),
    Column("target_engine", Text, nullable=False, server_default=text("'dolphinscheduler'")),
    Column("operation", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("engine_workflow_code", BigInteger),
    Column("engine_version", Integer),
    Column("project_code", BigInteger),
    Column("release_state", Text),
    Column("content_hash", Text),
    Column("log", Text, nullable=False, server_default=text("''")),
    Column("operator", Text, nullable=False),
    Column("retry_of", BigInteger, ForeignKey("workflow_publish_record.id")),
    Column("error_code", Integer),
    Column("error_message", Text),
    Column("snapshot", JSONB, nullable=False),
    #: W3C trace context (``traceparent``…) of the request: the worker that runs the record continues that trace
    Column("trace_context", JSONB),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("claimed_at", DateTime(timezone=True)),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    CheckConstraint("target_engine = 'dolphinscheduler'", name="target_engine"),
    CheckConstraint(_in("operation", OPERATIONS), name="operation"),
    CheckConstraint(_in("status", STATUSES), name="status"),
    CheckConstraint("release_state IS NULL OR release_state IN ('ONLINE', 'OFFLINE')", name="release_state"),
    Index("ix_workflow_publish_record_workflow_id_id", "workflow_id", "id"),
    Index(
        "ix_workflow_publish_record_unfinished",
        "id",
        postgresql_where=text("status IN ('pending', 'running')"),
    ),
)

workflow_integration_config = Table(
    "workflow_integration_config",
    metadata,
    Column("name", Text, primary_key=True),
    Column("project_name", Text, nullable=False),
    Column("project_code", BigInteger),
    Column("rest_base_url", Text, nullable=False),
    Column("gateway_host", Text, nullable=False),
    Column("gateway_port", Integer, nullable=False),
    Column("ds_user", Text, nullable=False),
    Column("tenant_code", Text, nullable=False),
    Column("worker_group", Text, nullable=False),
    Column("rest_token_ref", Text, nullable=False),
    Column("gateway_token_ref", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # a reference says where the token is; it can never be the token itself
    CheckConstraint("rest_token_ref ~ '^(env|file):.+'", name="rest_token_ref"),
    CheckConstraint("gateway_token_ref ~ '^(env|file|builtin):.+'", name="gateway_token_ref"),
)

engine_task_code = Table(
    "engine_task_code",
    metadata,
    Column("workflow_id", BigInteger, nullable=False),
    Column("task_id", BigInteger, nullable=False),
    Column("ds_task_code", BigInteger, nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("workflow_id", "task_id"),
    CheckConstraint("ds_task_code > 0", name="ds_task_code"),
)

engine_workflow = Table(
    "engine_workflow",
    metadata,
    Column("workflow_id", BigInteger, primary_key=True),
    Column("workflow_code", BigInteger, nullable=False, unique=True),
    Column("project_code", BigInteger, nullable=False),
    Column("last_deployed_hash", Text),
    Column("last_deployed_version_id", BigInteger),
    Column("engine_version", Integer),
    Column("release_state", Text),
    Column("schedule_id", BigInteger),
    Column("schedule_online", Boolean, nullable=False, server_default=text("false")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("release_state IS NULL OR release_state IN ('ONLINE', 'OFFLINE')", name="release_state"),
)
