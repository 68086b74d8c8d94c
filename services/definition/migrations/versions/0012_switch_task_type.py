"""task type SWITCH (issue 21): the task-type CHECK constraint admits it

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_TYPES = "('SHELL', 'SQL', 'PYTHON', 'HTTP', 'PROCEDURE', 'DATAX', 'SPARK', 'FLINK', 'CONDITIONS', 'SUB_WORKFLOW')"
_NEW_TYPES = (
    "('SHELL', 'SQL', 'PYTHON', 'HTTP', 'PROCEDURE', 'DATAX', 'SPARK', 'FLINK', 'CONDITIONS', 'SUB_WORKFLOW', 'SWITCH')"
)


def upgrade() -> None:
    op.drop_constraint("ck_data_task_task_type", "data_task", type_="check")
    op.create_check_constraint("ck_data_task_task_type", "data_task", f"task_type IN {_NEW_TYPES}")


def downgrade() -> None:
    # refused (the check fails) while a SWITCH task exists: a downgrade never drops or rewrites tasks
    op.drop_constraint("ck_data_task_task_type", "data_task", type_="check")
    op.create_check_constraint("ck_data_task_task_type", "data_task", f"task_type IN {_OLD_TYPES}")
