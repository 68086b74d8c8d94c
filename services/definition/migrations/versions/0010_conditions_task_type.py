"""task type CONDITIONS (issue 21): the task-type CHECK constraint admits it

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_TYPES = "('SHELL', 'SQL', 'PYTHON', 'HTTP', 'PROCEDURE', 'DATAX', 'SPARK', 'FLINK')"
_NEW_TYPES = "('SHELL', 'SQL', 'PYTHON', 'HTTP', 'PROCEDURE', 'DATAX', 'SPARK', 'FLINK', 'CONDITIONS')"


def upgrade() -> None:
    op.drop_constraint("ck_data_task_task_type", "data_task", type_="check")
    op.create_check_constraint("ck_data_task_task_type", "data_task", f"task_type IN {_NEW_TYPES}")


def downgrade() -> None:
    # refused (the check fails) while a CONDITIONS task exists: a downgrade never drops or rewrites tasks
    op.drop_constraint("ck_data_task_task_type", "data_task", type_="check")
    op.create_check_constraint("ck_data_task_task_type", "data_task", f"task_type IN {_OLD_TYPES}")
