"""a task's OpenLineage job identity (issue 21 item 2): set on registration or edit, one task per job

Definition owns the identity (it is part of the task's row); lineage-resolver keeps its job ↔ task mapping as a
projection of the ``platform.task.openlineage_job.set`` events this service writes to its outbox. The revision comes
from one sequence, so the later of two owners of a job wins whatever order their events arrive in.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE openlineage_job_revision_seq AS bigint")
    op.add_column("data_task", sa.Column("openlineage_namespace", sa.Text()))
    op.add_column("data_task", sa.Column("openlineage_name", sa.Text()))
    op.add_column("data_task", sa.Column("openlineage_job_revision", sa.BigInteger()))
    op.create_check_constraint(
        "ck_data_task_openlineage_job",
        "data_task",
        "(openlineage_namespace IS NULL) = (openlineage_name IS NULL)",
    )
    op.create_unique_constraint(
        "uq_data_task_openlineage_namespace_openlineage_name", "data_task", ["openlineage_namespace", "openlineage_name"]
    )


def downgrade() -> None:
    op.drop_constraint("uq_data_task_openlineage_namespace_openlineage_name", "data_task", type_="unique")
    op.drop_constraint("ck_data_task_openlineage_job", "data_task", type_="check")
    op.drop_column("data_task", "openlineage_job_revision")
    op.drop_column("data_task", "openlineage_name")
    op.drop_column("data_task", "openlineage_namespace")
    op.execute("DROP SEQUENCE openlineage_job_revision_seq")
