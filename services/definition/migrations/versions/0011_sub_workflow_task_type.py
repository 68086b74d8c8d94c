"""task type SUB_WORKFLOW (issue 21): the task-type CHECK constraint admits it

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_TYPES = "('SHELL', 'SQL', 'PYTHON', 'HTTP', 'PROCEDURE', 'DATAX', 'SPARK', 'FLINK', 'CONDITIONS')"
_NEW_TYPES = "('SHELL', 'SQL', 'PYTHON', 'HTTP', 'PROCEDURE', 'DATAX', 'SPARK', 'FLINK', 'CONDITIONS', 'SUB_WORKFLOW')"


def upgrade() -> None:
    op.drop_constraint("ck_data_task_task_type", "data_task", type_="check")
    op.create_check_constraint("ck_data_task_task_type", "data_task", f"task_type IN {_NEW_TYPES}")


def downgrade() -> None:
    # refused (the check fails) while a SUB_WORKFLOW task exists: a downgrade never drops or rewrites tasks
    op.drop_constraint("ck_data_task_task_type", "data_task", type_="check")
    op.create_check_constraint("ck_data_task_task_type", "data_task", f"task_type IN {_OLD_TYPES}")
