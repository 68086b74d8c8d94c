"""tracked workflow: the digest of the DS instance page the cache was last written from (a cycle that reads the
same bytes again skips parsing and comparing them)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tracked_workflow", sa.Column("page_digest", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("tracked_workflow", "page_digest")
