"""run request: the schedule time a run now was asked for (it is started as a one-date backfill; the reconciler
finds it among DS's instances by that time)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("run_request", sa.Column("schedule_time", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("run_request", "schedule_time")
