"""API keys get an expiry (``expires_at``) and scopes; existing keys keep working: no expiry, no scope limit (NULL)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCOPES = ("workflows:read", "workflows:write", "publish", "lineage:write", "admin")


def upgrade() -> None:
    op.add_column("api_key", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("api_key", sa.Column("scopes", ARRAY(sa.Text), nullable=True))
    op.create_check_constraint(
        op.f("ck_api_key_scopes_known"),
        "api_key",
        "scopes IS NULL OR (cardinality(scopes) > 0 AND scopes <@ ARRAY["
        + ", ".join(f"'{s}'" for s in SCOPES)
        + "]::text[])",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_api_key_scopes_known"), "api_key", type_="check")
    op.drop_column("api_key", "scopes")
    op.drop_column("api_key", "expires_at")
