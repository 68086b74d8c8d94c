"""run requests (idempotent run now, reconciled when DS's answer was lost); idempotent publish retries

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("workflow_publish_record", sa.Column("idempotency_key", sa.Text(), nullable=True))
    op.add_column("workflow_publish_record", sa.Column("idempotency_scope", sa.Text(), nullable=True))
    op.create_index(
        "ux_workflow_publish_record_idempotency",
        "workflow_publish_record",
        ["idempotency_scope", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.create_table(
        "run_request",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), primary_key=True),
        sa.Column("workflow_id", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("operator", sa.Text(), nullable=False),
        sa.Column("project_code", sa.BigInteger(), nullable=False),
        sa.Column("workflow_code", sa.BigInteger(), nullable=False),
        sa.Column("watermark_instance_id", sa.BigInteger(), nullable=True),
        sa.Column("instance_ids", postgresql.JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("error_status", sa.Integer(), nullable=True),
        sa.Column("error_type", sa.Text(), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("ds_code", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("reconcile_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checks", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.CheckConstraint(
            "state IN ('starting', 'started', 'failed', 'unknown', 'not_started')", name="ck_run_request_state"
        ),
    )
    op.create_index("ux_run_request_key", "run_request", ["scope", "idempotency_key"], unique=True)
    op.create_index("ix_run_request_workflow_id_id", "run_request", ["workflow_id", "id"])
    op.create_index(
        "ux_run_request_open",
        "run_request",
        ["workflow_id"],
        unique=True,
        postgresql_where=sa.text("state IN ('starting', 'unknown')"),
    )
    op.create_index("ix_run_request_created_at", "run_request", ["created_at"])


def downgrade() -> None:
    op.drop_table("run_request")
    op.drop_index("ux_workflow_publish_record_idempotency", table_name="workflow_publish_record")
    op.drop_column("workflow_publish_record", "idempotency_scope")
    op.drop_column("workflow_publish_record", "idempotency_key")
