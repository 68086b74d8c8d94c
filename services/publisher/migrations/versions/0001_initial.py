"""publisher tables: publish records, integration config, task codes, engine workflows, outbox/inbox

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
        "workflow_publish_record",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("workflow_id", sa.BigInteger(), nullable=False),
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("version_no", sa.Integer(), nullable=False),
        sa.Column("target_engine", sa.Text(), server_default=sa.text("'dolphinscheduler'"), nullable=False),
        sa.Column("operation", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("engine_workflow_code", sa.BigInteger(), nullable=True),
        sa.Column("engine_version", sa.Integer(), nullable=True),
        sa.Column("project_code", sa.BigInteger(), nullable=True),
        sa.Column("release_state", sa.Text(), nullable=True),
        sa.Column("content_hash", sa.Text(), nullable=True),
        sa.Column("log", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("operator", sa.Text(), nullable=False),
        sa.Column("retry_of", sa.BigInteger(), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("snapshot", postgresql.JSONB(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("target_engine = 'dolphinscheduler'", name="ck_workflow_publish_record_target_engine"),
        sa.CheckConstraint(
            "operation IN ('deploy', 'online', 'offline')", name="ck_workflow_publish_record_operation"
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'success', 'failed', 'skipped_unchanged')",
            name="ck_workflow_publish_record_status",
        ),
        sa.CheckConstraint(
            "release_state IS NULL OR release_state IN ('ONLINE', 'OFFLINE')",
            name="ck_workflow_publish_record_release_state",
        ),
        sa.ForeignKeyConstraint(
            ["retry_of"],
            ["workflow_publish_record.id"],
            name="fk_workflow_publish_record_retry_of_workflow_publish_record",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_workflow_publish_record"),
        sa.UniqueConstraint("request_id", name="uq_workflow_publish_record_request_id"),
    )
    op.create_index(
        "ix_workflow_publish_record_workflow_id_id", "workflow_publish_record", ["workflow_id", "id"]
    )
    op.create_index(
        "ix_workflow_publish_record_unfinished",
        "workflow_publish_record",
        ["id"],
        postgresql_where=sa.text("status IN ('pending', 'running')"),
    )

    op.create_table(
        "workflow_integration_config",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("project_name", sa.Text(), nullable=False),
        sa.Column("project_code", sa.BigInteger(), nullable=True),
        sa.Column("rest_base_url", sa.Text(), nullable=False),
        sa.Column("gateway_host", sa.Text(), nullable=False),
        sa.Column("gateway_port", sa.Integer(), nullable=False),
        sa.Column("ds_user", sa.Text(), nullable=False),
        sa.Column("tenant_code", sa.Text(), nullable=False),
        sa.Column("worker_group", sa.Text(), nullable=False),
        sa.Column("rest_token_ref", sa.Text(), nullable=False),
        sa.Column("gateway_token_ref", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "rest_token_ref ~ '^(env|file):.+'", name="ck_workflow_integration_config_rest_token_ref"
        ),
        sa.CheckConstraint(
            "gateway_token_ref ~ '^(env|file|builtin):.+'", name="ck_workflow_integration_config_gateway_token_ref"
        ),
        sa.PrimaryKeyConstraint("name", name="pk_workflow_integration_config"),
    )

    op.create_table(
        "engine_task_code",
        sa.Column("workflow_id", sa.BigInteger(), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("ds_task_code", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("ds_task_code > 0", name="ck_engine_task_code_ds_task_code"),
        sa.PrimaryKeyConstraint("workflow_id", "task_id", name="pk_engine_task_code"),
        sa.UniqueConstraint("ds_task_code", name="uq_engine_task_code_ds_task_code"),
    )

    op.create_table(
        "engine_workflow",
        sa.Column("workflow_id", sa.BigInteger(), nullable=False),
        sa.Column("workflow_code", sa.BigInteger(), nullable=False),
        sa.Column("project_code", sa.BigInteger(), nullable=False),
        sa.Column("last_deployed_hash", sa.Text(), nullable=True),
        sa.Column("last_deployed_version_id", sa.BigInteger(), nullable=True),
        sa.Column("engine_version", sa.Integer(), nullable=True),
        sa.Column("release_state", sa.Text(), nullable=True),
        sa.Column("schedule_id", sa.BigInteger(), nullable=True),
        sa.Column("schedule_online", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "release_state IS NULL OR release_state IN ('ONLINE', 'OFFLINE')",
            name="ck_engine_workflow_release_state",
        ),
        sa.PrimaryKeyConstraint("workflow_id", name="pk_engine_workflow"),
        sa.UniqueConstraint("workflow_code", name="uq_engine_workflow_workflow_code"),
    )


def downgrade() -> None:
    op.drop_table("engine_workflow")
    op.drop_table("engine_task_code")
    op.drop_table("workflow_integration_config")
    op.drop_index("ix_workflow_publish_record_unfinished", table_name="workflow_publish_record")
    op.drop_index("ix_workflow_publish_record_workflow_id_id", table_name="workflow_publish_record")
    op.drop_table("workflow_publish_record")
    op.drop_index("ix_inbox_processed_at", table_name="inbox")
    op.drop_table("inbox")
    op.drop_table("outbox")
