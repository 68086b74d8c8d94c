"""deployed task codes (issue 21): the DolphinScheduler task code of each task in what DS holds of a workflow, from
``publish.completed``, so the task list links to the task's node in DS

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deployed_task_code",
        sa.Column("workflow_id", sa.BigInteger(), autoincrement=False),
        sa.Column("task_id", sa.BigInteger(), autoincrement=False),
        sa.Column("ds_task_code", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("ds_task_code > 0", name="ck_deployed_task_code_ds_task_code"),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["data_workflow.id"],
            name="fk_deployed_task_code_workflow_id_data_workflow",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workflow_id", "task_id", name="pk_deployed_task_code"),
    )


def downgrade() -> None:
    op.drop_table("deployed_task_code")
