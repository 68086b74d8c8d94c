"""lineage tables: data_lineage, table_task_relation, task_dependency_view, outbox, inbox

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_lineage",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("source_table", sa.Text(), nullable=False),
        sa.Column("target_table", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("source_table <> target_table", name="ck_data_lineage_not_a_loop"),
        sa.PrimaryKeyConstraint("id", name="pk_data_lineage"),
        sa.UniqueConstraint("source_table", "target_table", name="uq_data_lineage_source_table_target_table"),
    )
    op.create_index("ix_data_lineage_target_table", "data_lineage", ["target_table"])

    op.create_table(
        "table_task_relation",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("relation_type", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("relation_type IN ('read', 'write')", name="ck_table_task_relation_relation_type"),
        sa.PrimaryKeyConstraint("id", name="pk_table_task_relation"),
        sa.UniqueConstraint(
            "task_id", "relation_type", "table_name", name="uq_table_task_relation_task_id_relation_type_table_name"
        ),
    )
    op.create_index(
        "ix_table_task_relation_table_name_relation_type",
        "table_task_relation",
        ["table_name", "relation_type"],
        postgresql_include=["task_id"],
    )

    op.create_table(
        "task_dependency_view",
        sa.Column("task_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column(
            "upstream_task_ids",
            postgresql.ARRAY(sa.BigInteger()),
            server_default=sa.text("'{}'::bigint[]"),
            nullable=False,
        ),
        sa.Column(
            "downstream_task_ids",
            postgresql.ARRAY(sa.BigInteger()),
            server_default=sa.text("'{}'::bigint[]"),
            nullable=False,
        ),
        sa.Column("upstream_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("downstream_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name="pk_task_dependency_view"),
    )
    op.create_index(
        "ix_task_dependency_view_upstream_task_ids",
        "task_dependency_view",
        ["upstream_task_ids"],
        postgresql_using="gin",
    )
    op.create_index(
        "ix_task_dependency_view_downstream_task_ids",
        "task_dependency_view",
        ["downstream_task_ids"],
        postgresql_using="gin",
    )

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


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_table("outbox")
    op.drop_table("task_dependency_view")
    op.drop_table("table_task_relation")
    op.drop_table("data_lineage")
