"""the ``lineage`` key scope: a key that may only send lineage (``POST /api/v1/lineage``)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


#: 0001's check of the role names, whatever name the naming convention gave it then
_DROP_ROLES_CHECK = """
DO $$
DECLARE c text;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
             WHERE conrelid = 'api_key'::regclass AND contype = 'c' AND conname LIKE '%roles_known'
    LOOP
        EXECUTE format('ALTER TABLE api_key DROP CONSTRAINT %I', c);
    END LOOP;
END $$
"""


def upgrade() -> None:
    op.execute(_DROP_ROLES_CHECK)
    op.create_check_constraint(
        op.f("ck_api_key_roles_known"),
        "api_key",
        "roles <@ ARRAY['viewer', 'editor', 'approver', 'publisher', 'admin', 'lineage']::text[]",
    )


def downgrade() -> None:
    op.execute("DELETE FROM api_key WHERE roles @> ARRAY['lineage']::text[]")
    op.execute(_DROP_ROLES_CHECK)
    op.create_check_constraint(
        op.f("ck_api_key_roles_known"),
        "api_key",
        "roles <@ ARRAY['viewer', 'editor', 'approver', 'publisher', 'admin']::text[]",
    )
