"""workflow status 'archived'; DolphinScheduler's schedule state next to its release state

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("ck_data_workflow_status", "data_workflow", type_="check")
    op.create_check_constraint(
        "ck_data_workflow_status", "data_workflow", "status IN ('draft', 'ready', 'online', 'offline', 'archived')"
    )
    op.add_column("data_workflow", sa.Column("schedule_online", sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.drop_column("data_workflow", "schedule_online")
    op.drop_constraint("ck_data_workflow_status", "data_workflow", type_="check")
    op.create_check_constraint(
        "ck_data_workflow_status", "data_workflow", "status IN ('draft', 'ready', 'online', 'offline')"
    )
