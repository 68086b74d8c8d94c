"""task-level metrics: the task instances of the cached runs (read once per finished run) and which runs were read

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
    op.create_table(
        "task_run",
        sa.Column("workflow_id", sa.BigInteger(), nullable=False),
        sa.Column("instance_id", sa.BigInteger(), nullable=False),
        sa.Column("task_instance_id", sa.BigInteger(), nullable=False),
        sa.Column("task_code", sa.BigInteger(), nullable=False),
        sa.Column("task_name", sa.Text(), nullable=False),
        sa.Column("task_type", sa.Text(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retry_times", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("instance_id", "task_instance_id"),
    )
    op.create_index("ix_task_run_workflow_id", "task_run", ["workflow_id"])
    op.create_table(
        "task_fetch",
        sa.Column("workflow_id", sa.BigInteger(), nullable=False),
        sa.Column("instance_id", sa.BigInteger(), nullable=False),
        sa.Column("run_times", sa.Integer(), nullable=False),
        sa.Column("task_count", sa.Integer(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("instance_id"),
    )
    op.create_index("ix_task_fetch_workflow_id", "task_fetch", ["workflow_id"])


def downgrade() -> None:
    op.drop_index("ix_task_fetch_workflow_id", table_name="task_fetch")
    op.drop_table("task_fetch")
    op.drop_index("ix_task_run_workflow_id", table_name="task_run")
    op.drop_table("task_run")
