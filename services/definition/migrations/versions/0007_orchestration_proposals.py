"""auto-orchestration (issue 20): proposals of workflows for the tasks in none, each task in one proposal, the
fingerprints people dismissed; trigger source ``auto_orchestration``

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_TRIGGERS = "('manual_edit', 'task_change', 'lineage_change', 'migration', 'rollback')"
_NEW_TRIGGERS = "('manual_edit', 'task_change', 'lineage_change', 'migration', 'rollback', 'auto_orchestration')"


def upgrade() -> None:
    op.drop_constraint("ck_workflow_version_trigger_source", "workflow_version", type_="check")
    op.create_check_constraint("ck_workflow_version_trigger_source", "workflow_version", f"trigger_source IN {_NEW_TRIGGERS}")
    op.create_table(
        "orchestration_proposal",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True)),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("workflow_id", sa.BigInteger(), nullable=True),
        sa.Column("task_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("task_count", sa.Integer(), nullable=False),
        sa.Column("details", postgresql.JSONB(), nullable=False),
        sa.Column("dismissed", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("kind IN ('new_workflow', 'add_to_workflow')", name="ck_orchestration_proposal_kind"),
        sa.UniqueConstraint("fingerprint", name="uq_orchestration_proposal_fingerprint"),
        sa.PrimaryKeyConstraint("id", name="pk_orchestration_proposal"),
    )
    op.create_index(
        "ix_orchestration_proposal_open",
        "orchestration_proposal",
        ["id"],
        postgresql_where=sa.text("NOT dismissed"),
    )
    op.create_table(
        "orchestration_proposal_task",
        sa.Column("task_id", sa.BigInteger(), autoincrement=False),
        sa.Column("proposal_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["orchestration_proposal.id"],
            name="fk_orchestration_proposal_task_proposal_id",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("task_id", name="pk_orchestration_proposal_task"),
    )
    op.create_index("ix_orchestration_proposal_task_proposal_id", "orchestration_proposal_task", ["proposal_id"])
    op.create_table(
        "dismissed_proposal",
        sa.Column("fingerprint", sa.Text()),
        sa.Column("dismissed_by", sa.Text(), nullable=False),
        sa.Column("dismissed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("fingerprint", name="pk_dismissed_proposal"),
    )


def downgrade() -> None:
    op.drop_table("dismissed_proposal")
    op.drop_index("ix_orchestration_proposal_task_proposal_id", table_name="orchestration_proposal_task")
    op.drop_table("orchestration_proposal_task")
    op.drop_index("ix_orchestration_proposal_open", table_name="orchestration_proposal")
    op.drop_table("orchestration_proposal")
    op.execute("UPDATE workflow_version SET trigger_source = 'manual_edit' WHERE trigger_source = 'auto_orchestration'")
    op.drop_constraint("ck_workflow_version_trigger_source", "workflow_version", type_="check")
    op.create_check_constraint("ck_workflow_version_trigger_source", "workflow_version", f"trigger_source IN {_OLD_TRIGGERS}")
