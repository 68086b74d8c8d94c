"""bulk republish (issue 24): a republish run and its items (one per deployed workflow, with its outcome), and the
publish record's ``republish_run_id`` / ``republish_of`` (the run that made it; the record whose version and approval
it deploys again)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "republish_run",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), primary_key=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("rate_per_s", sa.Float(), nullable=False),
        sa.Column("max_in_flight", sa.Integer(), nullable=False),
        sa.Column("next_slot_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'paused', 'done', 'cancelled')", name="ck_republish_run_status"
        ),
        sa.CheckConstraint("rate_per_s > 0", name="ck_republish_run_rate_per_s"),
        sa.CheckConstraint("max_in_flight > 0", name="ck_republish_run_max_in_flight"),
    )
    op.create_index(
        "ux_republish_run_open",
        "republish_run",
        [sa.text("(true)")],
        unique=True,
        postgresql_where=sa.text("status IN ('running', 'paused')"),
    )
    op.create_table(
        "republish_item",
        sa.Column("run_id", sa.BigInteger(), sa.ForeignKey("republish_run.id"), nullable=False),
        sa.Column("workflow_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("planned_hash", sa.Text(), nullable=True),
        sa.Column("deployed_hash", sa.Text(), nullable=True),
        sa.Column("record_id", sa.BigInteger(), sa.ForeignKey("workflow_publish_record.id"), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "workflow_id"),
        sa.CheckConstraint(
            "status IN ('pending', 'queued', 'republished', 'skipped', 'failed', 'cancelled')",
            name="ck_republish_item_status",
        ),
    )
    op.create_index("ux_republish_item_record_id", "republish_item", ["record_id"], unique=True)
    op.create_index(
        "ix_republish_item_open",
        "republish_item",
        ["run_id", "status", "workflow_id"],
        postgresql_where=sa.text("status IN ('pending', 'queued')"),
    )
    op.add_column("workflow_publish_record", sa.Column("republish_run_id", sa.BigInteger(), nullable=True))
    op.add_column(
        "workflow_publish_record",
        sa.Column(
            "republish_of",
            sa.BigInteger(),
            sa.ForeignKey("workflow_publish_record.id", name="fk_workflow_publish_record_republish_of_workflow_publish_record"),
            nullable=True,
        ),
    )


def downgrade() -> None:
    op.drop_column("workflow_publish_record", "republish_of")
    op.drop_column("workflow_publish_record", "republish_run_id")
    op.drop_index("ix_republish_item_open", table_name="republish_item")
    op.drop_index("ux_republish_item_record_id", table_name="republish_item")
    op.drop_table("republish_item")
    op.drop_index("ux_republish_run_open", table_name="republish_run")
    op.drop_table("republish_run")
