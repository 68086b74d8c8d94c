"""attention columns hold SQL NULL, never JSON null: the workflow list counted a cleared ``ds_attention`` (stored as
JSON ``null``) as needing attention while the detail did not

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for column in ("ds_attention", "attention_details"):
        op.execute(f"UPDATE data_workflow SET {column} = NULL WHERE {column} = 'null'::jsonb")


def downgrade() -> None:
    """Nothing to undo: SQL NULL reads the same as JSON null everywhere but in the list's filter."""
