"""a task's OpenLineage job identity is definition's (issue 21 item 2): the mapping keeps the revision of the
``platform.task.openlineage_job.set`` event that wrote each row, so a job that moved between tasks stays with the
later owner whatever the order the tasks' events arrive in (rows written before: no revision, any event wins)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("openlineage_job_task", sa.Column("revision", sa.BigInteger()))


def downgrade() -> None:
    op.drop_column("openlineage_job_task", "revision")
