"""engine workflow: the failure strategy the deployed version gives its DS schedule and a run that does not choose
one (END when any task says END, else CONTINUE); null for a workflow deployed before it was kept (run now then
uses END, as before)

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
    op.add_column("engine_workflow", sa.Column("failure_strategy", sa.Text(), nullable=True))
    op.create_check_constraint(
        "failure_strategy", "engine_workflow", "failure_strategy IS NULL OR failure_strategy IN ('END', 'CONTINUE')"
    )


def downgrade() -> None:
    op.drop_constraint("failure_strategy", "engine_workflow", type_="check")
    op.drop_column("engine_workflow", "failure_strategy")
