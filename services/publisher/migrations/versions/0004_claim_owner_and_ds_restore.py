"""publish record: who claimed it and the DS release state it intends; ds_restore: workflows DS does not hold in
their intended state after a failed publish (the reconciler's work list)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("workflow_publish_record", sa.Column("claimed_by", sa.Text(), nullable=True))
    op.add_column("workflow_publish_record", sa.Column("intended_release_state", sa.Text(), nullable=True))
    op.create_check_constraint(
        "ck_workflow_publish_record_intended_release_state",
        "workflow_publish_record",
        "intended_release_state IS NULL OR intended_release_state IN ('ONLINE', 'OFFLINE')",
    )
    op.create_table(
        "ds_restore",
        sa.Column("workflow_id", sa.BigInteger(), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("intended_release_state", sa.Text(), nullable=False),
        sa.Column("ds_release_state", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("attempt_record_id", sa.BigInteger(), nullable=True),
        sa.Column("requested_by", sa.Text(), nullable=True),
        sa.Column("cancelled_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("status IN ('restoring', 'restored', 'cancelled')", name="ck_ds_restore_status"),
        sa.CheckConstraint("intended_release_state IN ('ONLINE', 'OFFLINE')", name="ck_ds_restore_intended"),
        sa.CheckConstraint(
            "ds_release_state IS NULL OR ds_release_state IN ('ONLINE', 'OFFLINE')", name="ck_ds_restore_ds_state"
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["workflow_publish_record.id"],
            name="fk_ds_restore_record_id_workflow_publish_record",
        ),
        sa.PrimaryKeyConstraint("workflow_id", name="pk_ds_restore"),
    )
    op.create_index(
        "ix_ds_restore_due",
        "ds_restore",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'restoring'"),
    )


def downgrade() -> None:
    op.drop_index("ix_ds_restore_due", table_name="ds_restore")
    op.drop_table("ds_restore")
    op.drop_constraint("ck_workflow_publish_record_intended_release_state", "workflow_publish_record")
    op.drop_column("workflow_publish_record", "intended_release_state")
    op.drop_column("workflow_publish_record", "claimed_by")
