"""data_workflow: the publish record last applied (older publish results are ignored) and what DS holds when a
failed publish left it other than intended

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("data_workflow", sa.Column("last_publish_record_id", sa.BigInteger(), nullable=True))
    op.add_column("data_workflow", sa.Column("ds_attention", postgresql.JSONB(), nullable=True))
    op.create_index(
        "ix_data_workflow_ds_attention",
        "data_workflow",
        ["id"],
        postgresql_where=sa.text("ds_attention IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_data_workflow_ds_attention", table_name="data_workflow")
    op.drop_column("data_workflow", "ds_attention")
    op.drop_column("data_workflow", "last_publish_record_id")
