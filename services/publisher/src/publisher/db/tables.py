"""The publisher's tables (no schema: the engine's search_path selects ``publisher``).

- ``workflow_publish_record``: one row per publish attempt (seed §3 plus request/retry/outcome columns). It also
  works as the durable job queue: ``pending`` → ``running`` (claimed, with a lease) → final status. The pinned
  snapshot is kept with the record so a retry is self-contained.
- ``workflow_integration_config``: one row per DS environment; token *references* only, never a token.
- ``engine_task_code``: the DS task code of each platform task, per workflow; codes are never reused.
- ``engine_workflow``: what DS holds for each platform workflow (code, deployed hash and version, release state).
- ``run_request``: one row per run-now request, keyed by the caller's idempotency key: the same key gives the same
  answer and starts DS once; a run whose outcome DS left unknown (a timeout) is reconciled against DS's instances.
- ``republish_run`` / ``republish_item``: a bulk republish (``publisher.republish``) and one item per deployed
  workflow: skipped when converting it again gives the deployed content hash, else made into a publish record
  (at the run's rate, at most ``max_in_flight`` at once) and finished with that record's outcome.
- ``ds_restore``: a workflow DS does not hold in its intended state after a failed publish (e.g. taken offline by
  ``createOrUpdateWorkflow``, then the release failed): the reconciler re-runs that publish with backoff until DS
  holds the intended state (``restored``) or a person cancels it (``cancelled``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
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
from common.guard import add_audit_table
from common.outbox import add_outbox_tables

metadata = new_metadata()
outbox_table, inbox_table = add_outbox_tables(metadata)
#: mutating internal calls with their verified actor (``common.guard``)
audit_log = add_audit_table(metadata)

OPERATIONS = ("deploy", "online", "offline")
STATUSES = ("pending", "running", "success", "failed", "skipped_unchanged")
FINAL_STATUSES = ("success", "failed", "skipped_unchanged")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


#: the publish queue: its ``pending``/``running`` rows are the publishes still to do, claimed by the publish workers
#: (``publisher.service.publish_queue``; docs/lifecycle.md "The publish queue")
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
    #: the retry's ``Idempotency-Key`` and whose it is: the same key of the same caller gives this record again
    Column("idempotency_key", Text),
    Column("idempotency_scope", Text),
    #: the definition service's signature over the approved snapshot (``common.identity.sign_approval``): checked
    #: before any DolphinScheduler call, also on a retry
    Column("approval", Text),
    Column("error_code", Integer),
    Column("error_message", Text),
    Column("snapshot", JSONB, nullable=False),
    #: W3C trace context (``traceparent``…) of the request: the worker that runs the record continues that trace
    Column("trace_context", JSONB),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    #: the republish run that made this record (``publisher.republish``): a deploy of the version DS holds, again
    Column("republish_run_id", BigInteger),
    #: the successful record whose version and approval a republish record deploys again (its approval holds for
    #: this record: the same snapshot, approved then for that record's request and operation)
    Column("republish_of", BigInteger, ForeignKey("workflow_publish_record.id")),
    Column("claimed_at", DateTime(timezone=True)),
    #: the ``instance_id`` of the process that claimed it (a restarted process reclaims its own records at once)
    Column("claimed_by", Text),
    #: the DS release state the publish means to leave (``release_state``: the one DS holds, read back)
    Column("intended_release_state", Text),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    CheckConstraint("target_engine = 'dolphinscheduler'", name="target_engine"),
    CheckConstraint(_in("operation", OPERATIONS), name="operation"),
    CheckConstraint(_in("status", STATUSES), name="status"),
    CheckConstraint("release_state IS NULL OR release_state IN ('ONLINE', 'OFFLINE')", name="release_state"),
    CheckConstraint(
        "intended_release_state IS NULL OR intended_release_state IN ('ONLINE', 'OFFLINE')",
        name="intended_release_state",
    ),
    Index("ix_workflow_publish_record_workflow_id_id", "workflow_id", "id"),
    Index(
        "ux_workflow_publish_record_idempotency",
        "idempotency_scope",
        "idempotency_key",
        unique=True,
        postgresql_where=text("idempotency_key IS NOT NULL"),
    ),
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
    #: the deployed version's failure strategy (``workflow_failure_strategy``): its schedule's and run now's default
    Column("failure_strategy", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("release_state IS NULL OR release_state IN ('ONLINE', 'OFFLINE')", name="release_state"),
    CheckConstraint("failure_strategy IS NULL OR failure_strategy IN ('END', 'CONTINUE')", name="failure_strategy"),
)

RUN_STATES = ("starting", "started", "failed", "unknown", "not_started")
#: a run in one of these states may still become a DS instance: one at a time per workflow
OPEN_RUN_STATES = ("starting", "unknown")

run_request = Table(
    "run_request",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("workflow_id", BigInteger, nullable=False),
    #: the caller's ``Idempotency-Key`` (a generated one when the caller sent none) and whose it is
    Column("idempotency_key", Text, nullable=False),
    Column("scope", Text, nullable=False),
    #: SHA-256 of the request (workflow and body): a key reused for another request is refused
    Column("fingerprint", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("operator", Text, nullable=False),
    Column("project_code", BigInteger, nullable=False),
    Column("workflow_code", BigInteger, nullable=False),
    #: the newest DS instance of the workflow before the start (0: none) — a run found later must be newer;
    #: ``NULL`` until it was read, so the start was never sent
    Column("watermark_instance_id", BigInteger),
    Column("instance_ids", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    #: W3C trace context (``traceparent``…) of the request that asked for the run: the portal links its instances
    #: to that trace
    Column("trace_context", JSONB),
    #: the schedule time the run was asked for (UTC, whole seconds): it was started as a backfill of that one date,
    #: and the reconciler looks for a COMPLEMENT_DATA instance of that time; ``NULL``: a plain start
    Column("schedule_time", DateTime(timezone=True)),
    #: the answer a failed start gave (replayed for the same key): problem status, type code, detail, DS code
    Column("error_status", Integer),
    Column("error_type", Text),
    Column("error_detail", Text),
    Column("ds_code", Integer),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    #: an ``unknown`` run not found in DS by then did not start
    Column("reconcile_until", DateTime(timezone=True)),
    Column("next_check_at", DateTime(timezone=True)),
    Column("checks", Integer, nullable=False, server_default=text("0")),
    CheckConstraint(_in("state", RUN_STATES), name="state"),
    Index("ux_run_request_key", "scope", "idempotency_key", unique=True),
    Index("ix_run_request_workflow_id_id", "workflow_id", "id"),
    Index(
        "ux_run_request_open",
        "workflow_id",
        unique=True,
        postgresql_where=text("state IN ('starting', 'unknown')"),
    ),
    Index("ix_run_request_created_at", "created_at"),
)

RESTORE_STATUSES = ("restoring", "restored", "cancelled")

ds_restore = Table(
    "ds_restore",
    metadata,
    Column("workflow_id", BigInteger, primary_key=True),
    #: the failed publish whose operation and version DS is to hold (re-run as a retry by the reconciler)
    Column("record_id", BigInteger, ForeignKey("workflow_publish_record.id"), nullable=False),
    Column("status", Text, nullable=False),
    Column("intended_release_state", Text, nullable=False),
    #: what DS held when it was last read (None: it could not be read)
    Column("ds_release_state", Text),
    #: restore attempts that failed since the divergence began
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("last_error", Text),
    #: the publish record of the latest restore attempt
    Column("attempt_record_id", BigInteger),
    #: who asked for the latest restore ("reconciler", or the person who clicked restore)
    Column("requested_by", Text),
    Column("cancelled_by", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(_in("status", RESTORE_STATUSES), name="status"),
    CheckConstraint("intended_release_state IN ('ONLINE', 'OFFLINE')", name="intended"),
    CheckConstraint("ds_release_state IS NULL OR ds_release_state IN ('ONLINE', 'OFFLINE')", name="ds_state"),
    Index("ix_ds_restore_due", "next_attempt_at", postgresql_where=text("status = 'restoring'")),
)

REPUBLISH_RUN_STATUSES = ("running", "paused", "done", "cancelled")
#: a run in one of these is still to finish: one at a time
OPEN_REPUBLISH_RUN_STATUSES = ("running", "paused")

republish_run = Table(
    "republish_run",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    #: running: its items are dispatched; paused: none are (``resume`` goes on); done / cancelled: over
    Column("status", Text, nullable=False),
    Column("requested_by", Text, nullable=False),
    #: why (``--reason``; e.g. "converter ds-3.3/2"): in each record's log
    Column("reason", Text, nullable=False),
    #: the DS-protecting limits, shared by every publisher replica: publishes started per second, and unfinished
    #: republish records at once
    Column("rate_per_s", Float, nullable=False),
    Column("max_in_flight", Integer, nullable=False),
    #: the rate limiter's state (GCRA theoretical arrival time, ``domain.republish.take``)
    Column("next_slot_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    #: the first dispatch (for the rate and ETA)
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("cancelled_by", Text),
    CheckConstraint(_in("status", REPUBLISH_RUN_STATUSES), name="status"),
    CheckConstraint("rate_per_s > 0", name="rate_per_s"),
    CheckConstraint("max_in_flight > 0", name="max_in_flight"),
    Index(
        "ux_republish_run_open", text("(true)"), unique=True, postgresql_where=text("status IN ('running', 'paused')")
    ),
)

REPUBLISH_ITEM_STATUSES = ("pending", "queued", "republished", "skipped", "failed", "cancelled")
OPEN_REPUBLISH_ITEM_STATUSES = ("pending", "queued")

republish_item = Table(
    "republish_item",
    metadata,
    Column("run_id", BigInteger, ForeignKey("republish_run.id"), nullable=False),
    Column("workflow_id", BigInteger, nullable=False),
    #: pending: to dispatch; queued: its publish record runs; republished / skipped (unchanged) / failed (``reason``)
    #: / cancelled (the run was cancelled before it was dispatched)
    Column("status", Text, nullable=False),
    #: the content hash converting the deployed version gives now, and the one DS holds (at planning)
    Column("planned_hash", Text),
    Column("deployed_hash", Text),
    Column("record_id", BigInteger, ForeignKey("workflow_publish_record.id")),
    Column("reason", Text),
    Column("queued_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    PrimaryKeyConstraint("run_id", "workflow_id"),
    CheckConstraint(_in("status", REPUBLISH_ITEM_STATUSES), name="status"),
    Index("ux_republish_item_record_id", "record_id", unique=True),
    Index(
        "ix_republish_item_open",
        "run_id",
        "status",
        "workflow_id",
        postgresql_where=text("status IN ('pending', 'queued')"),
    ),
)
