"""Tables of the ``definition`` schema (declared without a schema: the engine's search_path selects it).

Seed §3 names and columns are kept; additions are marked below.

- ``data_task``: the task catalog. ``revision`` is the optimistic-concurrency counter of ``PUT /internal/tasks``.
- ``data_workflow``: one row per workflow. Additions to the seed: ``approved_version_id`` (per-version approval, see
  ``domain.status``), ``current_version_no`` (the optimistic-concurrency token of every edit), ``project_code``,
  ``release_state`` (DS release state after the last publish), ``last_execution_state``/``_at`` (from history-sync),
  ``needs_attention``/``attention_reason``/``attention_details`` (lineage changes that need a human),
  ``ds_attention`` (a failed publish left DS other than intended; shown as attention too),
  ``last_publish_record_id`` (publish results older than the one applied are ignored),
  ``description``, ``task_count``, ``created_at``/``updated_at``. ``definition_json`` holds the editable form of the
  current version (node attributes per task, edges, schedule, params), ``entry_task_ids``/``exit_task_ids`` arrays.
- ``workflow_task_relation``: task ownership. ``task_id`` is UNIQUE: the database, not the application, guarantees
  that a task belongs to one workflow. ``version_id`` is the version that last wrote the row;
  ``workflow_inheritance_mode`` says how the task came into the workflow (``manual`` or a migration mode).
- ``workflow_version``: immutable versions, ``UNIQUE(workflow_id, version_no)``; ``content_hash`` added (the sha256
  of ``structure_snapshot``, which is stored as canonical ``json`` text).
- ``publish_request``: publish requests sent to the publisher and their outcome (not in the seed).
- ``deployed_task_code`` (migration 0008, issue 21): the DS task code of each task in what DS holds of a workflow,
  from ``publish.completed``, for "open in DolphinScheduler" links to a task's node.
- ``orchestration_proposal`` (migration 0007, issue 20): proposed workflows for the tasks in none
  (``definition.domain.grouping``); ``orchestration_proposal_task`` puts each such task in exactly one (its primary
  key); ``dismissed_proposal`` keeps the fingerprints (task sets) people dismissed, so a regrouping that forms the
  same set again keeps it dismissed.
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
    MetaData,
    Sequence,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSON, JSONB

from common.db import new_metadata
from common.guard import add_audit_table
from common.outbox import add_outbox_tables

metadata: MetaData = new_metadata()

TASK_TYPES = (
    "SHELL",
    "SQL",
    "PYTHON",
    "HTTP",
    "PROCEDURE",
    "DATAX",
    "SPARK",
    "FLINK",
    "CONDITIONS",
    "SUB_WORKFLOW",
    "SWITCH",
)
STATUSES = ("draft", "ready", "online", "offline", "archived")
PUBLISH_STATUSES = ("never_published", "pending", "published", "failed")
TRIGGER_SOURCES = ("manual_edit", "task_change", "lineage_change", "migration", "rollback", "auto_orchestration")
OPERATIONS = ("deploy", "online", "offline")
REQUEST_STATUSES = ("pending", "success", "failed", "skipped_unchanged")
INHERITANCE_MODES = ("manual", "only_current", "cascade_downstream", "cascade_up_and_downstream")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


_NOW = func.now()
_EMPTY_IDS = text("'{}'::bigint[]")

data_task = Table(
    "data_task",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("name", Text, nullable=False),
    Column("task_type", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=text("''")),
    Column("params", JSONB, nullable=False),
    Column("worker_group", Text, nullable=False, server_default=text("'default'")),
    Column("owner", Text),
    Column("revision", Integer, nullable=False, server_default=text("1")),
    Column("created_by", Text, nullable=False),
    Column("updated_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    # the task's OpenLineage job identity (both or neither; one task per job); the revision is drawn from
    # ``openlineage_job_revision_seq`` at every change and travels in ``platform.task.openlineage_job.set``
    Column("openlineage_namespace", Text),
    Column("openlineage_name", Text),
    Column("openlineage_job_revision", BigInteger),
    CheckConstraint(_in("task_type", TASK_TYPES), name="task_type"),
    CheckConstraint("(openlineage_namespace IS NULL) = (openlineage_name IS NULL)", name="openlineage_job"),
    UniqueConstraint("openlineage_namespace", "openlineage_name"),
    Index("ix_data_task_lower_name", func.lower(text("name"))),
    Index("ix_data_task_task_type", "task_type"),
)

#: revisions of the tasks' OpenLineage job identities (``data_task.openlineage_job_revision``)
openlineage_job_revision_seq = Sequence("openlineage_job_revision_seq", metadata=metadata)

data_workflow = Table(
    "data_workflow",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("workflow_code", BigInteger),
    Column("workflow_name", Text, nullable=False, unique=True),
    Column("description", Text, nullable=False, server_default=text("''")),
    Column("status", Text, nullable=False, server_default=text("'draft'")),
    Column("publish_status", Text, nullable=False, server_default=text("'never_published'")),
    Column("current_version_id", BigInteger, ForeignKey("workflow_version.id", use_alter=True)),
    Column("current_version_no", Integer, nullable=False, server_default=text("0")),
    Column("approved_version_id", BigInteger, ForeignKey("workflow_version.id", use_alter=True)),
    Column("last_published_version_id", BigInteger, ForeignKey("workflow_version.id", use_alter=True)),
    Column("project_code", BigInteger),
    Column("release_state", Text),
    #: whether DS's schedule of the workflow is online, as the last publish left it (``NULL``: not known)
    Column("schedule_online", Boolean),
    Column("definition_json", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("entry_task_ids", ARRAY(BigInteger), nullable=False, server_default=_EMPTY_IDS),
    Column("exit_task_ids", ARRAY(BigInteger), nullable=False, server_default=_EMPTY_IDS),
    Column("task_count", Integer, nullable=False, server_default=text("0")),
    Column("last_execution_state", Text),
    Column("last_execution_at", DateTime(timezone=True)),
    # projection of ``execution.synced`` (migration 0002): the newest ≤ 10 executions (list fields only) and the
    # ``synced_at`` of the event that wrote them (an older event is ignored)
    Column("last_executions", JSONB),
    Column("executions_synced_at", DateTime(timezone=True)),
    Column("needs_attention", Boolean, nullable=False, server_default=text("false")),
    Column("attention_reason", Text),
    # None is SQL NULL (not JSON ``null``): the list's ``IS NOT NULL`` filters read these columns (migration 0006)
    Column("attention_details", JSONB(none_as_null=True)),
    # migration 0004: the publisher's record id of the newest publish result applied (an older one is ignored),
    # and, while a failed publish has left DS other than intended, what DS holds (the API shows it as attention)
    Column("last_publish_record_id", BigInteger),
    Column("ds_attention", JSONB(none_as_null=True)),
    Column("created_by", Text, nullable=False),
    Column("updated_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    CheckConstraint(_in("status", STATUSES), name="status"),
    CheckConstraint(_in("publish_status", PUBLISH_STATUSES), name="publish_status"),
    CheckConstraint("release_state IS NULL OR release_state IN ('ONLINE', 'OFFLINE')", name="release_state"),
    Index("ix_data_workflow_lower_workflow_name", func.lower(text("workflow_name"))),
    Index("ix_data_workflow_status", "status"),
    Index("ix_data_workflow_publish_status", "publish_status"),
    Index("ix_data_workflow_last_execution_state", "last_execution_state"),
    Index("ix_data_workflow_needs_attention", "needs_attention", postgresql_where=text("needs_attention")),
    Index("ix_data_workflow_ds_attention", "id", postgresql_where=text("ds_attention IS NOT NULL")),
    Index("ix_data_workflow_updated_at", "updated_at"),
)

workflow_version = Table(
    "workflow_version",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("workflow_id", BigInteger, ForeignKey("data_workflow.id"), nullable=False),
    Column("version_no", Integer, nullable=False),
    # ``json``, not ``jsonb`` (decision): the column keeps the canonical JSON byte for byte, so
    # ``sha256(structure_snapshot::text) == content_hash`` holds and can be checked; it is only ever read whole, and
    # writing 1 MB (2,000 tasks) as ``json`` costs a quarter of ``jsonb`` (no conversion to the binary form).
    Column("structure_snapshot", JSON, nullable=False),
    Column("change_summary", JSONB, nullable=False),
    Column("trigger_source", Text, nullable=False),
    Column("content_hash", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    UniqueConstraint("workflow_id", "version_no"),
    CheckConstraint(_in("trigger_source", TRIGGER_SOURCES), name="trigger_source"),
    CheckConstraint("version_no >= 1", name="version_no"),
)

workflow_task_relation = Table(
    "workflow_task_relation",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("workflow_id", BigInteger, ForeignKey("data_workflow.id"), nullable=False),
    Column("task_id", BigInteger, ForeignKey("data_task.id"), nullable=False, unique=True),
    Column("node_attrs", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("upstream_task_count", Integer, nullable=False, server_default=text("0")),
    Column("downstream_task_count", Integer, nullable=False, server_default=text("0")),
    # no foreign key: informational (versions are never deleted), and 2,000 extra key checks per big insert
    Column("version_id", BigInteger, nullable=False),
    Column("workflow_inheritance_mode", Text, nullable=False, server_default=text("'manual'")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    CheckConstraint(_in("workflow_inheritance_mode", INHERITANCE_MODES), name="workflow_inheritance_mode"),
    Index("ix_workflow_task_relation_workflow_id", "workflow_id"),
)

publish_request = Table(
    "publish_request",
    metadata,
    Column("request_id", Uuid, primary_key=True),
    Column("workflow_id", BigInteger, ForeignKey("data_workflow.id"), nullable=False),
    Column("version_id", BigInteger, ForeignKey("workflow_version.id"), nullable=False),
    Column("operation", Text, nullable=False),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("requested_by", Text, nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    Column("completed_at", DateTime(timezone=True)),
    Column("record_id", BigInteger),
    Column("error", Text),
    CheckConstraint(_in("operation", OPERATIONS), name="operation"),
    CheckConstraint(_in("status", REQUEST_STATUSES), name="status"),
    Index("ix_publish_request_workflow_id_requested_at", "workflow_id", "requested_at"),
)

#: lineage-resolver's ``task_dependency_view`` as ``task.dependency.changed`` reports it (migration 0002); a task
#: without dependencies has no row. GIN on both arrays: the task list's dependency filters are index scans.
task_dependency_projection = Table(
    "task_dependency_projection",
    metadata,
    Column("task_id", BigInteger, primary_key=True, autoincrement=False),
    Column("upstream_task_ids", ARRAY(BigInteger), nullable=False, server_default=_EMPTY_IDS),
    Column("downstream_task_ids", ARRAY(BigInteger), nullable=False, server_default=_EMPTY_IDS),
    Column("upstream_count", Integer, nullable=False, server_default=text("0")),
    Column("downstream_count", Integer, nullable=False, server_default=text("0")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    Index("ix_task_dependency_projection_upstream_task_ids", "upstream_task_ids", postgresql_using="gin"),
    Index("ix_task_dependency_projection_downstream_task_ids", "downstream_task_ids", postgresql_using="gin"),
)

#: the DolphinScheduler task code of each task in the definition DS holds of a workflow (migration 0008, issue 21),
#: as the newest applied ``publish.completed`` says: replaced whole by each deploy/online that reports codes. The task
#: list joins it on (workflow, task), so a task moved elsewhere or not deployed yet has no code.
deployed_task_code = Table(
    "deployed_task_code",
    metadata,
    Column("workflow_id", BigInteger, ForeignKey("data_workflow.id", ondelete="CASCADE"), primary_key=True),
    # no foreign key to data_task: a row of a task that left the workflow goes with the next deploy
    Column("task_id", BigInteger, primary_key=True, autoincrement=False),
    Column("ds_task_code", BigInteger, nullable=False),
    CheckConstraint("ds_task_code > 0", name="ds_task_code"),
)

PROPOSAL_KINDS = ("new_workflow", "add_to_workflow")

orchestration_proposal = Table(
    "orchestration_proposal",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    #: sha1 of the sorted task ids (``@workflow_id`` for an addition): a proposal is the same while its tasks are
    Column("fingerprint", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    #: ``add_to_workflow``: the workflow the task joins
    Column("workflow_id", BigInteger),
    Column("task_ids", ARRAY(BigInteger), nullable=False),
    Column("task_count", Integer, nullable=False),
    #: edges, cycle edges and cycles, the dependencies crossing its boundary, the component's size
    Column("details", JSONB, nullable=False),
    Column("dismissed", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    CheckConstraint(_in("kind", PROPOSAL_KINDS), name="kind"),
    Index("ix_orchestration_proposal_open", "id", postgresql_where=text("NOT dismissed")),
)

orchestration_proposal_task = Table(
    "orchestration_proposal_task",
    metadata,
    # no foreign key to data_task: a deleted task's row goes with the next regrouping
    Column("task_id", BigInteger, primary_key=True, autoincrement=False),
    Column(
        "proposal_id",
        BigInteger,
        ForeignKey("orchestration_proposal.id", ondelete="CASCADE", name="fk_orchestration_proposal_task_proposal_id"),
        nullable=False,
    ),
    Index("ix_orchestration_proposal_task_proposal_id", "proposal_id"),
)

dismissed_proposal = Table(
    "dismissed_proposal",
    metadata,
    Column("fingerprint", Text, primary_key=True),
    Column("dismissed_by", Text, nullable=False),
    Column("dismissed_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
)

#: the exact number of workflows, ``sum(n)`` over the slots; kept by statement-level triggers on ``data_workflow``
#: (migration 0002) in the writing transaction, one slot per backend (``pg_backend_pid() % 16``)
workflow_counter = Table(
    "workflow_counter",
    metadata,
    Column("slot", SmallInteger, primary_key=True, autoincrement=False),
    Column("n", BigInteger, nullable=False, server_default=text("0")),
)

outbox, inbox = add_outbox_tables(metadata)
#: mutating internal calls with their verified actor (``common.guard``)
audit_log = add_audit_table(metadata)

#: the name PostgreSQL gives the one-workflow-per-task constraint (mapped to 409 by the service)
TASK_OWNERSHIP_CONSTRAINT = "uq_workflow_task_relation_task_id"
WORKFLOW_NAME_CONSTRAINT = "uq_data_workflow_workflow_name"
