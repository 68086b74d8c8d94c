"""definition tables: task catalog, workflows, task ownership, versions, publish requests, outbox/inbox

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EMPTY_IDS = sa.text("'{}'::bigint[]")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("headers", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
    )
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_inbox"),
    )
    op.create_index("ix_inbox_processed_at", "inbox", ["processed_at"])

    op.create_table(
        "data_task",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("task_type", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("params", postgresql.JSONB(), nullable=False),
        sa.Column("worker_group", sa.Text(), server_default=sa.text("'default'"), nullable=False),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("revision", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("task_type IN ('SHELL', 'SQL', 'PYTHON')", name="ck_data_task_task_type"),
        sa.PrimaryKeyConstraint("id", name="pk_data_task"),
    )
    op.create_index("ix_data_task_lower_name", "data_task", [sa.text("lower(name)")])
    op.create_index("ix_data_task_task_type", "data_task", ["task_type"])

    op.create_table(
        "data_workflow",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("workflow_code", sa.BigInteger(), nullable=True),
        sa.Column("workflow_name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'draft'"), nullable=False),
        sa.Column("publish_status", sa.Text(), server_default=sa.text("'never_published'"), nullable=False),
        sa.Column("current_version_id", sa.BigInteger(), nullable=True),
        sa.Column("current_version_no", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("approved_version_id", sa.BigInteger(), nullable=True),
        sa.Column("last_published_version_id", sa.BigInteger(), nullable=True),
        sa.Column("project_code", sa.BigInteger(), nullable=True),
        sa.Column("release_state", sa.Text(), nullable=True),
        sa.Column("definition_json", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("entry_task_ids", postgresql.ARRAY(sa.BigInteger()), server_default=EMPTY_IDS, nullable=False),
        sa.Column("exit_task_ids", postgresql.ARRAY(sa.BigInteger()), server_default=EMPTY_IDS, nullable=False),
        sa.Column("task_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_execution_state", sa.Text(), nullable=True),
        sa.Column("last_execution_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("needs_attention", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("attention_reason", sa.Text(), nullable=True),
        sa.Column("attention_details", postgresql.JSONB(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("status IN ('draft', 'ready', 'online', 'offline')", name="ck_data_workflow_status"),
        sa.CheckConstraint(
            "publish_status IN ('never_published', 'pending', 'published', 'failed')",
            name="ck_data_workflow_publish_status",
        ),
        sa.CheckConstraint(
            "release_state IS NULL OR release_state IN ('ONLINE', 'OFFLINE')", name="ck_data_workflow_release_state"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_data_workflow"),
        sa.UniqueConstraint("workflow_name", name="uq_data_workflow_workflow_name"),
    )
    op.create_index("ix_data_workflow_lower_workflow_name", "data_workflow", [sa.text("lower(workflow_name)")])
    op.create_index("ix_data_workflow_status", "data_workflow", ["status"])
    op.create_index("ix_data_workflow_publish_status", "data_workflow", ["publish_status"])
    op.create_index("ix_data_workflow_last_execution_state", "data_workflow", ["last_execution_state"])
    op.create_index(
        "ix_data_workflow_needs_attention",
        "data_workflow",
        ["needs_attention"],
        postgresql_where=sa.text("needs_attention"),
    )
    op.create_index("ix_data_workflow_updated_at", "data_workflow", ["updated_at"])

    op.create_table(
        "workflow_version",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("workflow_id", sa.BigInteger(), nullable=False),
        sa.Column("version_no", sa.Integer(), nullable=False),
        sa.Column("structure_snapshot", postgresql.JSON(), nullable=False),
        sa.Column("change_summary", postgresql.JSONB(), nullable=False),
        sa.Column("trigger_source", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "trigger_source IN ('manual_edit', 'task_change', 'lineage_change', 'migration', 'rollback')",
            name="ck_workflow_version_trigger_source",
        ),
        sa.CheckConstraint("version_no >= 1", name="ck_workflow_version_version_no"),
        sa.ForeignKeyConstraint(
            ["workflow_id"], ["data_workflow.id"], name="fk_workflow_version_workflow_id_data_workflow"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_workflow_version"),
        sa.UniqueConstraint("workflow_id", "version_no", name="uq_workflow_version_workflow_id_version_no"),
    )
    for column in ("current_version_id", "approved_version_id", "last_published_version_id"):
        op.create_foreign_key(
            f"fk_data_workflow_{column}_workflow_version", "data_workflow", "workflow_version", [column], ["id"]
        )

    op.create_table(
        "workflow_task_relation",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("workflow_id", sa.BigInteger(), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("node_attrs", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("upstream_task_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("downstream_task_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("workflow_inheritance_mode", sa.Text(), server_default=sa.text("'manual'"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "workflow_inheritance_mode IN ('manual', 'only_current', 'cascade_downstream', "
            "'cascade_up_and_downstream')",
            name="ck_workflow_task_relation_workflow_inheritance_mode",
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"], ["data_workflow.id"], name="fk_workflow_task_relation_workflow_id_data_workflow"
        ),
        sa.ForeignKeyConstraint(["task_id"], ["data_task.id"], name="fk_workflow_task_relation_task_id_data_task"),
        sa.PrimaryKeyConstraint("id", name="pk_workflow_task_relation"),
        sa.UniqueConstraint("task_id", name="uq_workflow_task_relation_task_id"),
    )
    op.create_index("ix_workflow_task_relation_workflow_id", "workflow_task_relation", ["workflow_id"])

    op.create_table(
        "publish_request",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("workflow_id", sa.BigInteger(), nullable=False),
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("operation", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("requested_by", sa.Text(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("operation IN ('deploy', 'online', 'offline')", name="ck_publish_request_operation"),
        sa.CheckConstraint(
            "status IN ('pending', 'success', 'failed', 'skipped_unchanged')", name="ck_publish_request_status"
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"], ["data_workflow.id"], name="fk_publish_request_workflow_id_data_workflow"
        ),
        sa.ForeignKeyConstraint(
            ["version_id"], ["workflow_version.id"], name="fk_publish_request_version_id_workflow_version"
        ),
        sa.PrimaryKeyConstraint("request_id", name="pk_publish_request"),
    )
    op.create_index(
        "ix_publish_request_workflow_id_requested_at", "publish_request", ["workflow_id", "requested_at"]
    )


def downgrade() -> None:
    op.drop_table("publish_request")
    op.drop_table("workflow_task_relation")
    for column in ("current_version_id", "approved_version_id", "last_published_version_id"):
        op.drop_constraint(f"fk_data_workflow_{column}_workflow_version", "data_workflow", type_="foreignkey")
    op.drop_table("workflow_version")
    op.drop_table("data_workflow")
    op.drop_table("data_task")
    op.drop_table("inbox")
    op.drop_table("outbox")
